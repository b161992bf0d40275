"""known_hosts the OpenSSH way: one host reached four ways, strict and accept-new, polled twice.

The four ways: by address and port, by an ssh_config alias with Port, by ``jump``
(to a configured host, and as ``user@host:port``), and by ProxyJump in
ssh_config. Every hop is the one test sshd, so every hop's OpenSSH name is
``[127.0.0.1]:PORT`` and accept-new must write exactly that one line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opsdash.collect import openssh
from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.errors import SSHError
from tests.support.sshd import Sshd, free_port, start_sshd

pytestmark = pytest.mark.integration

WAYS = ["address", "alias", "jump-host", "jump-string", "proxyjump"]


def ssh_config_for(sshd: Sshd, path: Path, *, jump_port: int | None = None) -> Path:
    jp = jump_port or sshd.port
    path.write_text(
        f"Host web-alias\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n  IdentityFile {sshd.client_key}\n"
        f"Host web-pj\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  ProxyJump {sshd.user}@127.0.0.1:{jp}\n"
    )
    return path


def hosts_toml(sshd: Sshd, way: str, known: Path, policy: str, ssh_config: Path, *, jump_port: int | None = None) -> str:
    jp = jump_port or sshd.port
    common = (
        f'identity_file = "{sshd.client_key}"\nknown_hosts = "{known}"\n'
        f'ssh_config = "{ssh_config}"\nhost_key_policy = "{policy}"\ntimeout = "5s"\n'
    )
    direct = f'address = "127.0.0.1"\nport = {sshd.port}\nuser = "{sshd.user}"\n'
    if way == "address":
        return f'[[hosts]]\nname = "web"\n{direct}{common}'
    if way == "alias":  # no port or user here: both come from ssh_config
        return f'[[hosts]]\nname = "web"\naddress = "web-alias"\n{common}'
    if way == "jump-host":
        return (
            f'[[hosts]]\nname = "bastion"\naddress = "127.0.0.1"\nport = {jp}\nuser = "{sshd.user}"\n{common}'
            f'[[hosts]]\nname = "web"\n{direct}jump = "bastion"\n{common}'
        )
    if way == "jump-string":
        return f'[[hosts]]\nname = "web"\n{direct}jump = "{sshd.user}@127.0.0.1:{jp}"\n{common}'
    if way == "proxyjump":
        return f'[[hosts]]\nname = "web"\naddress = "web-pj"\n{common}'
    raise AssertionError(way)


async def poll(text: str, name: str = "web") -> str:
    """One poll with fresh connections (nothing reused from an earlier poll)."""
    cfg = parse_config(text)
    made: dict[str, SSHHost] = {}

    def ssh(n: str) -> SSHHost | None:
        if cfg.host(n) is None:
            return None
        if n not in made:
            made[n] = SSHHost(cfg.host(n), jump_host=ssh)
        return made[n]

    try:
        out, rc = await ssh(name).shell_request("echo polled", 8)
        assert rc == 0
        return out
    finally:
        for h in made.values():
            await h.close()


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
@pytest.mark.parametrize("way", WAYS)
async def test_each_way_in_connects_twice_and_known_hosts_holds_one_openssh_line(
    sshd: Sshd, tmp_path: Path, way: str, policy: str
) -> None:
    known = tmp_path / "known_hosts"
    expected = f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"
    if policy == "strict":
        known.write_text(expected + "\n")
    text = hosts_toml(sshd, way, known, policy, ssh_config_for(sshd, tmp_path / "ssh_config"))
    assert (await poll(text)).strip() == "polled"
    assert known.read_text().splitlines() == [expected]
    assert (await poll(text)).strip() == "polled"  # the second poll checks what the first wrote
    assert known.read_text().splitlines() == [expected]


@pytest.mark.parametrize("way", WAYS)
async def test_unknown_host_under_strict_names_the_hop_and_its_openssh_name(
    sshd: Sshd, tmp_path: Path, way: str
) -> None:
    known = tmp_path / "known_hosts"  # missing: nothing is known
    text = hosts_toml(sshd, way, known, "strict", ssh_config_for(sshd, tmp_path / "ssh_config"))
    with pytest.raises(SSHError) as e:
        await poll(text)
    assert e.value.state == "host-key-unknown"
    msg = str(e.value)
    assert f"[127.0.0.1]:{sshd.port}" in msg and str(known) in msg and "SHA256:" in msg
    if way == "jump-host":
        assert msg.startswith("via jump host bastion: ")
    elif way in ("jump-string", "proxyjump"):
        assert msg.startswith(f"jump host 127.0.0.1:{sshd.port}: ")
    assert not known.exists()


def other_key(tmp_path: Path) -> str:
    k = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    return " ".join(k.with_suffix(".pub").read_text().split()[:2])


@pytest.mark.parametrize("way", ["alias", "jump-string", "proxyjump"])
async def test_changed_key_shows_two_different_fingerprints_and_blames_the_hop_that_changed(
    sshd: Sshd, tmp_path: Path, way: str
) -> None:
    # The jump hop has its own port here, so it can carry the changed key while the
    # target keeps the right one: the error must name the jump hop, not the target.
    fwd = start_port_forward(sshd.port)
    try:
        known = tmp_path / "known_hosts"
        bad = other_key(tmp_path)
        hop_port = fwd.port if way != "alias" else sshd.port
        known.write_text(f"[127.0.0.1]:{hop_port} {bad}\n[127.0.0.1]:{sshd.port} {sshd.host_pub}\n"
                         if way != "alias" else f"[127.0.0.1]:{sshd.port} {bad}\n")
        before = known.read_text()
        cfgp = ssh_config_for(sshd, tmp_path / "ssh_config", jump_port=hop_port)
        text = hosts_toml(sshd, way, known, "accept-new", cfgp, jump_port=hop_port)
        with pytest.raises(SSHError) as e:
            await poll(text)
        msg = str(e.value)
        assert e.value.state == "host-key-mismatch"
        assert f"HOST KEY CHANGED for [127.0.0.1]:{hop_port}" in msg
        fps = [w.strip(",;") for w in msg.split() if w.startswith("SHA256:")]
        assert len(fps) == 2 and fps[0] != fps[1], msg
        if way != "alias":
            assert msg.startswith(f"jump host 127.0.0.1:{hop_port}: ")
        assert known.read_text() == before  # never "fixed" behind the user's back
    finally:
        fwd.stop()


async def test_a_line_for_the_alias_or_for_port_22_does_not_vouch_for_the_effective_host_and_port(
    sshd: Sshd, tmp_path: Path
) -> None:
    # The old accept-new wrote "web-alias <key>"; OpenSSH never looks that name up for
    # HostName 127.0.0.1 Port N, and a key for 127.0.0.1 (port 22) is another server.
    known = tmp_path / "known_hosts"
    bad = other_key(tmp_path)
    known.write_text(f"web-alias {bad}\n127.0.0.1 {bad}\n")
    text = hosts_toml(sshd, "alias", known, "accept-new", ssh_config_for(sshd, tmp_path / "ssh_config"))
    assert (await poll(text)).strip() == "polled"
    assert known.read_text().splitlines()[-1] == f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"
    assert (await poll(text)).strip() == "polled"
    assert len(known.read_text().splitlines()) == 3


async def test_hashed_known_hosts_line_is_matched(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert known.read_text().startswith("|1|")
    text = hosts_toml(sshd, "alias", known, "strict", ssh_config_for(sshd, tmp_path / "ssh_config"))
    assert (await poll(text)).strip() == "polled"


async def test_host_key_alias_is_the_known_hosts_name(sshd: Sshd, tmp_path: Path) -> None:
    cfgp = tmp_path / "ssh_config"
    cfgp.write_text(f"Host web-alias\n  HostName 127.0.0.1\n  Port {sshd.port}\n  HostKeyAlias web-key\n")
    known = tmp_path / "known_hosts"
    text = hosts_toml(sshd, "alias", known, "accept-new", cfgp)
    assert (await poll(text)).strip() == "polled"
    assert known.read_text().splitlines() == [f"web-key {sshd.host_pub}"]  # as OpenSSH: the alias, no port
    assert (await poll(text.replace('"accept-new"', '"strict"'))).strip() == "polled"


async def test_revoked_key_is_refused_even_under_accept_new(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"@revoked * {sshd.host_pub}\n")
    text = hosts_toml(sshd, "address", known, "accept-new", ssh_config_for(sshd, tmp_path / "ssh_config"))
    with pytest.raises(SSHError) as e:
        await poll(text)
    assert e.value.state == "host-key-mismatch" and "@revoked" in str(e.value)
    assert known.read_text() == f"@revoked * {sshd.host_pub}\n"


def test_cert_authority_line_is_found_under_the_openssh_name(tmp_path: Path) -> None:
    ca = other_key(tmp_path)
    known = openssh.load_known_hosts(None)
    known.load(f"@cert-authority *.example,[10.0.0.7]:2222 {ca}\n")
    assert openssh.vouches(openssh.lookup(known, "[10.0.0.7]:2222"))
    assert openssh.lookup(known, "[10.0.0.7]:2222")[1] and not openssh.lookup(known, "[10.0.0.7]:2222")[0]
    assert not openssh.vouches(openssh.lookup(known, "10.0.0.7"))  # another port is another server
    assert openssh.vouches(openssh.lookup(known, "db.example"))


async def test_connection_refused_says_the_effective_address_and_port(sshd: Sshd, tmp_path: Path) -> None:
    dead = free_port()
    cfgp = tmp_path / "ssh_config"
    cfgp.write_text(f"Host web3\n  HostName 127.0.0.1\n  Port {dead}\n")
    text = f'[[hosts]]\nname = "web3"\nknown_hosts = "{tmp_path / "kh"}"\nssh_config = "{cfgp}"\n'
    with pytest.raises(SSHError) as e:
        await poll(text, "web3")
    assert e.value.state == "unreachable"
    assert str(e.value) == f"connection refused by 127.0.0.1:{dead}"


def test_jump_specs_parse_as_proxyjump_does() -> None:
    J = openssh.JumpSpec
    assert openssh.parse_jumps("root@127.0.0.1:31022") == [J("root", "127.0.0.1", 31022)]
    assert openssh.parse_jumps("a,u@b:2,[::1]:3,ssh://c@d") == [
        J(None, "a", None), J("u", "b", 2), J(None, "::1", 3), J("c", "d", None)]


# --- a second port onto the same sshd, for the hop that must differ ------------------


class _Forward:
    def __init__(self, port: int, proc: subprocess.Popen):
        self.port, self.proc = port, proc

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def start_port_forward(target: int) -> _Forward:
    """A plain TCP relay on another loopback port (the same sshd, reached under another name)."""
    import sys

    from tests.support.sshd import wait_port

    port = free_port()
    code = (
        "import asyncio,sys\n"
        "async def pipe(r,w):\n"
        "    try:\n"
        "        while (d:=await r.read(65536)): w.write(d); await w.drain()\n"
        "    finally: w.close()\n"
        "async def h(r,w):\n"
        f"    r2,w2=await asyncio.open_connection('127.0.0.1',{target})\n"
        "    await asyncio.gather(pipe(r,w2),pipe(r2,w),return_exceptions=True)\n"
        "async def main():\n"
        f"    s=await asyncio.start_server(h,'127.0.0.1',{port})\n"
        "    await s.serve_forever()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    wait_port(port)
    return _Forward(port, proc)


async def test_a_jump_host_that_cannot_reach_the_target_names_both(sshd: Sshd, tmp_path: Path) -> None:
    dead = free_port()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    text = (
        f'[[hosts]]\nname = "web"\naddress = "127.0.0.1"\nport = {dead}\nuser = "{sshd.user}"\n'
        f'jump = "{sshd.user}@127.0.0.1:{sshd.port}"\nidentity_file = "{sshd.client_key}"\n'
        f'known_hosts = "{known}"\nssh_config = "{tmp_path / "none"}"\ntimeout = "5s"\n'
    )
    with pytest.raises(SSHError) as e:
        await poll(text)
    assert e.value.state == "unreachable"
    assert str(e.value).startswith(f"via jump host 127.0.0.1:{sshd.port} cannot reach 127.0.0.1:{dead}"), str(e.value)


@pytest.fixture(scope="module")
def cert_sshd(tmp_path_factory: pytest.TempPathFactory):
    """A second sshd whose host key is also certified by a CA (for @cert-authority)."""
    base = tmp_path_factory.mktemp("cert-sshd")
    ca = base / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    server = start_sshd(base / "sshd", host_ca=ca)
    yield server, " ".join(ca.with_suffix(".pub").read_text().split()[:2])
    server.stop()


@pytest.mark.parametrize("way", ["address", "proxyjump"])
async def test_a_cert_authority_line_vouches_for_a_certified_host(cert_sshd, tmp_path: Path, way: str) -> None:
    server, ca_pub = cert_sshd
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority [127.0.0.1]:{server.port} {ca_pub}\n")
    text = hosts_toml(server, way, known, "strict", ssh_config_for(server, tmp_path / "ssh_config"))
    assert (await poll(text)).strip() == "polled"
    # Another CA's line vouches for nothing this host can show: refused, and said so.
    known.write_text(f"@cert-authority [127.0.0.1]:{server.port} {other_key(tmp_path)}\n")
    with pytest.raises(SSHError) as e:
        await poll(text)
    assert e.value.state == "host-key-mismatch" and "@cert-authority" in str(e.value), str(e.value)
    assert "presented a certificate from CA SHA256:" in str(e.value)


async def test_accept_new_records_a_certified_hosts_plain_key(cert_sshd, tmp_path: Path) -> None:
    server, _ = cert_sshd
    known = tmp_path / "known_hosts"
    text = hosts_toml(server, "alias", known, "accept-new", ssh_config_for(server, tmp_path / "ssh_config"))
    assert (await poll(text)).strip() == "polled"
    assert (await poll(text)).strip() == "polled"
    assert known.read_text().splitlines() == [f"[127.0.0.1]:{server.port} {server.host_pub}"]
