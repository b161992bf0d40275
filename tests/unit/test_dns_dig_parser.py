"""dig's and getent's output read into replies (captured from dig 9.18 against the test
server), and garbage that never raises anything but ParseError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdash.errors import ParseError
from opsdash.kinds import dns as dns_kind
from opsdash.parsers.dig import parse_dig, parse_getent
from tests.support import FIXTURES

A_TWO = """
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +tries=1 +time=2 @127.0.0.1 -p 38503 -t A -q shop.test
; (1 server found)
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 41538
;; flags: qr aa rd ra ad; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;shop.test.\t\t\tIN\tA

;; ANSWER SECTION:
shop.test.\t\t60\tIN\tA\t203.0.113.10
shop.test.\t\t60\tIN\tA\t203.0.113.11

;; Query time: 16 msec
;; SERVER: 127.0.0.1#38503(127.0.0.1) (UDP)
;; WHEN: Wed Dec 02 07:09:16 UTC 2026
;; MSG SIZE  rcvd: 59

"""

SERVFAIL = """
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +tries=1 +time=2 @127.0.0.1 -p 38503 -t A -q fail.test
; (1 server found)
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 55309
;; flags: qr aa rd ra ad; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;fail.test.\t\t\tIN\tA

;; Query time: 0 msec
;; SERVER: 127.0.0.1#38503(127.0.0.1) (UDP)
;; WHEN: Wed Dec 02 07:09:16 UTC 2026
;; MSG SIZE  rcvd: 27
"""

TIMED_OUT = """;; communications error to 127.0.0.1#38503: timed out

; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +tries=1 +time=1 @127.0.0.1 -p 38503 -t A -q slow.test
; (1 server found)
;; global options: +cmd
;; no servers could be reached
"""

OLD_TIMED_OUT = """
; <<>> DiG 9.11.3-1ubuntu1 <<>> +tries=1 +time=1 @192.0.2.1 shop.test
; (1 server found)
;; global options: +cmd
;; connection timed out; no servers could be reached
"""

REFUSED_CONN = """;; communications error to 127.0.0.1#38503: connection refused

; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +tries=1 +time=1 @127.0.0.1 -p 38503 -t A -q slow.test
; (1 server found)
;; global options: +cmd
;; no servers could be reached
"""

TXT_MX = """
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 3697
;; flags: qr aa rd ra ad; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 0

;; ANSWER SECTION:
txt.test.\t\t60\tIN\tTXT\t"v=spf1 -all" "more\\"x"
cname.test.\t\t60\tIN\tCNAME\tshop.test.

;; Query time: 36 msec
;; SERVER: 127.0.0.1#56603(127.0.0.1) (TCP)
"""


def test_a_noerror_reply_gives_its_records_time_and_server() -> None:
    r = parse_dig(A_TWO)
    assert r.status == "NOERROR" and r.error is None
    assert [(x.name, x.ttl, x.rtype, x.data) for x in r.records] == [
        ("shop.test.", 60, "A", "203.0.113.10"), ("shop.test.", 60, "A", "203.0.113.11")]
    assert r.query_ms == 16.0 and r.server == "127.0.0.1#38503"


def test_servfail_has_a_status_and_no_records() -> None:
    r = parse_dig(SERVFAIL)
    assert (r.status, r.records, r.query_ms) == ("SERVFAIL", (), 0.0)


@pytest.mark.parametrize("text,error,timed_out", [
    (TIMED_OUT, "timed out", True),
    (OLD_TIMED_OUT, "timed out", True),
    (REFUSED_CONN, "connection refused", False),
])
def test_no_reply_is_an_error_not_a_status(text: str, error: str, timed_out: bool) -> None:
    r = parse_dig(text)
    assert r.status is None and r.error == error and r.timed_out is timed_out


def test_txt_strings_are_joined_and_unescaped_as_the_local_vantage_reads_them() -> None:
    r = parse_dig(TXT_MX)
    assert [dns_kind._norm(x.rtype, x.data) for x in r.records] == ['v=spf1 -allmore"x', "shop.test"]


def test_text_that_is_not_dig_output_names_why() -> None:
    with pytest.raises(ParseError, match="no reply header"):
        parse_dig("bash: dig: command not found\n")
    with pytest.raises(ParseError, match="not a resource record"):
        parse_dig(";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; ANSWER SECTION:\nrubbish\n")


def test_getent_ahosts_gives_distinct_addresses_in_order() -> None:
    text = ("203.0.113.10    STREAM shop.test\n203.0.113.10    DGRAM  \n203.0.113.10    RAW    \n"
            "2001:db8::1     STREAM \n")
    assert parse_getent(text) == ("203.0.113.10", "2001:db8::1")
    with pytest.raises(ParseError, match="not an address line"):
        parse_getent("getent: command not found\n")


@pytest.mark.parametrize("name,status,data,error", [
    ("dig-a-cname-chain.txt", "NOERROR", ["CNAME shop.test.", "A 203.0.113.10", "A 203.0.113.11"], None),
    ("dig-mx.txt", "NOERROR", ["MX 10 mx1.test.", "MX 20 mx2.test."], None),
    ("dig-txt-tcp.txt", "NOERROR", ['TXT "v=spf1 -all"', 'TXT "a" "b\\"c"'], None),
    ("dig-servfail.txt", "SERVFAIL", [], None),
    ("dig-nxdomain.txt", "NXDOMAIN", [], None),
    ("dig-timed-out.txt", None, [], "timed out"),
    ("dig-connection-refused.txt", None, [], "connection refused"),
])
def test_captured_dig_replies(name: str, status, data, error) -> None:
    r = parse_dig((FIXTURES / name).read_text())
    assert (r.status, [f"{x.rtype} {x.data}" for x in r.records], r.error) == (status, data, error)
    assert (r.query_ms is not None) == (status is not None)


def test_captured_getent_ahosts() -> None:
    assert parse_getent((FIXTURES / "getent-ahosts-localhost.txt").read_text()) == ("127.0.0.1",)


# --- hostile output ------------------------------------------------------------------------

_lines = st.lists(st.one_of(
    st.text(max_size=80),
    st.sampled_from([";; ANSWER SECTION:", ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 7", "",
                     ";; Query time: 99999999999999999999 msec", ";; SERVER: #(", ";; communications error to : x",
                     "x. 4294967295 IN A 1.2.3.4", "x. 1 IN TXT \"\\999\\", "x. 1 IN MX notanumber host.",
                     "x. 1 IN AAAA ::zz", "dig: couldn't get address for 'nope': not found"]),
), max_size=30).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(_lines)
def test_garbage_dig_output_raises_only_parse_error(text: str) -> None:
    try:
        parse_dig(text)
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_garbage_getent_output_raises_only_parse_error(text: str) -> None:
    try:
        parse_getent(text)
    except ParseError:
        pass


_CHECKS = [dns_kind.DNSCheck(name="c", query="shop.test", type=t, expect=e)
           for t, e in [("A", ("203.0.113.10",)), ("AAAA", None), ("MX", ("10 mail.test",)), ("TXT", ("v",)),
                        ("CNAME", None)]]


class _Sec:
    def __init__(self, rc: int, out: str, err: str):
        self.rc, self.out, self.err = rc, out, err


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_CHECKS), st.sampled_from(["dig", "getent", "nodig", "other"]),
       st.integers(-1, 200), _lines, st.text(max_size=50),
       st.sampled_from(["", "1700000000000000000", "x", "1700000000000000000\n"]))
def test_garbage_from_a_vantage_is_always_a_row_with_a_reason(check, name, rc, out, err, stamp) -> None:
    sections = {name: _Sec(rc, out, err), "t0": _Sec(0, stamp, ""), "t1": _Sec(0, "1700000000000000001", "")}
    row = dns_kind.read(check, "web-1", sections, previous={"recent_ms": ["x", 1e400, -1, 3.0]}, t=1.0)
    assert row.reason and row.state
    assert row.to_json()["recent_ms"] in ([], [3.0]) or row.resolve_ms is not None
    dns_kind.DNSRow.from_json(row.to_json())
