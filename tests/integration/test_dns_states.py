"""Each answer a real DNS server gives (right, wrong, NXDOMAIN, SERVFAIL, empty, late) is
its own state, reason and figures: the DNS kind's local probe against dnslib on loopback."""

from __future__ import annotations

import time

import pytest

from opsdash.config import parse_config
from opsdash.kinds.dns import KIND, RESOLV_CONF, DNSCheck, DNSKind
from tests.support.dns_server import Answer, DNSServer, ProbeCtx

ZONE = {
    "shop.test": Answer("A", ["203.0.113.10"]),
    "moved.test": Answer("A", ["198.51.100.9"]),
    "two.test": Answer("A", ["203.0.113.10", "203.0.113.11"]),
    "fail.test": Answer(rcode="SERVFAIL"),
    "refused.test": Answer(rcode="REFUSED"),
    "slow.test": Answer("A", ["203.0.113.10"], delay=1.5),
    "www.test": Answer("CNAME", ["shop.test."]),
    "v6.test": Answer("AAAA", ["2001:db8:0:0::1"]),
    "mail.test": Answer("MX", ["10 MX1.test.", "20 mx2.test."]),
    "txt.test": Answer("TXT", ['"v=spf1 -all"', '"google-site-verification=abc"']),
    "big.test": Answer("TXT", [f'"record {i} ' + "x" * 90 + '"' for i in range(8)]),  # > 512 bytes
}


@pytest.fixture(scope="module")
def server():
    with DNSServer(ZONE) as srv:
        yield srv


def check(server: DNSServer, **kw) -> DNSCheck:
    """A check through the config, as a user writes it."""
    lines = ["[[dns]]", f'name = "{kw.pop("name", "c")}"', f'server = "{server.address}"']
    for k, v in kw.items():
        lines.append(f"{k} = " + (f'"{v}"' if isinstance(v, str) else str(v).replace("'", '"')))
    return parse_config("\n".join(lines) + "\n").checks["dns"][0]


async def probe(server: DNSServer, **kw):
    return await ProbeCtx().probe(KIND, check(server, **kw))


async def test_the_right_answer_is_ok_with_its_time(server) -> None:
    row = await probe(server, query="shop.test", expect=["203.0.113.10"])
    assert (row.state, row.rcode, row.answers, row.answer_ok, row.up) == ("ok", "NOERROR", ("203.0.113.10",), True, True)
    assert 0 < row.resolve_ms < 500 and row.p50_ms == row.p95_ms == row.resolve_ms
    assert row.server == server.address and row.tool == "dnspython"
    assert KIND.state(row.to_json()) == ("ok", False)
    assert KIND.handover_line("c", "local", row.to_json()) is None
    s = {x.metric: x.value for x in row.samples(1.0, "c", {"vantage": "local"})}
    assert s["dns.up"] == 1 and s["dns.answer_ok"] == 1 and s["dns.resolve_p95_ms"] == pytest.approx(row.resolve_ms, abs=0.01)


async def test_a_wrong_answer_says_what_came_and_what_was_expected(server) -> None:
    row = await probe(server, query="moved.test", expect=["203.0.113.10"])
    assert row.state == "wrong" and row.reason == "answer 198.51.100.9, expected 203.0.113.10"
    assert KIND.state(row.to_json()) == ("wrong", True)
    s = {x.metric: x.value for x in row.samples(1.0, "c", {})}
    assert s["dns.up"] == 1 and s["dns.answer_ok"] == 0  # it resolves, to the wrong place
    assert KIND.handover_line("shop-a", "local", row.to_json()) == (
        "DNS shop-a from local: answer 198.51.100.9, expected 203.0.113.10")


async def test_an_extra_address_is_a_wrong_answer_too(server) -> None:
    row = await probe(server, query="two.test", expect=["203.0.113.10"])
    assert row.state == "wrong" and row.reason == "answer 203.0.113.10 + 203.0.113.11, expected 203.0.113.10"
    assert (await probe(server, query="two.test", expect=["203.0.113.11", "203.0.113.10"])).state == "ok"


async def test_nxdomain_names_the_query(server) -> None:
    row = await probe(server, query="gone.test", expect=["203.0.113.10"])
    assert (row.state, row.reason, row.rcode) == ("NXDOMAIN", "NXDOMAIN for gone.test", "NXDOMAIN")
    s = {x.metric: x.value for x in row.samples(1.0, "c", {})}
    assert s["dns.up"] == 0 and "dns.answer_ok" not in s  # one alert: the name is gone
    assert s["dns.resolve_ms"] >= 0  # an NXDOMAIN came back, in a time


@pytest.mark.parametrize("name,word", [("fail.test", "SERVFAIL"), ("refused.test", "REFUSED")])
async def test_servfail_and_refused_name_the_server(server, name: str, word: str) -> None:
    row = await probe(server, query=name)
    assert row.state == word and row.reason == f"{word} from {server.address}"
    assert {x.metric: x.value for x in row.samples(1.0, "c", {})}["dns.up"] == 0


async def test_an_empty_answer_is_nodata(server) -> None:
    row = await probe(server, query="shop.test", type="AAAA")
    assert row.state == "NODATA" and row.reason == "no AAAA record for shop.test (NOERROR, empty answer)"


async def test_a_late_answer_past_the_timeout_is_a_timeout(server) -> None:
    start = time.monotonic()
    row = await probe(server, query="slow.test", timeout="500ms")
    assert time.monotonic() - start < 1.2
    assert (row.state, row.reason, row.rcode, row.resolve_ms) == (
        "timeout", f"no answer within 0.5s from {server.address}", None, None)
    assert {x.metric: x.value for x in row.samples(1.0, "c", {})} == {"dns.up": 0.0}


async def test_a_late_answer_within_the_timeout_shows_its_time(server) -> None:
    row = await probe(server, query="slow.test", timeout="5s")
    assert row.state == "ok" and 1400 < row.resolve_ms < 3000
    assert row.reason.startswith("203.0.113.10 in 1")


async def test_types_are_compared_as_written_in_the_config(server) -> None:
    assert (await probe(server, query="www.test", type="CNAME", expect=["SHOP.test."])).state == "ok"
    row = await probe(server, query="www.test", type="A", expect=["203.0.113.10"])  # the chain's end
    assert row.state == "ok" and row.answers == ("203.0.113.10",)
    assert (await probe(server, query="v6.test", type="AAAA", expect=["2001:db8::1"])).state == "ok"
    row = await probe(server, query="mail.test", type="MX", expect=["10 mx1.test", "20 mx2.test."])
    assert row.state == "ok" and row.answers == ("10 mx1.test", "20 mx2.test")
    row = await probe(server, query="txt.test", type="TXT", expect=["v=spf1 -all"])  # TXT: contains
    assert row.state == "ok" and len(row.answers) == 2


async def test_p50_and_p95_come_from_the_recent_probes_kept_in_the_row(server) -> None:
    ctx = ProbeCtx()
    c = check(server, query="shop.test")
    key = ("dns", "c", "local")
    ctx.rows[key] = {"recent_ms": [100.0] * 18 + [900.0]}  # as a restarted collector reads it back
    row = await ctx.probe(KIND, c)
    assert len(row.recent_ms) == 20 and row.recent_ms[:19] == tuple([100.0] * 18 + [900.0])
    assert row.p50_ms == 100.0 and 100 < row.p95_ms <= 900
    for _ in range(25):
        row = await ctx.probe(KIND, c)
    assert len(row.recent_ms) == 20 and row.p95_ms < 100  # the old slow times have left the window


async def test_the_default_resolver_is_read_from_resolv_conf_through_read_file() -> None:
    kind = DNSKind()  # its own cache of resolv.conf
    ctx = ProbeCtx(files={RESOLV_CONF: b"# a comment\nsearch example.com\nnameserver 127.0.0.1\n"})
    c = parse_config('[[dns]]\nname = "d"\nquery = "shop.test"\ntimeout = "1s"\n').checks["dns"][0]
    row = await ctx.probe(kind, c)
    await ctx.probe(kind, c)
    assert ctx.reads == [RESOLV_CONF]  # read once, then kept
    assert row.server.startswith("127.0.0.1:53 (system)") or row.server == "127.0.0.1:53"
    assert row.state != "ok" or row.rcode is not None  # whatever port 53 says, it is a state with a reason
    assert row.reason


async def test_a_closed_port_is_connection_refused_at_once() -> None:
    from tests.support.sshd import free_port

    port = free_port()
    c = parse_config(f'[[dns]]\nname = "d"\nquery = "shop.test"\nserver = "127.0.0.1:{port}"\ntimeout = "1s"\n'
                     ).checks["dns"][0]
    start = time.monotonic()
    row = await ProbeCtx().probe(KIND, c)
    assert row.state == "error" and row.reason == f"no DNS reply from 127.0.0.1:{port}: Connection refused"
    assert time.monotonic() - start < 0.5  # the port's ICMP answer, not the timeout
    assert {x.metric: x.value for x in row.samples(1.0, "d", {})}["dns.up"] == 0


async def test_a_truncated_udp_reply_is_asked_again_over_tcp(server) -> None:
    row = await probe(server, query="big.test", type="TXT", expect=["record 7 " + "x" * 90])
    assert row.state == "ok" and len(row.answers) == 8
    assert [p for n, t, p in server.queries if n == "big.test"][-2:] == ["udp", "tcp"]
