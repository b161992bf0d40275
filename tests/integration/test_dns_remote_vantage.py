"""A remote vantage asks with dig through the one remote runner (a real sshd on loopback,
dig on the "host"), and says so when it has to fall back to getent or has neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsdash.collect.runner import LocalRunner
from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.kinds.dns import KIND
from tests.support.dns_server import Answer, DNSServer, ProbeCtx
from tests.support.sshd import Sshd

ZONE = {
    "shop.test": Answer("A", ["203.0.113.10"]),
    "moved.test": Answer("A", ["198.51.100.9"]),
    "fail.test": Answer(rcode="SERVFAIL"),
    "slow.test": Answer("A", ["203.0.113.10"], delay=2.5),
    "mail.test": Answer("MX", ["10 mx1.test."]),
}


@pytest.fixture(scope="module")
def server():
    with DNSServer(ZONE) as srv:
        yield srv


def _config(sshd: Sshd, server: DNSServer | None, query: str, extra: str = "") -> tuple:
    srv = f'server = "{server.address}"\n' if server is not None else ""
    cfg = parse_config(sshd.host_toml("web-1") + f'[[dns]]\nname = "c"\nquery = "{query}"\n{srv}'
                       f'vantage = ["web-1"]\n{extra}\n')
    return cfg.hosts[0], cfg.checks["dns"][0]


@pytest.mark.parametrize("query,timeout,state,reason", [
    ("shop.test", "3s", "ok", None),
    ("moved.test", "3s", "wrong", "answer 198.51.100.9, expected 203.0.113.10"),
    ("gone.test", "3s", "NXDOMAIN", "NXDOMAIN for gone.test"),
    ("fail.test", "3s", "SERVFAIL", "SERVFAIL from {server}"),
    ("slow.test", "1s", "timeout", "no answer within 1s from {server}"),
])
async def test_dig_over_ssh_gives_each_answer_its_state(sshd: Sshd, server, query, timeout, state, reason) -> None:
    host_cfg, check = _config(sshd, server, query, f'timeout = "{timeout}"\nexpect = ["203.0.113.10"]')
    host = SSHHost(host_cfg)
    try:
        row = await ProbeCtx(runners={"web-1": host}).probe(KIND, check, "web-1")
    finally:
        await host.close()
    assert row.state == state and row.tool == "dig" and row.vantage == "web-1"
    if reason is not None:
        assert row.reason == reason.format(server=server.address)
    if state == "ok":
        assert row.answers == ("203.0.113.10",) and row.resolve_ms is not None and row.resolve_ms < 1000
        assert row.p95_ms == row.resolve_ms and row.answer_ok is True


@pytest.fixture(scope="module")
def path_without(tmp_path_factory: pytest.TempPathFactory):
    """PATHs with every command of /usr/bin and /usr/sbin but some: {missing: PATH}."""
    out = {}
    for missing in (("dig",), ("dig", "getent")):
        d = tmp_path_factory.mktemp("bin")
        for src in (Path("/usr/bin"), Path("/usr/sbin")):
            for f in src.iterdir():
                if f.name not in missing and not (d / f.name).exists():
                    (d / f.name).symlink_to(f)
        out[missing] = str(d)
    return out


async def test_without_dig_getent_answers_and_the_reason_says_so(path_without, monkeypatch, sshd: Sshd) -> None:
    monkeypatch.setenv("PATH", path_without[("dig",)])
    # localhost is in /etc/hosts: getent answers without asking any DNS server
    _, check = _config(sshd, None, "localhost", 'timeout = "3s"')
    ctx = ProbeCtx(runners={"web-1": LocalRunner()})  # a "host" without dig: this machine, PATH cut
    row = await ctx.probe(KIND, check, "web-1")
    assert row.state == "ok" and row.tool == "getent" and row.answers == ("127.0.0.1",)
    assert "dig is not installed" in row.reason and "getent" in row.reason
    assert row.resolve_ms is not None and row.resolve_ms < 2000


@pytest.mark.parametrize("missing,query,type_,with_server,why", [
    (("dig", "getent"), "localhost", "A", False, "neither dig nor getent is installed on web-1"),
    (("dig",), "mail.test", "MX", False, "dig is not installed on web-1 (getent answers A/AAAA only)"),
    (("dig",), "shop.test", "A", True, "dig is not installed on web-1 (getent cannot ask {server})"),
])
async def test_without_the_tools_the_reason_says_which(path_without, monkeypatch, sshd: Sshd, server,
                                                       missing, query, type_, with_server, why) -> None:
    monkeypatch.setenv("PATH", path_without[missing])
    _, check = _config(sshd, server if with_server else None, query, f'type = "{type_}"')
    row = await ProbeCtx(runners={"web-1": LocalRunner()}).probe(KIND, check, "web-1")
    assert row.state == "error" and row.reason == why.format(server=server.address)
    assert {s.metric: s.value for s in row.samples(1.0, "c", {})} == {"dns.up": 0.0}
