"""The user's ssh-agent never reaches a monitored host, whatever ssh_config says."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from tests.support.sshd import Sshd

pytestmark = pytest.mark.integration


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd):
    """A real ssh-agent holding the test key, as SSH_AUTH_SOCK; stopped by PID."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("via", ["direct", "proxyjump"])
async def test_forward_agent_yes_in_ssh_config_does_not_forward_the_agent(
    sshd: Sshd, tmp_path: Path, agent: Path, via: str
) -> None:
    ssh_config = tmp_path / "ssh_config"
    jump = f"  ProxyJump {sshd.user}@127.0.0.1:{sshd.port}\n" if via == "proxyjump" else ""
    ssh_config.write_text(
        f"Host web\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n{jump}"
        "Host *\n  ForwardAgent yes\n"
    )
    # No identity_file: the agent is what logs in, and still must not be forwarded.
    cfg = parse_config(f'[[hosts]]\nname = "web"\nknown_hosts = "{sshd.known_hosts}"\nssh_config = "{ssh_config}"\n')
    host = SSHHost(cfg.host("web"))
    try:
        probe = 'echo "sock=${SSH_AUTH_SOCK:-unset}"; ls /tmp/ssh-* 2>/dev/null | wc -l'
        out, rc = await host.shell_request(probe, 10)
        assert rc == 0 and out.splitlines()[0] == "sock=unset", out
        res = await host.run(probe, timeout=10)  # exec channels too
        assert res.stdout.splitlines()[0] == "sock=unset", res.stdout
    finally:
        await host.close()
