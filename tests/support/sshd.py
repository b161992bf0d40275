"""A real OpenSSH sshd on 127.0.0.1 with throwaway keys, for integration tests.

Started by the tests, stopped by PID. .ci/run installs openssh-server; the
tests install nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class Sshd:
    port: int
    pid: int
    dir: Path
    client_key: Path
    known_hosts: Path
    user: str
    host_pub: str
    proc: subprocess.Popen | None = None

    def host_toml(self, name: str, **extra: object) -> str:
        """A [[hosts]] entry for this sshd."""
        lines = [
            "[[hosts]]",
            f'name = "{name}"',
            'address = "127.0.0.1"',
            f"port = {extra.pop('port', self.port)}",
            f'user = "{self.user}"',
            f'identity_file = "{self.client_key}"',
            f'known_hosts = "{extra.pop("known_hosts", self.known_hosts)}"',
            f'ssh_config = "{self.dir / "no-ssh-config"}"',
        ]
        for k, v in extra.items():
            if isinstance(v, str):
                lines.append(f'{k} = "{v}"')
            elif isinstance(v, (list, tuple)):
                lines.append(f"{k} = [" + ", ".join(f'"{x}"' for x in v) + "]")
            else:
                lines.append(f"{k} = {v}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.proc is not None:
            self.proc.wait(10)



def start_sshd(
    base: Path, max_sessions: int = 50, env: dict[str, str] | None = None, host_ca: Path | None = None
) -> Sshd:
    """``env``: more variables for every session (sshd's SetEnv overrides even PATH),
    e.g. a PATH that starts with a directory of hostile fake tools, a private TMPDIR.
    ``host_ca``: a CA's private key; the host key is then also offered as a
    certificate from that CA, for the principal 127.0.0.1."""
    base.mkdir(parents=True, exist_ok=True)
    host_key = base / "host_ed25519"
    client_key = base / "client_ed25519"
    keygen(host_key)
    keygen(client_key)
    host_cert = ""
    if host_ca is not None:
        subprocess.run(["ssh-keygen", "-q", "-s", str(host_ca), "-I", "opsdash-test-host", "-h", "-n", "127.0.0.1",
                        f"{host_key}.pub"], check=True, capture_output=True)
        host_cert = f"HostCertificate {host_key}-cert.pub\n"
    auth = base / "authorized_keys"
    shutil.copy(f"{client_key}.pub", auth)
    os.chmod(auth, 0o600)
    port = free_port()
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    cfg = base / "sshd_config"
    cfg.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
{host_cert}PidFile {base / 'sshd.pid'}
AuthorizedKeysFile {auth}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
StrictModes no
UsePAM no
MaxStartups 200:30:300
MaxSessions {max_sessions}
LogLevel ERROR
AcceptEnv LANG LC_*
# Sessions get a clean HOME: this machine's root ~/.bashrc runs `pyenv init`,
# which bash sources for every command sshd starts (seconds under load).
SetEnv HOME={base / 'home'}{"".join(f" {k}={v}" for k, v in (env or {}).items())}
Subsystem sftp internal-sftp
"""
    )
    (base / "home").mkdir(exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation dir, needed when run as root
    log = open(base / "sshd.log", "wb")
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )
    log.close()  # the child has its own copy
    wait_port(port)
    host_pub = (base / "host_ed25519.pub").read_text().split()
    known = base / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    return Sshd(port, proc.pid, base, client_key, known, user, f"{host_pub[0]} {host_pub[1]}", proc)
