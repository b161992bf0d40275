"""Delivery to a real webhook receiver on loopback (an HTTP server in a thread): a storm of
20 hosts crossing the disk rule goes out as ONE notification listing all 20; an alert
silenced after firing still gets its resolve; the body is Alertmanager's webhook format
version 4 with a notification id; a receiver that is down gets it all once it is back,
each notification once; header secrets never reach the store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from opsdash.alerts import queue
from opsdash.alerts.engine import engine_for
from opsdash.config import parse_config
from opsdash.model import Sample
from opsdash.notify import Notifier
from opsdash.store import Store
from tests.support.notify_receivers import WebhookReceiver

pytestmark = pytest.mark.integration

RULE = """
[[rules]]
name = "disk"
metric = "host.disk_percent"
warn = 85
crit = 95
for = "0s"
"""


def config(url: str, hosts: int = 1, window: str = "1s", extra: str = "") -> str:
    text = "".join(f'[[hosts]]\nname = "web-{i:02d}"\ntags = {{ role = "web" }}\n' for i in range(1, hosts + 1))
    return text + RULE + (f'[[notify]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\ngroup_window = "{window}"\n'
                          f'retry_max = "1s"\n{extra}')


async def deliver_until(n: Notifier, done, timeout: float = 10.0) -> None:
    """Run the notifier's delivery task (reconciling as the collector's writer does) until ``done()``."""
    stop = asyncio.Event()
    task = asyncio.create_task(n.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for delivery"
            await asyncio.to_thread(n.reconcile)
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def disk(engine, target: str, pct: float) -> None:
    engine.observe([Sample(time.time(), target, "host.disk_percent", pct, {"mount": "/"})])


async def test_twenty_hosts_crossing_the_disk_rule_together_are_one_notification(tmp_path: Path) -> None:
    rec = WebhookReceiver().start()
    try:
        cfg = parse_config(config(rec.url, hosts=20, window="2s"))
        with Store(tmp_path / "s.sqlite") as store:
            engine = engine_for(cfg, store)
            n = Notifier(cfg, store)
            for i in range(1, 21):  # over a second or so, as 20 polls land
                disk(engine, f"web-{i:02d}", 90.0)
                n.reconcile()
                await asyncio.sleep(0.05)
            await deliver_until(n, lambda: rec.snapshot())
            await asyncio.sleep(1.0)  # nothing else follows
            (body,) = rec.snapshot()
            assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
            assert body["groupLabels"] == {"alertname": "disk"}
            assert sorted(a["labels"]["target"] for a in body["alerts"]) == [f"web-{i:02d}" for i in range(1, 21)]
            assert body["commonLabels"]["alertname"] == "disk" and body["commonLabels"]["role"] == "web"
            for key in ("groupKey", "truncatedAlerts", "commonAnnotations", "externalURL", "notificationId"):
                assert key in body
            assert len({a["eventId"] for a in body["alerts"]}) == 20
            a0 = body["alerts"][0]
            assert a0["labels"]["severity"] == "warning" and a0["labels"]["tier"] == "L1"
            assert a0["endsAt"] == "0001-01-01T00:00:00Z" and a0["annotations"]["summary"]
    finally:
        rec.stop()


async def test_an_alert_silenced_after_firing_still_gets_its_resolve(tmp_path: Path) -> None:
    rec = WebhookReceiver().start()
    try:
        cfg = parse_config(config(rec.url, window="0s"))
        with Store(tmp_path / "s.sqlite") as store:
            engine = engine_for(cfg, store)
            n = Notifier(cfg, store)
            disk(engine, "web-01", 90.0)
            await deliver_until(n, lambda: rec.alerts("firing"))
            queue.silence(store, {"target": "web-01"}, 3600, note="known, fixing")
            disk(engine, "web-01", 92.0)
            n.reconcile(force=True)
            disk(engine, "web-01", 10.0)
            await deliver_until(n, lambda: rec.alerts("resolved"))
            bodies = rec.snapshot()
            assert [b["status"] for b in bodies] == ["firing", "resolved"]
            fired, resolved = bodies[0]["alerts"][0], bodies[1]["alerts"][0]
            assert fired["fingerprint"] == resolved["fingerprint"] and resolved["endsAt"] > resolved["startsAt"]
            assert bodies[0]["notificationId"] != bodies[1]["notificationId"]
    finally:
        rec.stop()


async def test_a_receiver_that_was_down_gets_everything_once_when_it_returns(tmp_path: Path) -> None:
    rec = WebhookReceiver()  # not started: connection refused
    cfg = parse_config(config(rec.url, hosts=3, window="0s",
                              extra='headers = { Authorization = "Bearer s3cr3t-t0ken" }\n'))
    with Store(tmp_path / "s.sqlite") as store:
        engine = engine_for(cfg, store)
        n = Notifier(cfg, store)
        stop = asyncio.Event()
        task = asyncio.create_task(n.run(stop))
        try:
            for h in ("web-01", "web-02", "web-03"):
                disk(engine, h, 90.0)
            await asyncio.to_thread(n.reconcile, force=True)
            await asyncio.sleep(2.5)  # several failed tries
            disk(engine, "web-02", 10.0)
            await asyncio.to_thread(n.reconcile, force=True)
            c = store.notify_counts()["hook"]
            assert c["sent"] == 0 and c["failing"] == 1 and c["queued"] == 3, c
            assert "Connect" in c["last_error"] or "refused" in c["last_error"]
            rec.start()
            deadline = time.monotonic() + 10
            while len(rec.snapshot()) < 4:
                assert time.monotonic() < deadline, rec.snapshot()
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            rec.stop()
        bodies = rec.snapshot()
        assert len(bodies) == 4 and len({b["notificationId"] for b in bodies}) == 4
        # In the order decided: the resolve of web-02 after its firing.
        order = [(b["status"], b["alerts"][0]["labels"]["target"]) for b in bodies]
        assert order.index(("resolved", "web-02")) > order.index(("firing", "web-02"))
        assert all({k.lower(): v for k, v in h.items()}.get("authorization") == "Bearer s3cr3t-t0ken" for h in rec.headers)
        assert store.notify_counts()["hook"]["sent"] == 4
    raw = (tmp_path / "s.sqlite").read_bytes()
    assert b"s3cr3t-t0ken" not in raw
