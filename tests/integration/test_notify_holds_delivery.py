"""Holds end to end: the engine, the store and the notifier delivering to a real webhook
receiver on loopback. During a maintenance window over a down host nothing is sent, and
the page goes out as soon as the window ends with the host still down; a parent down with
10 dependants down behind it is one notification, naming the 10."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import engine_for
from opsdash.config import parse_config
from opsdash.model import Sample, iso
from opsdash.notify import Notifier
from opsdash.store import Store
from tests.support.notify_receivers import WebhookReceiver

pytestmark = pytest.mark.integration

HOOK = '[[notify]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\ngroup_window = "0s"\nretry_max = "1s"\n'


async def run_for(n: Notifier, engine, targets: list[str], seconds: float, until=lambda: False) -> None:
    """`seconds` of polls every 0.5 s (the targets down), reconciling and delivering as the collector does."""
    stop = asyncio.Event()
    task = asyncio.create_task(n.run(stop))
    t_end = time.monotonic() + seconds
    try:
        while time.monotonic() < t_end and not until():
            now = time.time()
            engine.observe([Sample(now, x, "host.up", 0.0) for x in targets])
            engine.tick(now)
            await asyncio.to_thread(n.reconcile, now, force=True)
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_nothing_is_sent_during_a_window_and_the_outage_is_paged_when_it_ends(tmp_path: Path) -> None:
    rec = WebhookReceiver().start()
    try:
        start = int(time.time())
        text = ('[[hosts]]\nname = "db-1"\ntags = { role = "db" }\ninterval = "1s"\n'
                f'[[maintenance]]\nname = "patching"\nmatch = {{ role = "db" }}\nstart = "{iso(start)}"\n'
                'duration = "5s"\n' + HOOK.format(url=rec.url))
        cfg = parse_config(text)
        with Store(tmp_path / "s.sqlite") as store:
            engine = engine_for(cfg, store)
            n = Notifier(cfg, store)
            await run_for(n, engine, ["db-1"], start + 4 - time.time())
            a = next(a for a in store.alerts(states=("firing",)) if a.rule == "host-down")
            assert a.suppressed_by == "maintenance patching"
            assert rec.snapshot() == []  # down and firing for seconds, inside the window: nothing sent
            await run_for(n, engine, ["db-1"], 30, until=lambda: rec.alerts("firing"))
            sent_at = time.time()
            assert rec.alerts("firing"), "the outage was never paged after the window"
            assert sent_at - (start + 5) < 30
            (body,) = rec.snapshot()
            assert body["alerts"][0]["labels"]["target"] == "db-1"
            assert body["alerts"][0]["labels"]["alertname"] == "host-down"
    finally:
        rec.stop()


async def test_a_parent_down_with_ten_dependants_is_one_notification_naming_them(tmp_path: Path) -> None:
    rec = WebhookReceiver().start()
    try:
        apps = [f"app-{i:02d}" for i in range(1, 11)]
        text = '[[hosts]]\nname = "bastion"\ninterval = "1s"\n' + "".join(
            f'[[hosts]]\nname = "{x}"\njump = "bastion"\ninterval = "1s"\n' for x in apps) + HOOK.format(url=rec.url)
        cfg = parse_config(text)
        with Store(tmp_path / "s.sqlite") as store:
            engine = engine_for(cfg, store)
            n = Notifier(cfg, store)
            # the dependants' failures come in first, as they would through a dead jump host
            await run_for(n, engine, [*apps, "bastion"], 30, until=lambda: rec.alerts("firing"))
            await run_for(n, engine, [*apps, "bastion"], 2.0)  # and nothing else follows
            bodies = rec.snapshot()
            assert len(bodies) == 1, [b["alerts"][0]["labels"]["target"] for b in bodies]
            (alert,) = bodies[0]["alerts"]
            assert alert["labels"]["target"] == "bastion"
            summary = alert["annotations"]["summary"]
            assert "10 dependants suppressed: " + ", ".join(apps) in summary
            held = [a for a in store.alerts(states=("firing",)) if a.target in apps and a.rule == "host-down"]
            assert len(held) == 10 and {a.suppressed_by for a in held} == {"bastion down"}
    finally:
        rec.stop()
