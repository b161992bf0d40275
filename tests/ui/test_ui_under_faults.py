"""The TUI stays responsive and correct while hosts misbehave (issue 8).

A real embedded collector polls a fleet in which hosts stall, flood, drop the
connection or never answer; meanwhile keys switch panes and the screen must
follow at once and show each host's state in words.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual import events

from opsdash.collect.collector import CollectorThread
from opsdash.config import parse_config
from opsdash.ui.app import OpsdashApp
from tests.support.servers import FaultServer
from tests.support.sshd import Sshd

pytestmark = pytest.mark.integration


def screen_text(app: OpsdashApp) -> str:
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), force_terminal=True, color_system=None, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


async def test_keys_answer_at_once_while_the_fleet_misbehaves(sshd: Sshd, tmp_path: Path, silent_listener: int) -> None:
    servers = [FaultServer(mode, tmp_path) for mode in ("stall", "flood", "drop")]
    try:
        with open(sshd.known_hosts, "a") as f:
            f.writelines(s.known_line for s in servers)
        cfg = parse_config(
            '[defaults]\ninterval = "1s"\ntimeout = "2s"\n'
            + "".join(sshd.host_toml(f"good-{i}") for i in range(5))
            + "".join(sshd.host_toml(f"bad-{s.proc.args[2]}", port=s.port) for s in servers)
            + sshd.host_toml("bad-mute", port=silent_listener)
        )
        store = tmp_path / "store.sqlite"
        collector = CollectorThread(cfg, store)
        collector.start()
        app = OpsdashApp(store_path=store, config=cfg, collector=collector, poll_interval=0.5)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                # Setup: wait until every host has a first reading in the store (the
                # ground truth; generous, as a loaded CI machine is slow to start).
                from opsdash.store import Store

                names = {h.name for h in cfg.hosts}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    await pilot.pause(0.5)
                    if store.exists():
                        with Store(store, readonly=True) as reader:
                            seen = {r["target"]: r["data"]["state"] for r in reader.latest("host")}
                        if set(seen) == names:
                            break
                assert set(seen) == names, seen
                assert {seen[f"good-{i}"] for i in range(5)} == {"ok"}
                assert seen["bad-mute"] == "timeout" and seen["bad-stall"] == "timeout", seen
                assert seen["bad-flood"] == "error" and seen["bad-drop"] == "error", seen
                await pilot.pause(1.5)  # the UI's next refresh
                text = screen_text(app)
                for i in range(5):
                    assert f"good-{i}" in text
                assert "timeout" in text and "error" in text
                # Key to screen: post the key, then watch the screen for the pane's header.
                marks = {"1": "Ld/c", "2": "p95", "3": "Hit", "4": "Pend", "5": "Restore", "6": "Summary"}
                latencies = []
                for key in "234561234561":
                    t0 = time.perf_counter()
                    app.post_message(events.Key(key, key))
                    while marks[key] not in screen_text(app):
                        assert time.perf_counter() - t0 < 3, f"key {key}: the screen never followed"
                        await asyncio.sleep(0.005)
                    latencies.append(time.perf_counter() - t0)
                latencies.sort()
                # Generous bounds (the screen polling itself costs time): a stalled or
                # flooding host must not freeze the UI, which would show as seconds here.
                assert latencies[len(latencies) // 2] < 0.25, latencies
                assert latencies[-1] < 1.0, latencies
        finally:
            collector.stop(timeout=5)
        assert not collector.running
    finally:
        for s in servers:
            s.stop()
