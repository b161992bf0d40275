"""What an alert says: which cache, backup or vantage; an endpoint that is down pages
once, as "down", soon, and its error rate does not page the same outage again."""

from __future__ import annotations

from opsdash.alerts import AlertEngine, Rule
from opsdash.alerts.rules import builtin_rules
from opsdash.model import Sample

T0 = 1_795_860_000.0


def builtins(*names: str) -> list[Rule]:
    return [r for r in builtin_rules() if r.name in names]


def feed(engine: AlertEngine, t: float, target: str, metric: str, value: float, **labels: str):
    return engine.observe([Sample(t, target, metric, value, labels)])


def test_three_caches_on_one_host_read_as_three_different_lines() -> None:
    eng = AlertEngine([r.instant() for r in builtins("cache-hit-rate")])
    for name, rate in (("sessions", 0.628), ("fragments", 0.628), ("pages", 0.41)):
        feed(eng, T0, "web1", "cache.hit_rate", rate, cache=name)
    summaries = sorted(a.summary for a in eng.active())
    assert summaries == [
        "web1 cache fragments: hit rate 62.8% < 80%",
        "web1 cache pages: hit rate 41% < 50%",
        "web1 cache sessions: hit rate 62.8% < 80%",
    ]


def test_a_failed_restore_test_names_its_backup() -> None:
    eng = AlertEngine(builtins("restore-test-failed"))
    feed(eng, T0, "db1", "backup.restore_ok", 0.0, backup="pg-nightly")
    (a,) = eng.active()
    assert a.state == "firing" and a.summary == "db1 backup pg-nightly: restore test failed"


def test_an_endpoint_alert_names_its_vantage() -> None:
    eng = AlertEngine([Rule(name="err", metric="endpoint.error_rate", warn=0.05)])
    feed(eng, T0, "shop", "endpoint.error_rate", 1.0, vantage="web-1")
    feed(eng, T0, "shop", "endpoint.error_rate", 0.0, vantage="local")
    (a,) = eng.active()
    assert a.summary == "shop from web-1: error rate 100% > 5%"


def test_a_dead_endpoint_pages_once_as_down_within_a_minute() -> None:
    eng = AlertEngine(builtins("endpoint-down", "error-rate", "availability-slo"))
    events = []
    for i in range(20):  # five minutes of a dead URL, polled every 15 s
        t = T0 + 15 * i
        events += feed(eng, t, "shop", "endpoint.up", 0.0, vantage="local")
        events += feed(eng, t, "shop", "endpoint.error_rate", 1.0, vantage="local")
    pages = [e for e in events if e.notify]
    assert [(e.rule, e.severity) for e in pages] == [("endpoint-down", "critical")]
    assert pages[0].t - T0 <= 60
    by_rule = {a.rule: a for a in eng.active()}
    assert by_rule["endpoint-down"].summary == "shop from local: down"
    assert by_rule["endpoint-down"].runbook
    # The error rate is still shown (firing, inhibited), it just does not page the same outage.
    err = by_rule["error-rate"]
    assert err.state == "firing" and err.inhibited
    fired = [e for e in events if e.rule == "error-rate" and e.to_state == "firing"]
    assert fired and "inhibited: shop is down" in fired[0].reason


def test_an_endpoint_still_down_from_another_vantage_stays_inhibited() -> None:
    eng = AlertEngine(builtins("endpoint-down", "error-rate"))
    for i in range(4):
        for v in ("local", "web-1"):
            feed(eng, T0 + 15 * i, "shop", "endpoint.up", 0.0, vantage=v)
    # local recovers; web-1 is still down, so web-1's error rate must not page.
    feed(eng, T0 + 60, "shop", "endpoint.up", 1.0, vantage="local")
    ev = []
    for i in range(12):
        ev += feed(eng, T0 + 75 + 15 * i, "shop", "endpoint.error_rate", 1.0, vantage="web-1")
    assert [e.to_state for e in ev if e.to_state == "firing"] == ["firing"]
    assert not [e for e in ev if e.notify]


def test_durations_in_reasons_are_whole_seconds() -> None:
    eng = AlertEngine([Rule(name="p95", metric="endpoint.ttfb_p95_ms", warn=400, for_s=20)])
    ev = []
    for dt in (0.0, 10.002, 20.004):  # polls a few milliseconds late, as real ones are
        ev += feed(eng, T0 + dt, "shop", "endpoint.ttfb_p95_ms", 900.0)
    fired = [e for e in ev if e.to_state == "firing"]
    assert fired and " for 20s" in fired[0].reason and "ms" not in fired[0].reason.replace(" ms", "")
