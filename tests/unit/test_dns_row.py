"""The DNS kind's row and declarations: states from what a query brought back, the row's
JSON round trip, its samples, the pane's words, the drill-down and handover lines, and
metrics and rules an on-call engineer can act on."""

from __future__ import annotations

import shlex

import pytest

from opsdash.kinds.dns import KIND, RECENT, DNSCheck, DNSRow, judge, nameservers, script
from opsdash.kinds.registry import by_name

CHECK = DNSCheck(name="shop-a", query="shop.example.com", expect=("203.0.113.10",), server="127.0.0.1:5353")


def _row(**kw) -> DNSRow:
    base = dict(server="127.0.0.1:5353", tool="dig", rcode="NOERROR", answers=("203.0.113.10",), resolve_ms=4.0,
                previous=None, t=1.0)
    return judge(CHECK, "web-1", **{**base, **kw})


@pytest.mark.parametrize("kw,state,reason,up,answer_ok", [
    ({}, "ok", "203.0.113.10 in 4 ms", True, True),
    ({"answers": ("198.51.100.9",)}, "wrong", "answer 198.51.100.9, expected 203.0.113.10", True, False),
    ({"rcode": "NXDOMAIN", "answers": ()}, "NXDOMAIN", "NXDOMAIN for shop.example.com", False, None),
    ({"rcode": "SERVFAIL", "answers": ()}, "SERVFAIL", "SERVFAIL from 127.0.0.1:5353", False, None),
    ({"rcode": "NOERROR", "answers": ()}, "NODATA", "no A record for shop.example.com (NOERROR, empty answer)",
     False, None),
    ({"rcode": None, "answers": (), "resolve_ms": None, "timed_out": True}, "timeout",
     "no answer within 5s from 127.0.0.1:5353", False, None),
])
def test_what_came_back_is_one_state_with_a_reason(kw, state, reason, up, answer_ok) -> None:
    row = _row(**kw)
    assert (row.state, row.reason, row.up, row.answer_ok) == (state, reason, up, answer_ok)
    assert KIND.state(row.to_json()) == (state, state != "ok")
    line = KIND.handover_line("shop-a", "web-1", row.to_json())
    assert line == (None if state == "ok" else f"DNS shop-a from web-1: {reason}")


def test_the_row_round_trips_and_keeps_the_last_recent_times() -> None:
    prev = {"recent_ms": [float(i) for i in range(30)]}
    row = _row(previous=prev, resolve_ms=100.0)
    assert len(row.recent_ms) == RECENT and row.recent_ms[-1] == 100.0 and row.recent_ms[0] == 11.0
    back = DNSRow.from_json(row.to_json())
    assert back == row and back.p95_ms == row.p95_ms
    assert row.to_json()["p50_ms"] == pytest.approx(20.5)


def test_a_timeout_adds_no_time_to_the_percentiles() -> None:
    row = _row(previous={"recent_ms": [3.0, 5.0]}, rcode=None, answers=(), resolve_ms=None, timed_out=True)
    assert row.recent_ms == (3.0, 5.0) and row.resolve_ms is None


def test_a_stored_row_of_garbage_reads_back_without_raising() -> None:
    row = DNSRow.from_json({"recent_ms": ["x", None, -1, float("nan"), 2.5], "answers": "nope", "up": "yes",
                            "resolve_ms": True, "t": "now"})
    assert (row.recent_ms, row.answers, row.up, row.resolve_ms, row.t, row.state) == ((2.5,), (), None, None, 0.0, "error")
    assert row.samples(1.0, "x", {}) == []


def test_samples_carry_the_figures_with_the_labels() -> None:
    s = {x.metric: (x.value, dict(x.labels)) for x in _row(previous={"recent_ms": [2.0]}).samples(9.0, "shop-a",
                                                                                                  {"vantage": "web-1"})}
    assert s == {"dns.up": (1.0, {"vantage": "web-1"}), "dns.answer_ok": (1.0, {"vantage": "web-1"}),
                 "dns.resolve_ms": (4.0, {"vantage": "web-1"}), "dns.resolve_p50_ms": (3.0, {"vantage": "web-1"}),
                 "dns.resolve_p95_ms": (3.9, {"vantage": "web-1"})}
    no_expect = judge(DNSCheck(name="n", query="a.test"), "local", server="s", tool="dnspython", rcode="NOERROR",
                      answers=("1.2.3.4",), resolve_ms=1.0, previous=None, t=1.0)
    assert "dns.answer_ok" not in {x.metric for x in no_expect.samples(1.0, "n", {})}


def test_a_probe_that_could_not_run_is_an_error_that_counts_as_down() -> None:
    row = KIND.failed(CHECK, "web-1", "ssh: connection refused", 5.0)
    assert (row.state, row.reason) == ("error", "ssh: connection refused")
    assert {x.metric: x.value for x in row.samples(5.0, "shop-a", {})} == {"dns.up": 0.0}


def test_the_drill_down_lists_query_answers_expectation_and_times() -> None:
    lines = KIND.detail(_row(answers=("198.51.100.9",), previous={"recent_ms": [2.0, 6.0]}).to_json())
    assert "query: shop.example.com A" in lines and "answers: 198.51.100.9" in lines
    assert "expected: 203.0.113.10" in lines and "resolve: 4.0 ms" in lines and "via: dig" in lines
    assert "p50/p95: 4.0 / 5.8 ms over the last 3 answers" in lines
    assert "reason: answer 198.51.100.9, expected 203.0.113.10" in lines


def test_the_kind_is_registered_with_metrics_rules_and_columns_someone_can_act_on() -> None:
    assert by_name("dns") is KIND and KIND.up_metric == "dns.up" and KIND.pane == "latency"
    names = {m.name for m in KIND.metrics}
    assert names == {"dns.up", "dns.answer_ok", "dns.resolve_ms", "dns.resolve_p50_ms", "dns.resolve_p95_ms"}
    assert all(m.label and m.help and m.unit in ("bool", "ms") for m in KIND.metrics)
    rules = {r.name: r for r in KIND.rules}
    assert set(rules) == {"dns-failed", "dns-wrong-answer", "dns-slow"}
    assert all(r.metric in names and r.description and "dig " in r.runbook for r in rules.values())
    assert (rules["dns-slow"].warn, rules["dns-slow"].crit) == (200, 1000)
    assert rules["dns-slow"].per_check(DNSCheck(name="x", query="a", max_ms=(5.0, 9.0))) == (5.0, 9.0)
    assert rules["dns-slow"].per_check(CHECK) is None
    assert {(c.slot, c.key, c.metric) for c in KIND.columns} == {
        ("p50", "p50_ms", "dns.resolve_p50_ms"), ("p95", "p95_ms", "dns.resolve_p95_ms")}


def test_the_remote_script_quotes_the_query_and_bounds_dig() -> None:
    c = DNSCheck(name="x", query="$(touch pwned).test", type="TXT", server="[::1]:5353", timeout=2.5)
    dig_line = next(ln for ln in script(c).splitlines() if ln.strip().startswith("sec dig"))
    assert shlex.split(dig_line) == ["sec", "dig", "dig", "+tries=1", "+time=3", "@::1", "-p", "5353", "-t", "TXT",
                                     "-q", "$(touch pwned).test"]
    getent = script(DNSCheck(name="x", query="$(touch pwned).test"))
    assert "getent ahosts '$(touch pwned).test'" in getent and "timeout 5 " in getent


def test_resolv_conf_gives_at_most_three_nameservers_else_localhost() -> None:
    text = "search a.test\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\n" \
           "nameserver 10.0.0.3\nnameserver 10.0.0.4\n"
    assert nameservers(text) == ("10.0.0.2", "fe80::1", "10.0.0.3")
    assert nameservers("# empty\n") == ("127.0.0.1",)


def test_a_remote_answer_later_than_the_timeout_is_a_timeout_as_from_local() -> None:
    from opsdash.kinds.dns import read

    class Sec:
        rc, err = 0, ""
        out = (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n\n;; ANSWER SECTION:\n"
               "shop.example.com. 60 IN A 203.0.113.10\n\n;; Query time: 900 msec\n"
               ";; SERVER: 127.0.0.1#5353(127.0.0.1) (UDP)\n")

    fast = read(CHECK, "web-1", {"dig": Sec()}, previous=None, t=1.0)
    assert fast.state == "ok" and fast.resolve_ms == 900
    late = read(DNSCheck(name="x", query="shop.example.com", server="127.0.0.1:5353", timeout=0.5), "web-1",
                {"dig": Sec()}, previous=None, t=1.0)
    assert (late.state, late.reason) == ("timeout", "no answer within 0.5s from 127.0.0.1:5353")


async def test_a_probe_that_could_not_run_keeps_the_recent_times_for_the_next() -> None:
    from opsdash.errors import SSHError
    from opsdash.kinds.dns import DNSKind

    class Sec:
        rc, err = 0, ""
        out = (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n\n;; ANSWER SECTION:\n"
               "shop.example.com. 60 IN A 203.0.113.10\n\n;; Query time: 7 msec\n")

    class Ctx:  # a vantage that answers, then drops off
        down = False
        rows: dict = {}

        def clock(self) -> float:
            return 1.0

        async def run_script(self, vantage, body, timeout):
            if self.down:
                raise SSHError("ssh: connection refused", state="unreachable")
            return {"dig": Sec()}

        async def previous(self, kind, target, name):
            return self.rows.get(target)

        async def read_file(self, path, max_bytes=65536):
            raise OSError(path)

    kind, ctx = DNSKind(), Ctx()
    ctx.rows["shop-a"] = {"recent_ms": [3.0, 5.0]}  # as a restarted collector reads it back
    ctx.rows["shop-a"] = (await kind.probe(CHECK, "web-1", ctx)).to_json()
    ctx.down = True
    with pytest.raises(SSHError):
        await kind.probe(CHECK, "web-1", ctx)
    row = kind.failed(CHECK, "web-1", "ssh: connection refused", 2.0)  # what the collector writes
    assert row.recent_ms == (3.0, 5.0, 7.0) and row.p95_ms is not None and row.state == "error"
    ctx.rows["shop-a"], ctx.down = row.to_json(), False
    assert (await kind.probe(CHECK, "web-1", ctx)).recent_ms == (3.0, 5.0, 7.0, 7.0)
