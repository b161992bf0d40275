"""The security probe against a real sshd: weak settings, an unexpected listener,
failed logins counted from the auth log it writes, and no firewall in a netns."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path

import asyncssh
import pytest

from opsdash.collect.collector import Collector
from opsdash.kinds.sections import run_script
from opsdash.collect.runner import LocalRunner
from opsdash.config import parse_config
from opsdash.kinds import security
from tests.support.sshd import SSHD, free_port, keygen, wait_port


def _stamp_lines(src, dst: Path, pid: int) -> None:
    """What rsyslog does for auth.log: an RFC 3339 time stamp, host and tag before each line."""
    with open(dst, "a") as out:
        for raw in iter(src.readline, b""):
            now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            out.write(f"{now} testhost sshd[{pid}]: {raw.decode(errors='replace').rstrip()}\n")
            out.flush()


@pytest.fixture
def weak_sshd(tmp_path: Path):
    host_key, client_key = tmp_path / "host_ed25519", tmp_path / "client_ed25519"
    keygen(host_key)
    keygen(client_key)
    auth = tmp_path / "authorized_keys"
    shutil.copy(f"{client_key}.pub", auth)
    os.chmod(auth, 0o600)
    port = free_port()
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {tmp_path / 'sshd.pid'}
AuthorizedKeysFile {auth}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
X11Forwarding no
StrictModes no
UsePAM no
MaxStartups 200:30:300
LogLevel INFO
SetEnv HOME={tmp_path}
""")
    Path("/run/sshd").mkdir(exist_ok=True)
    log = tmp_path / "auth.log"
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    th = threading.Thread(target=_stamp_lines, args=(proc.stderr, log, proc.pid), daemon=True)
    th.start()
    wait_port(port)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    known = tmp_path / "known_hosts"
    pub = (tmp_path / "host_ed25519.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    yield {"port": port, "cfg": cfg, "log": log, "key": client_key, "known": known, "user": user, "dir": tmp_path}
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(10)
    th.join(5)
    proc.stderr.close()


async def _fail_logins(port: int, n: int) -> None:
    async def one(i: int) -> None:
        try:
            async with asyncssh.connect("127.0.0.1", port, username=f"nobody{i % 3}", password="wrong",
                                        known_hosts=None, client_keys=None, preferred_auth="password",
                                        agent_path=None, login_timeout=10):
                pass
        except (asyncssh.PermissionDenied, asyncssh.DisconnectError):
            pass

    await asyncio.gather(*(one(i) for i in range(n)))


def test_weak_sshd_an_unexpected_listener_and_failed_logins_are_flagged(weak_sshd) -> None:
    s = weak_sshd
    asyncio.run(_fail_logins(s["port"], 20))
    odd = socket.socket()
    odd.bind(("127.0.0.1", 0))
    odd.listen()
    odd_port = odd.getsockname()[1]
    toml = f"""[[hosts]]
name = "weak"
address = "127.0.0.1"
port = {s['port']}
user = "{s['user']}"
identity_file = "{s['key']}"
known_hosts = "{s['known']}"
ssh_config = "{s['dir'] / 'no-ssh-config'}"
probes = ["security"]
expect_listen = ["{s['port']}/tcp"]
sshd_config = "{s['cfg']}"
auth_log = "{s['log']}"
"""
    try:
        for _ in range(50):  # the log writer thread may lag the last disconnect a little
            if s["log"].read_text().count("Failed password") >= 20:
                break
            threading.Event().wait(0.1)
        col = Collector(parse_config(toml, "t.toml"))
        asyncio.run(col.snapshot_once(probes={"security"}))
        st = getattr(col.hosts["weak"].row("security"), "security", None)
    finally:
        odd.close()
    assert st is not None, col.hosts["weak"].error
    assert st.weak == ("passwordauthentication yes",)
    assert any(u.startswith(f"{odd_port}/tcp") for u in st.unexpected)
    assert f"{s['port']}/tcp" not in {u.split()[0] for u in st.unexpected}
    assert 18 <= st.failed_logins_per_h <= 22, s["log"].read_text()[-2000:]
    samples = {x.metric: x.value for x in st.samples(0.0, "weak")}
    assert samples["security.sshd_weak_settings"] == 1
    assert samples["security.unexpected_listeners"] >= 1


def _netns_ok() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("nft") is not None


class _InNetns(LocalRunner):
    """The one local runner, its whole script run inside a network namespace."""

    def __init__(self, ns: str):
        super().__init__()
        self.ns = ns

    async def run(self, command, **kw):
        return await super().run(f"ip netns exec {self.ns} {command}", **kw)


@pytest.mark.skipif(not _netns_ok(), reason="needs root, ip netns and nft (apt-get install nftables iproute2)")
def test_an_empty_nftables_ruleset_in_a_netns_is_no_firewall() -> None:
    ns = f"opsdash-sec-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"ip netns add: {r.stderr.strip()}")
    try:
        cfg = security.SecurityConfig()
        st = security.read(cfg, asyncio.run(run_script(_InNetns(ns), security.script(cfg), timeout=30)))
        assert st.firewall == "" and "no firewall" in st.issues
        assert {x.metric: x.value for x in st.samples(0.0, "ns")}["security.firewall_active"] == 0.0
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


class _AsNobody(LocalRunner):
    """The one local runner, its script run as an unprivileged user (no sudo rights)."""

    async def run(self, command, **kw):
        return await super().run(f"setpriv --reuid=65534 --regid=65534 --clear-groups {command}", **kw)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("nft") is None,
                    reason="needs root (to drop to nobody), setpriv and nft")
def test_a_refused_command_is_one_line_naming_it_and_the_other_figures_still_show() -> None:
    cfg = security.SecurityConfig(expect_listen=("22/tcp",))
    st = security.read(cfg, asyncio.run(run_script(_AsNobody(), security.script(cfg), timeout=30)))
    denied = [e for e in st.errors if e.startswith("nft list ruleset: permission denied")]
    assert len(denied) == 1, st.errors
    assert all("\n" not in e for e in st.errors)
    assert st.unexpected is not None and st.extra_uid0 is not None  # ss and /etc/passwd need no root
    assert st.days_since_update is not None
