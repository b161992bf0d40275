"""What each [[notify]] target is told, decided level-triggered from the store's alert state
(opsdash/notify/decide.py via Notifier.reconcile): hard firing only, no repeats, a resolve
for every firing told (no orphans), holds (silence, suppression) that end while the alert
fires are told then. Real SQLite store, fake clock, no network."""

from __future__ import annotations

from pathlib import Path

from opsdash.alerts import queue
from opsdash.alerts.engine import engine_for
from opsdash.config import parse_config
from opsdash.model import Alert, Sample
from opsdash.notify import Notifier
from opsdash.store import Store

CONFIG = """
[[hosts]]
name = "web-1"
tags = { role = "web" }
[[hosts]]
name = "db-1"
tags = { role = "db" }

[[rules]]
name = "disk"
metric = "host.disk_percent"
warn = 85
crit = 95
for = "0s"

[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
group_window = "0s"

[[notify]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9"
match = { role = "web" }
"""


def setup(tmp_path: Path, text: str = CONFIG):
    cfg = parse_config(text)
    store = Store(tmp_path / "s.sqlite")
    engine = engine_for(cfg, store)
    return cfg, store, engine, Notifier(cfg, store)


def disk(engine, t: float, target: str, pct: float) -> None:
    engine.observe([Sample(t, target, "host.disk_percent", pct, {"mount": "/"})])


def outbox(store: Store, target: str = "hook") -> list[tuple[str, str]]:
    return [(r.event, ev["target"]) for r in store.notifications(target=target) for ev in r.alerts]


def test_a_firing_alert_is_told_once_and_its_resolve_once(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    n.reconcile(1010, force=True)
    disk(engine, 1020, "web-1", 90)
    n.reconcile(1020, force=True)
    assert outbox(store) == [("firing", "web-1")]
    disk(engine, 1030, "web-1", 10)
    n.reconcile(1030)
    n.reconcile(1040, force=True)
    assert outbox(store) == [("firing", "web-1"), ("resolved", "web-1")]


def test_match_picks_the_alerts_a_target_gets(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    disk(engine, 1000, "db-1", 90)
    n.reconcile(1000)
    assert sorted(outbox(store)) == [("firing", "db-1"), ("firing", "web-1")]
    assert outbox(store, "am") == [("firing", "web-1")]


def test_silenced_after_firing_the_resolve_is_still_sent(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    queue.silence(store, {"target": "web-1"}, 3600, now=1005)
    n.reconcile(1010, force=True)
    assert outbox(store) == [("firing", "web-1")]
    disk(engine, 1020, "web-1", 10)
    n.reconcile(1020, force=True)
    assert outbox(store) == [("firing", "web-1"), ("resolved", "web-1")]


def test_acked_after_firing_is_not_repeated_and_still_resolves(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    (a,) = store.alerts(states=("firing",), now=1000)
    queue.ack(store, a.id, note="on it", sticky=True, now=1001)
    disk(engine, 1010, "web-1", 91)
    n.reconcile(1010, force=True)
    assert outbox(store) == [("firing", "web-1")]
    disk(engine, 1020, "web-1", 10)
    n.reconcile(1020, force=True)
    assert outbox(store) == [("firing", "web-1"), ("resolved", "web-1")]


def test_a_silence_that_ends_while_the_alert_fires_lets_it_page_then(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    sid = queue.silence(store, {"target": "web-1"}, 3600, now=990)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    assert outbox(store) == []
    queue.unsilence(store, sid, now=1100)
    n.reconcile(1101)
    assert outbox(store) == [("firing", "web-1")]


def test_suppressed_alerts_wait_like_silenced_ones(tmp_path: Path) -> None:
    """Alert.suppressed_by (a maintenance window, a parent down) holds the page; when it
    clears and the alert still fires, it pages."""
    cfg, _store, _engine, _n = setup(tmp_path)
    from opsdash.notify.decide import decide

    a = Alert(id="a1", rule="disk", target="web-1", severity="warning", state="firing", since=1000.0, value=90.0,
              labels={"role": "web"}, suppressed_by="maintenance sat-patching")
    hook = cfg.notify[0]
    events, states, _ = decide(hook, [a], {}, 1000.0)
    assert events == [] and states == []
    a.suppressed_by = None
    events, states, _ = decide(hook, [a], {}, 1100.0)
    assert [e.event for e in events] == ["firing"]


def test_pending_flapping_and_inhibited_alerts_are_not_told(tmp_path: Path) -> None:
    cfg, _store, _engine, _n = setup(tmp_path)
    from opsdash.notify.decide import decide

    base = dict(rule="disk", target="web-1", severity="warning", since=1000.0, value=90.0)
    alerts = [Alert(id="p", state="pending", **base), Alert(id="f", state="firing", flapping=True, **base),
              Alert(id="i", state="firing", inhibited=True, **base),
              Alert(id="x", state="firing", source="am-source", **base)]
    assert decide(cfg.notify[0], alerts, {}, 1000.0)[0] == []


def test_an_escalation_is_told_and_alertmanager_swaps_the_label_set(tmp_path: Path) -> None:
    _cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    disk(engine, 1010, "web-1", 97)  # critical: tier L1 -> L2
    n.reconcile(1010)
    assert outbox(store) == [("firing", "web-1"), ("escalation", "web-1")]
    (esc,) = [r for r in store.notifications(target="am") if r.event == "escalation"]
    ev = esc.alerts[0]
    assert ev["labels"]["severity"] == "critical" and ev["labels"]["tier"] == "L2"
    assert ev["replaces"]["severity"] == "warning" and ev["replaces"]["tier"] == "L1"
    from opsdash.notify.alertmanager import am_alerts

    body = am_alerts([ev], 1010.0)
    assert [("endsAt" in x, x["labels"]["severity"]) for x in body] == [(True, "warning"), (False, "critical")]


def test_a_collector_restart_does_not_tell_again(tmp_path: Path) -> None:
    cfg, store, engine, n = setup(tmp_path)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    engine2 = engine_for(cfg, store)  # restored from the store, as after a restart
    n2 = Notifier(cfg, store)
    disk(engine2, 1015, "web-1", 90)
    n2.reconcile(1015)
    assert outbox(store) == [("firing", "web-1")]
    disk(engine2, 1030, "web-1", 10)
    n2.reconcile(1030)
    assert outbox(store) == [("firing", "web-1"), ("resolved", "web-1")]


def test_storm_events_within_the_window_share_one_notification(tmp_path: Path) -> None:
    text = CONFIG.replace('group_window = "0s"', 'group_window = "30s"')
    _cfg, store, engine, n = setup(tmp_path, text)
    disk(engine, 1000, "web-1", 90)
    n.reconcile(1000)
    disk(engine, 1010, "db-1", 90)
    n.reconcile(1010)
    (row,) = store.notifications(target="hook")
    assert sorted(ev["target"] for ev in row.alerts) == ["db-1", "web-1"]
    assert store.claim_notification("hook", 1020) is None  # the window is still open
    assert store.claim_notification("hook", 1031).id == row.id
