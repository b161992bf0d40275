"""The alert state machine, mechanism by mechanism, on a fake clock (sample times and tick(now))."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from opsdash.alerts import AlertEngine, Rule, alert_id, group_alerts
from opsdash.alerts.engine import TransitionEvent
from opsdash.alerts.rules import builtin_rules, rules_from_config
from opsdash.config import parse_config
from opsdash.model import Sample
from opsdash.store import Store

T0 = 1_795_860_000.0  # 2026-11-28 10:00:00 UTC
M = "endpoint.ttfb_p95_ms"


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Clock:
    """A fake clock: feeds samples at its current time and advances by hand."""

    def __init__(self, engine: AlertEngine, t: float = T0, step: float = 15.0):
        self.engine, self.t, self.step = engine, t, step
        self.events: list[TransitionEvent] = []

    def feed(self, *values: float, target: str = "shop", metric: str = M, labels=None,
             step: float | None = None) -> list[TransitionEvent]:
        out = []
        for v in values:
            out += self.engine.observe([Sample(self.t, target, metric, v, labels or {})])
            self.t += self.step if step is None else step
        self.events += out
        return out

    def at(self, t: float, v: float, **kw) -> list[TransitionEvent]:
        self.t = t
        return self.feed(v, step=0, **kw)

    def tick(self, now: float) -> list[TransitionEvent]:
        out = self.engine.tick(now)
        self.events += out
        return out


def rule(**kw) -> Rule:
    kw.setdefault("name", "p95")
    kw.setdefault("metric", M)
    kw.setdefault("warn", 400)
    return Rule(**kw)


def moves(events):
    return [(e.from_state, e.to_state) for e in events]


# --- thresholds ------------------------------------------------------------------


def test_exactly_at_threshold_is_not_a_breach():
    c = Clock(AlertEngine([rule()]))
    assert c.feed(400) == []
    ev = c.feed(400.001)
    assert moves(ev) == [("ok", "firing")]
    assert ev[0].severity == "warning"


def test_op_less_than_exactly_at_threshold():
    c = Clock(AlertEngine([rule(metric="endpoint.availability", op="<", warn=99.9)]))
    assert c.feed(99.9, metric="endpoint.availability") == []
    assert moves(c.feed(99.8, metric="endpoint.availability")) == [("ok", "firing")]
    assert moves(c.feed(99.95, metric="endpoint.availability")) == [("firing", "resolved")]


def test_for_fires_exactly_at_for_and_not_before():
    c = Clock(AlertEngine([rule(for_s=120)]))
    assert moves(c.at(T0, 417)) == [("ok", "pending")]
    assert c.at(T0 + 60, 420) == []
    assert c.at(T0 + 119.999, 420) == []
    ev = c.at(T0 + 120, 417)
    assert moves(ev) == [("pending", "firing")]
    assert ev[0].reason == "firing since 10:02: p95 417 ms > 400 ms for 2m"
    assert ev[0].notify


def test_for_needs_the_condition_at_every_evaluation():
    c = Clock(AlertEngine([rule(for_s=120)]))
    c.at(T0, 450)
    c.at(T0 + 60, 450)
    assert moves(c.at(T0 + 90, 390)) == [("pending", "ok")]
    c.at(T0 + 100, 450)
    assert c.at(T0 + 200, 450) == []  # only 100 s since the breach restarted
    assert moves(c.at(T0 + 220, 450)) == [("pending", "firing")]


def test_attempts_soft_then_hard():
    c = Clock(AlertEngine([rule(attempts=3)]))
    ev = c.feed(500)
    assert moves(ev) == [("ok", "pending")] and "soft 1/3" in ev[0].reason
    assert c.feed(500) == []
    assert moves(c.feed(300)) == [("pending", "ok")]  # a good poll resets the count
    c.feed(500, 500)
    ev = c.feed(500)
    assert moves(ev) == [("pending", "firing")]
    assert "3 polls in a row (attempts 3)" in ev[0].reason


def test_attempts_and_for_both_required():
    # attempts met long before `for`
    c = Clock(AlertEngine([rule(attempts=2, for_s=60)]), step=10)
    c.feed(500, 500, 500, 500, 500, 500)  # t = 0..50
    assert moves(c.events) == [("ok", "pending")]
    assert moves(c.feed(500)) == [("pending", "firing")]  # t = 60
    # `for` met before attempts (slow polls)
    c = Clock(AlertEngine([rule(attempts=3, for_s=60)]), step=120)
    c.feed(500, 500)
    assert moves(c.events) == [("ok", "pending")]
    assert moves(c.feed(500)) == [("pending", "firing")]


def test_clear_hysteresis():
    c = Clock(AlertEngine([rule(clear=300)]))
    assert c.feed(350) == []  # below warn: never starts
    assert moves(c.feed(417)) == [("ok", "firing")]
    assert c.feed(350, 301, 399) == []  # firing at 400 with clear 300 stays firing at 350
    ev = c.feed(300)  # exactly at clear: recovered
    assert moves(ev) == [("firing", "resolved")]
    assert "p95 300 ms <= 300 ms (clear)" in ev[0].reason
    assert c.feed(350) == []  # from ok, 350 is fine again


def test_clear_on_the_wrong_side_is_ignored():
    c = Clock(AlertEngine([rule(clear=450)]))
    c.feed(417)
    assert moves(c.feed(400)) == [("firing", "resolved")]


def test_keep_firing_for_by_samples():
    c = Clock(AlertEngine([rule(keep_firing_for_s=60)]))
    c.at(T0, 450)
    assert c.at(T0 + 15, 350) == []  # cleared, kept firing
    assert c.at(T0 + 45, 470) == []  # breach again inside the window: still the same firing alert
    assert c.at(T0 + 60, 350) == []  # cleared again: the window restarts
    assert c.at(T0 + 119, 350) == []
    ev = c.at(T0 + 120, 350)  # exactly keep_firing_for after clearing
    assert moves(ev) == [("firing", "resolved")]
    assert "since 10:01, kept firing for 1m" in ev[0].reason
    assert len([e for e in c.events if e.to_state == "firing"]) == 1


def test_keep_firing_for_by_tick():
    c = Clock(AlertEngine([rule(keep_firing_for_s=60)]))
    c.at(T0, 450)
    c.at(T0 + 15, 350)
    assert c.tick(T0 + 74) == []
    assert moves(c.tick(T0 + 75)) == [("firing", "resolved")]
    assert c.engine.active() == []


def test_warning_and_critical_escalate_and_deescalate():
    c = Clock(AlertEngine([rule(crit=800)]))
    ev = c.feed(900)
    assert moves(ev) == [("ok", "firing")] and ev[0].severity == "critical"
    ev = c.feed(500)
    assert moves(ev) == [("firing", "firing")] and ev[0].severity == "warning"
    assert ev[0].reason.startswith("de-escalated to warning")
    ev = c.feed(850)
    assert ev[0].severity == "critical" and ev[0].notify
    assert moves(c.feed(100)) == [("firing", "resolved")]


def test_critical_also_waits_for_for():
    c = Clock(AlertEngine([rule(crit=800, for_s=60)]))
    c.at(T0, 500)
    c.at(T0 + 30, 900)  # critical starts at +30
    ev = c.at(T0 + 60, 900)
    assert moves(ev) == [("pending", "firing")] and ev[0].severity == "warning"
    assert c.at(T0 + 89, 900) == []
    ev = c.at(T0 + 90, 900)
    assert ev[0].severity == "critical" and "for 1m" in ev[0].reason


def test_critical_only_rule():
    c = Clock(AlertEngine([Rule(name="restore", metric="backup.restore_ok", op="<", crit=0.5)]))
    ev = c.feed(0, metric="backup.restore_ok")
    assert ev[0].severity == "critical" and ev[0].to_state == "firing"
    assert "restore test ok: no" in ev[0].reason


# --- flap detection ----------------------------------------------------------------


def nagios_percent(levels: list[int]) -> float:
    """Nagios' weighted percent state change, written out directly, as the reference."""
    hist = levels[-21:]
    changes = [1 if a != b else 0 for a, b in zip(hist, hist[1:])]
    changes = [0] * (20 - len(changes)) + changes
    total = sum(c * (0.75 + i * (0.5 / 19)) for i, c in enumerate(changes))
    return total / 20 * 100


def test_flap_percent_matches_the_nagios_formula():
    from opsdash.alerts.engine import _State

    rng = random.Random(5)
    r = rule(flap=(20, 30), crit=800)
    st = _State(r, "x", {}, M, r.thresholds({}), "id")
    eng = AlertEngine([r])
    levels = []
    for _ in range(500):
        lvl = rng.choice((0, 0, 1, 2)) if rng.random() < 0.4 else (levels[-1] if levels else 0)
        levels.append(lvl)
        eng._flap(st, 0.0, lvl)
        assert st.flap_percent() == pytest.approx(nagios_percent(levels), abs=1e-9)


def test_flapping_is_reported_and_not_paged_then_settles():
    c = Clock(AlertEngine([rule(for_s=120, clear=300, flap=(20, 30))]))
    for _ in range(10):
        c.feed(430, 290)
    flap_start = [e for e in c.events if e.to_state == "flapping"]
    assert len(flap_start) == 1
    assert "state change >= 30%" in flap_start[0].reason
    i = c.events.index(flap_start[0])
    assert all(e.to_state != "pending" and e.from_state != "pending" for e in c.events[i + 1:])  # churn not reported
    assert [a.flapping for a in c.engine.active()] == [True]
    # a sustained breach: fires once (not paged while flapping), pages when it settles
    ev = c.feed(*[500] * 20)
    fired = [e for e in ev if e.to_state == "firing" and e.from_state != "flapping"]
    assert len(fired) == 1 and fired[0].flapping and not fired[0].notify
    stop = [e for e in ev if e.from_state == "flapping"]
    assert len(stop) == 1 and stop[0].to_state == "firing" and stop[0].notify
    assert "firing since" in stop[0].reason
    ev = c.feed(290)
    assert moves(ev) == [("firing", "resolved")]


def test_flapping_settles_in_ok():
    c = Clock(AlertEngine([rule(flap=(20, 30), for_s=600)]))
    for _ in range(6):
        c.feed(500, 100)
    assert any(e.to_state == "flapping" for e in c.events)
    ev = c.feed(*[100] * 20)
    assert moves(ev) == [("flapping", "ok")]
    assert c.engine.active() == []


def test_naive_rule_fires_every_oscillation_without_flap():
    c = Clock(AlertEngine([rule()]))
    for _ in range(20):
        c.feed(430, 290)
    assert len([e for e in c.events if e.to_state == "firing"]) == 20


def test_combination_for_attempts_clear_keep_firing_flap():
    r = rule(for_s=60, attempts=3, clear=300, keep_firing_for_s=60, flap=(20, 30), crit=800)
    c = Clock(AlertEngine([r]))  # 15 s polls
    c.feed(*[250] * 21)
    assert c.events == []
    c.feed(450, 350, 380)  # pending; held by hysteresis (above clear)
    assert moves(c.events) == [("ok", "pending")]
    ev = c.feed(420)  # 45 s, 4 polls: attempts met but `for` not
    assert ev == []
    ev = c.feed(420)  # 60 s since the first breach
    assert moves(ev) == [("pending", "firing")] and ev[0].notify
    assert c.feed(900, 900, 900, 900) == []  # critical must hold for 60 s as well
    ev = c.feed(900)
    assert [(e.to_state, e.severity) for e in ev] == [("firing", "critical")]
    assert c.feed(200, 200, 200, 200) == []  # cleared at the first 200: kept firing for 60 s
    ev = c.feed(200)
    assert moves(ev) == [("firing", "resolved")] and ev[0].severity == "critical"
    assert not any(e.to_state == "flapping" for e in c.events)
    assert len([e for e in c.events if e.to_state == "firing" and e.from_state != "firing"]) == 1


# --- inhibition, grouping, match ----------------------------------------------------------


def test_host_down_inhibits_the_hosts_other_alerts():
    rules = [r for r in builtin_rules() if r.name in ("host-down", "cpu")]
    rules = [Rule(**{**r.__dict__, "for_s": 0}) if r.name == "cpu" else r for r in rules]
    c = Clock(AlertEngine(rules))
    c.feed(0, target="web-1", metric="host.up", step=0)
    c.feed(0, target="web-1", metric="host.up")
    assert [e.rule for e in c.events if e.to_state == "firing"] == ["host-down"]
    ev = c.feed(99, target="web-1", metric="host.cpu_percent", step=0)
    assert ev[0].inhibited and not ev[0].notify and "inhibited: web-1 is down" in ev[0].reason
    ev = c.feed(99, target="web-2", metric="host.cpu_percent")
    assert not ev[0].inhibited and ev[0].notify
    by = {(a.rule, a.target): a for a in c.engine.active()}
    assert by[("cpu", "web-1")].inhibited and not by[("cpu", "web-2")].inhibited
    c.feed(1, target="web-1", metric="host.up", step=0)
    c.feed(1, target="web-1", metric="host.up")
    assert not {(a.rule, a.target): a for a in c.engine.active()}[("cpu", "web-1")].inhibited


def test_grouping_by_rule_and_tag():
    tags = {"web-1": {"role": "web"}, "web-2": {"role": "web"}, "db-1": {"role": "db"}}
    eng = AlertEngine([Rule(name="cpu", metric="host.cpu_percent", warn=90),
                       Rule(name="mem", metric="host.mem_percent", warn=90)], tags=lambda t: tags.get(t, {}))
    eng.observe([Sample(T0, h, "host.cpu_percent", 95) for h in tags] + [Sample(T0, "db-1", "host.mem_percent", 95)])
    by_rule = group_alerts(eng.active(), "rule")
    assert {k: len(v) for k, v in by_rule.items()} == {"cpu": 3, "mem": 1}
    by_role = group_alerts(eng.active(), "role")
    assert {k: len(v) for k, v in by_role.items()} == {"db": 2, "web": 2}


def test_match_on_tags_target_labels_and_globs():
    tags = {"web-1": {"region": "eu-west"}, "web-2": {"region": "us-east"}}
    rules = [
        Rule(name="eu", metric="host.cpu_percent", warn=90, match={"region": "eu-west"}),
        Rule(name="by-target", metric="host.cpu_percent", warn=90, match={"target": "web-2"}),
        Rule(name="root-disk", metric="host.disk_percent", warn=90, match={"mount": "/"}),
        Rule(name="glob", metric="host.cpu_percent", warn=90, match={"target": "web-*"}),
    ]
    eng = AlertEngine(rules, tags=lambda t: tags.get(t, {}))
    ev = eng.observe([
        Sample(T0, "web-1", "host.cpu_percent", 95), Sample(T0, "web-2", "host.cpu_percent", 95),
        Sample(T0, "db-1", "host.cpu_percent", 95),
        Sample(T0, "web-1", "host.disk_percent", 95, {"mount": "/"}),
        Sample(T0, "web-1", "host.disk_percent", 95, {"mount": "/srv"}),
    ])
    got = sorted((e.rule, e.target, e.labels.get("mount", "")) for e in ev)
    assert got == [("by-target", "web-2", ""), ("eu", "web-1", ""), ("glob", "web-1", ""), ("glob", "web-2", ""),
                   ("root-disk", "web-1", "/")]
    disk = [e for e in ev if e.rule == "root-disk"][0]
    assert "disk / 95% > 90%" in disk.reason and disk.labels == {"region": "eu-west", "mount": "/"}
    assert disk.alert_id == alert_id("root-disk", "web-1", {"mount": "/"})


def test_out_of_order_samples_are_dropped():
    c = Clock(AlertEngine([rule()]))
    c.at(T0 + 100, 300)
    assert c.at(T0 + 50, 900) == []


# --- dead man's switch -----------------------------------------------------------------------


def test_dead_mans_switch_after_three_intervals():
    rules = [r for r in builtin_rules() if r.name == "no-data"]
    c = Clock(AlertEngine(rules), step=10)
    c.feed(1, 1, 1, target="web-1", metric="host.up")  # t = 0, 10, 20; interval 10 s
    assert c.tick(T0 + 20 + 30) == []  # exactly 3x: not yet
    ev = c.tick(T0 + 20 + 30.5)
    assert moves(ev) == [("ok", "firing")] and ev[0].rule == "no-data"
    assert ev[0].reason.startswith("no data since 10:00: last host.up sample 30") and "expected every 10s" in ev[0].reason
    assert c.tick(T0 + 200) == []  # fires once
    ev = c.at(T0 + 300, 1, target="web-1", metric="host.up")
    assert moves(ev) == [("firing", "resolved")] and "data is back after a 4m40s gap" in ev[0].reason


def test_dead_mans_switch_is_not_fooled_by_bursts():
    # Two probes write backup.age_s within a second of each other every 30 s (the
    # freshness poll and the restore test): the interval is 30 s, not 0.3 s.
    rules = [r for r in builtin_rules() if r.name == "no-data"]
    eng = AlertEngine(rules)
    events = []
    for k in range(20):
        t = T0 + 30 * k
        events += eng.observe([Sample(t, "backup-1", "backup.age_s", 100.0, {"backup": "etc"})])
        events += eng.observe([Sample(t + 0.3, "backup-1", "backup.age_s", 100.0, {"backup": "etc"})])
        events += eng.tick(t + 15)
    assert [e for e in events if e.rule == "no-data"] == []
    # ...and when the data really stops, it still fires after three intervals.
    assert eng.tick(T0 + 30 * 19 + 0.3 + 80) == []
    ev = eng.tick(T0 + 30 * 19 + 0.3 + 95)
    assert [(e.rule, e.to_state) for e in ev] == [("no-data", "firing")]


# --- reasons, summary, config ------------------------------------------------------------------


def test_summary_template_and_fallback():
    c = Clock(AlertEngine([rule(summary="{target}: p95 TTFB {value:.0f} ms"),
                           rule(name="bad", summary="{nope}")]))
    c.feed(417.4)
    by = {a.rule: a for a in c.engine.active()}
    assert by["p95"].summary == "shop: p95 TTFB 417 ms"
    assert by["bad"].summary == "shop: p95 417 ms > 400 ms"


def test_summary_names_the_threshold_the_value_is_over_now():
    c = Clock(AlertEngine([rule(warn=400, crit=800, clear=300, for_s=600)]))
    c.feed(417)
    (a,) = c.engine.active()
    assert a.state == "pending" and a.summary == "shop: p95 417 ms > 400 ms"
    c.feed(350)  # under the threshold, over `clear`: hysteresis holds the alert, and says so
    (a,) = c.engine.active()
    assert a.summary == "shop: p95 350 ms, clears <= 300 ms"
    c.feed(900)
    (a,) = c.engine.active()
    assert a.severity == "critical" and a.summary == "shop: p95 900 ms > 800 ms"
    low = Clock(AlertEngine([rule(name="hit", metric="cache.hit_rate", op="<", warn=0.8, clear=0.85)]))
    low.feed(0.7, 0.82, target="sessions", metric="cache.hit_rate")
    (a,) = low.engine.active()
    assert a.summary == "sessions: hit rate 82%, clears >= 85%"


def test_builtin_rules_and_overrides_from_config():
    cfg = parse_config(
        """
[[hosts]]
name = "web-1"
probes = ["health"]
  [[hosts.backups]]
  name = "etc"
  kind = "command"
  command = "true"
  max_age = "2h"

[[endpoints]]
name = "shop"
url = "https://shop.example.com/"
slo = { availability = 99.5 }

[[rules]]
name = "cpu"
metric = "host.cpu_percent"
warn = 70
for = "1m"

[[rules]]
name = "reboot-required"
metric = "patches.reboot_required"
warn = 0.5
enabled = false

[[rules]]
name = "swap"
metric = "host.swap_percent"
warn = 50
""",
        "t.toml",
    )
    rules = {r.name: r for r in rules_from_config(cfg)}
    for name in ("host-down", "memory", "disk", "load", "ttfb-p95", "error-rate", "availability-slo",
                 "cache-hit-rate", "security-updates", "backup-age", "restore-test-failed", "restore-test-stale",
                 "no-data", "swap"):
        assert name in rules, name
    assert "reboot-required" not in rules
    cpu = rules["cpu"]
    assert (cpu.warn, cpu.for_s, cpu.crit, cpu.clear) == (70, 60, 98, 80)  # unset keys keep the built-in's
    assert cpu.runbook and not cpu.builtin
    assert rules["ttfb-p95"].warn == 400 and rules["ttfb-p95"].crit == 800
    for r in builtin_rules(cfg):
        assert r.tier.get("warning") in ("L1", "L2", "L3") and r.runbook and r.description, r.name
    eng = AlertEngine(list(rules.values()))
    ev = eng.observe([
        Sample(T0, "shop", "endpoint.availability", 99.4),
        Sample(T0, "other", "endpoint.availability", 50.0),  # no SLO: no availability rule
        Sample(T0, "web-1", "backup.age_s", 3 * 3600.0, {"backup": "etc"}),
        Sample(T0, "web-1", "backup.restore_ok", 0.0, {"backup": "etc"}),
    ])
    got = {(e.rule, e.target, e.to_state, e.severity) for e in ev}
    assert got == {("availability-slo", "shop", "pending", "warning"), ("backup-age", "web-1", "firing", "warning"),
                   ("restore-test-failed", "web-1", "firing", "critical")}
    age = [e for e in ev if e.rule == "backup-age"][0]
    assert "backup age 3h > 2h" in age.reason
    assert all(r.describe() for r in rules.values())


def test_security_updates_pending_for_seven_days():
    rules = [r for r in builtin_rules() if r.name == "security-updates"]
    c = Clock(AlertEngine(rules), step=6 * 3600)
    c.feed(*[3] * 28, target="web-1", metric="patches.security")  # 7 days of polls every 6 h, minus one
    assert moves(c.events) == [("ok", "pending")]
    ev = c.feed(3, target="web-1", metric="patches.security")
    assert moves(ev) == [("pending", "firing")] and ev[0].reason.endswith("security updates 3 > 0 for 7d")


# --- the store: persistence, restart, acks -------------------------------------------------------


def test_engine_writes_and_restores_state(tmp_path):
    path = tmp_path / "s.sqlite"
    r = rule(for_s=30, clear=300, crit=800)
    with Store(path) as store:
        c = Clock(AlertEngine([r], store=store))
        c.feed(450, 450, 450)
        assert [a.state for a in store.alerts(now=c.t)] == ["firing"]
        assert [(x.from_state, x.to_state) for x in store.transitions()] == [("ok", "pending"), ("pending", "firing")]
        assert store.transitions()[1].reason == "firing since 10:00: p95 450 ms > 400 ms for 30s"
    with Store(path) as store:  # a restart
        eng = AlertEngine([r], store=store)
        assert [(a.rule, a.state) for a in eng.active()] == [("p95", "firing")]
        c = Clock(eng, t=T0 + 60)
        assert c.feed(350) == []  # still firing: hysteresis holds, no second firing
        ev = c.feed(290)
        assert moves(ev) == [("firing", "resolved")]
        assert [a.state for a in store.alerts(now=c.t)] == ["resolved"]
        assert eng.active() == []


def test_pending_that_never_fired_leaves_no_alert_row(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        c = Clock(AlertEngine([rule(for_s=120)], store=store))
        c.feed(450)
        assert [a.state for a in store.alerts(now=c.t)] == ["pending"]
        c.feed(100)
        assert store.alerts(now=c.t) == []
        assert len(store.transitions()) == 2


def test_acks_cleared_on_change_sticky_kept_until_resolved(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        c = Clock(AlertEngine([rule(crit=800), rule(name="other", crit=800)], store=store))
        c.feed(500)
        aid, oid = alert_id("p95", "shop"), alert_id("other", "shop")
        store.add_ack(aid, who="ann", note="looking", t=c.t)
        store.add_ack(oid, who="bob", note="mine", sticky=True, t=c.t)
        ev = c.feed(900)  # warning -> critical: a change
        assert store.active_ack(aid, c.t) is None
        assert store.active_ack(oid, c.t).note == "mine"
        assert {e.rule: e.notify for e in ev} == {"p95": True, "other": False}  # the sticky ack holds the page
        c.feed(100)
        assert store.active_ack(oid, c.t) is None


def test_silence_stops_paging_and_until_resolved_ends(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        sid = store.add_silence({"target": "shop"}, ends_at=T0 + 3600, who="ann", until_resolved=True, t=T0 - 1)
        keep = store.add_silence({"rule": "nothing"}, ends_at=T0 + 3600, who="ann", until_resolved=True, t=T0 - 1)
        c = Clock(AlertEngine([rule()], store=store))
        ev = c.feed(500)
        assert ev[0].to_state == "firing" and not ev[0].notify
        assert store.alerts(now=c.t)[0].silenced
        c.feed(100)
        active = {s.id for s in store.active_silences(c.t)}
        assert sid not in active and keep in active


def test_escalated_tier_is_kept_by_the_engine(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        c = Clock(AlertEngine([rule(crit=800)], store=store))
        c.feed(500)
        aid = alert_id("p95", "shop")
        store.add_escalation(aid, who="ann", from_tier="L1", to_tier="L3", t=c.t)
        c.feed(900)
        assert store.alert(aid, now=c.t).tier == "L3"


def test_alerts_package_does_not_import_textual():
    code = ("import sys, opsdash.alerts, opsdash.alerts.engine, opsdash.alerts.queue, opsdash.alerts.replay, "
            "opsdash.alerts.rules; assert 'textual' not in sys.modules, 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_instant_rules_for_a_snapshot():
    rules = {r.name: r.instant() for r in builtin_rules()}
    assert rules["cpu"].for_s == 0 and rules["host-down"].attempts == 1 and rules["ttfb-p95"].flap is None
    assert not rules["security-updates"].enabled and not rules["no-data"].enabled
    eng = AlertEngine(list(rules.values()))
    eng.observe([Sample(T0, "web-1", "host.cpu_percent", 99.0), Sample(T0, "web-1", "host.up", 0.0)])
    assert sorted((a.rule, a.state, a.severity) for a in eng.active()) == [
        ("cpu", "firing", "critical"), ("host-down", "firing", "critical")]


def test_no_data_is_not_raised_for_the_series_of_a_down_host():
    rules = [r for r in builtin_rules() if r.name in ("no-data", "host-down")]
    eng = AlertEngine(rules)
    for k in range(5):
        t = T0 + 10 * k
        eng.observe([Sample(t, "web-1", "host.up", 1.0), Sample(t, "web-1", "host.mem_percent", 40.0)])
    events = []
    for k in range(5, 40):  # the host goes down: only host.up (0) keeps arriving
        t = T0 + 10 * k
        events += eng.observe([Sample(t, "web-1", "host.up", 0.0)])
        events += eng.tick(t + 5)
    fired = {(e.rule, e.to_state) for e in events}
    assert ("host-down", "firing") in fired
    assert not [e for e in events if e.rule == "no-data"], "host-down already explains the silence"


def test_a_host_that_comes_back_gets_a_fresh_start_from_the_dead_mans_switch():
    rules = [r for r in builtin_rules() if r.name in ("no-data", "host-down")]
    eng = AlertEngine(rules)
    t = T0
    for k in range(5):
        t = T0 + 10 * k
        eng.observe([Sample(t, "web-1", "host.up", 1.0), Sample(t, "web-1", "host.cpu_percent", 5.0)])
    events = []
    for gap in (10, 20, 40, 80):  # down, polled with backoff
        t += gap
        events += eng.observe([Sample(t, "web-1", "host.up", 0.0)])
        events += eng.tick(t + 1)
    t += 10
    events += eng.observe([Sample(t, "web-1", "host.up", 1.0)])  # back; cpu arrives at the next poll
    events += eng.tick(t + 5)
    events += eng.observe([Sample(t + 10, "web-1", "host.up", 1.0), Sample(t + 10, "web-1", "host.cpu_percent", 7.0)])
    assert not [e for e in events if e.rule == "no-data"]
    assert [(e.rule, e.to_state) for e in events if e.rule == "host-down"][-1] == ("host-down", "resolved")
