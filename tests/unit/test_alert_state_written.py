"""Alert state is believed only once it is written: a change the store refused is held,
retried, and in the store as soon as the store takes writes again; a viewer's actions
written meanwhile stay."""

from __future__ import annotations

import sqlite3

from opsdash.alerts.engine import AlertEngine, alert_id
from opsdash.alerts.rules import Rule
from opsdash.model import Sample
from opsdash.store import Store

T0 = 1_763_800_000.0
DOWN = Rule(name="host-down", metric="host.up", op="<", crit=0.5, tier={"warning": "L1", "critical": "L2"})
AID = alert_id("host-down", "web-1")


def up(engine: AlertEngine, t: float, v: float):
    return engine.observe([Sample(t, "web-1", "host.up", v)])


def hold_write_lock(path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # what a second writer (or a stuck one) does
    return other


def test_a_recovery_refused_by_a_locked_store_is_written_once_it_is_free(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path, timeout=0.05) as store:
        eng = AlertEngine([DOWN], store=store)
        up(eng, T0, 0.0)
        assert store.alert(AID, now=T0).state == "firing"
        other = hold_write_lock(path)
        ev = up(eng, T0 + 10, 1.0)  # recovers while the store is locked
        assert [(e.from_state, e.to_state) for e in ev] == [("firing", "resolved")]
        assert eng.active() == []  # memory: resolved
        assert store.alert(AID, now=T0 + 10).state == "firing"  # the store has not got it yet
        assert eng.unwritten and "locked" in (eng.store_error or "")
        up(eng, T0 + 20, 1.0)  # still locked: kept, not lost
        other.execute("ROLLBACK")
        other.close()
        eng.tick(T0 + 21)  # the next write, whatever causes it
        assert store.alert(AID, now=T0 + 21).state == "resolved"
        assert [(x.from_state, x.to_state) for x in store.transitions()] == [("ok", "firing"), ("firing", "resolved")]
        assert not eng.unwritten and eng.store_error is None


def test_changes_held_through_an_outage_keep_their_order_and_the_newest_row(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path, timeout=0.05) as store:
        eng = AlertEngine([DOWN], store=store)
        eng.write_through = False  # as the collector runs it: it commits take_writes() itself
        up(eng, T0, 0.0)
        first = eng.take_writes()
        up(eng, T0 + 10, 1.0)
        eng.put_back(first, "disk full")  # the first batch failed after the second change
        up(eng, T0 + 20, 0.0)
        store.write_alerts(eng.take_writes())
        assert [(x.from_state, x.to_state) for x in store.transitions()] == [
            ("ok", "firing"), ("firing", "resolved"), ("ok", "firing")]
        a = store.alert(AID, now=T0 + 20)
        assert (a.state, a.since) == ("firing", T0 + 20)


def test_an_ack_given_while_a_change_waits_for_the_store_is_not_cleared_by_it(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path, timeout=0.05) as store:
        eng = AlertEngine([DOWN], store=store)
        eng.write_through = False
        up(eng, T0, 0.0)
        store.write_alerts(eng.take_writes())
        up(eng, T0 + 10, 1.0)  # resolved at T0+10, not written yet
        up(eng, T0 + 20, 0.0)  # fires again at T0+20
        store.add_ack(AID, who="ann", note="on it", t=T0 + 25)  # a viewer acks the new episode
        store.write_alerts(eng.take_writes())
        ack = store.active_ack(AID, T0 + 30)
        assert ack is not None and ack.note == "on it"


def test_an_escalation_is_never_lowered_by_the_engine_while_the_alert_is_open(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        eng = AlertEngine([DOWN], store=store)
        up(eng, T0, 0.0)
        assert store.alert(AID, now=T0).tier == "L2"
        assert store.add_escalation(AID, who="ann", from_tier="L2", to_tier="L3", t=T0 + 1)
        for k in range(1, 5):  # polls and ticks rewrite the row
            up(eng, T0 + 10 * k, 0.0)
            eng.tick(T0 + 10 * k + 5)
        assert store.alert(AID, now=T0 + 50).tier == "L3"
        assert not store.add_escalation(AID, who="bob", from_tier="L2", to_tier="L3", t=T0 + 51)  # stale read
        assert len(store.escalations(AID)) == 1
        up(eng, T0 + 60, 1.0)
        assert store.alert(AID, now=T0 + 60).tier == "L3"  # the resolved row remembers the episode's tier
        up(eng, T0 + 70, 0.0)
        assert store.alert(AID, now=T0 + 70).tier == "L2"  # a new episode starts at the rule's tier


def test_a_no_data_alert_firing_at_a_restart_resolves_when_its_series_comes_back(tmp_path):
    from opsdash.alerts.rules import builtin_rules

    nodata = [r for r in builtin_rules() if r.name == "no-data"]
    nid = alert_id("no-data", "web-1", {"metric": "host.up"})
    with Store(tmp_path / "s.sqlite") as store:
        eng = AlertEngine(nodata, store=store)
        for k in range(3):
            eng.observe([Sample(T0 + 10 * k, "web-1", "host.up", 1.0)])
        eng.tick(T0 + 100)
        assert store.alert(nid, now=T0 + 100).state == "firing"
        again = AlertEngine(nodata, store=store)  # the collector restarted while it fired
        ev = again.observe([Sample(T0 + 110, "web-1", "host.up", 1.0)])
        assert [(e.rule, e.from_state, e.to_state) for e in ev] == [("no-data", "firing", "resolved")]
        assert store.alert(nid, now=T0 + 110).state == "resolved"


def test_series_that_keep_arriving_hold_no_dead_mans_switch_state():
    # At 5000 hosts one state per series (50k) held 27 MB for alerts that almost never fire.
    from opsdash.alerts.rules import builtin_rules

    eng = AlertEngine([r for r in builtin_rules() if r.name == "no-data"])
    for k in range(5):
        eng.observe([Sample(T0 + 10 * k, f"web-{i}", "host.up", 1.0) for i in range(100)])
        eng.tick(T0 + 10 * k + 5)
    assert sum(1 for s in eng._series.values() if s.nodata is not None) == 0
    ev = eng.tick(T0 + 40 + 31)  # one interval short of silence x3 ... then silent
    assert {e.target for e in ev} == {f"web-{i}" for i in range(100)}
    assert sum(1 for s in eng._series.values() if s.nodata is not None) == 100
