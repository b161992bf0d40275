"""Burn-rate alerts: the collector's endpoint path emits the multi-window burn rates for
endpoints with an availability SLO (all vantages together), the built-in rules page on
them when both windows burn above the factor, and the rolling windows agree with the
report's time-weighted count at any instant."""

from __future__ import annotations

import random

from opsdash.alerts.engine import AlertEngine
from opsdash.alerts.rules import rules_from_config
from opsdash.collect.collector import Collector
from opsdash.collect.http import http_result
from opsdash.config import parse_config
from opsdash.sla import BURN_METRICS, BurnTracker, Excluded, covered, poll_cap

CFG = '''
[[endpoints]]
name = "shop"
url = "http://127.0.0.1:9/"
interval = "1m"
vantage = ["local"]
slo = { availability = 99.9 }

[[endpoints]]
name = "blog"
url = "http://127.0.0.1:9/blog"
interval = "1m"
'''
T0 = 1764547200.0


def test_the_collector_emits_burn_rates_and_the_built_in_rule_pages_at_the_hand_time() -> None:
    cfg = parse_config(CFG)
    col = Collector(cfg)
    seen: list = []
    col.listeners.append(seen.extend)
    shop, blog = cfg.endpoints
    for i in range(180):  # three hours, a poll a minute; down from minute 120 to 129
        t = T0 + 60 * i
        ok = not 120 <= i < 130
        for ep in (shop, blog):
            col.record_http(ep, http_result(ep, "local", t, ok=ok, status=200 if ok else 503, phases=None,
                                            cache=None, error=None if ok else "status 503", state="ok" if ok else "bad-status"))
    burn = [s for s in seen if s.metric in BURN_METRICS]
    assert {s.target for s in burn} == {"shop"}  # blog has no SLO
    assert all(s.labels == {} for s in burn)
    fast = [(s.t, s.value) for s in burn if s.metric == "endpoint.burn_rate_1h_5m"]
    # At minute 121 the poll of minute 120 (down) stands for one minute: 1h: (1/60)/0.001 = 16.7; 5m: 200.
    assert dict(fast)[T0 + 121 * 60] == round(1 / 60 / 0.001, 6)
    # The engine with the rules in force, fed what the collector emitted: the fast burn pages
    # (critical) at minute 121 and resolves at 135 (the 5-minute window is clean again).
    engine = AlertEngine(rules_from_config(cfg))
    trs = [ev for s in seen for ev in engine.observe([s])]
    got = [(ev.to_state, ev.severity, round((ev.t - T0) / 60)) for ev in trs
           if ev.rule == "slo-burn-fast" and ev.to_state in ("firing", "resolved")]
    assert got == [("firing", "critical", 121), ("resolved", "critical", 135)]


def test_rolling_windows_agree_with_the_time_weighted_count() -> None:
    rng = random.Random(7)
    ts, vs, t = [], [], T0
    for _ in range(4000):  # uneven polls, backoff gaps included
        t += rng.choice((15, 15, 15, 30, 120, 400))
        ts.append(t)
        vs.append(0.0 if rng.random() < 0.05 else 1.0)
    ex = Excluded([(T0 + 20000, T0 + 26000), (T0 + 90000, T0 + 91000)])
    tracker = BurnTracker(99.0, 15, excluded=lambda a, b: ex)
    cap = poll_cap(15)
    for i, (t, v) in enumerate(zip(ts, vs)):
        tracker.add("local", t, v >= 0.5)
        if i % 97 == 0 and i:
            for w in (300, 3600, 6 * 3600, 3 * 86400):
                cov, ok, _x = covered(ts[: i + 1], vs[: i + 1], t - w, t + 1e-9, cap, ex)
                want = None if cov <= 0 else ((cov - ok) / cov) / 0.01
                got = tracker.burn(w, t)
                assert (got is None) == (want is None)
                if want is not None:
                    assert abs(got - want) < 1e-6, (i, w, got, want)
