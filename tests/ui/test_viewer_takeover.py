"""A viewer takes over: a TUI that only read (another collector held the store's lock)
starts its embedded collector when that one stops, says so, and shows live values again."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from opsdash.collector_lock import CollectorLock
from opsdash.commands.run import embedded_collector
from opsdash.config import load_config
from opsdash.errors import StoreError
from opsdash.store import Store
from opsdash.ui.app import OpsdashApp

pytestmark = pytest.mark.integration


def screen_text(app: OpsdashApp) -> str:
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), force_terminal=True, color_system=None, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def host_t(store: Path) -> float:
    try:
        with Store(store, readonly=True) as s:
            rows = s.latest("host")
    except StoreError:  # being created
        return 0.0
    return max((r["t"] for r in rows), default=0.0)


@pytest.mark.parametrize("how", ["quit", "kill -9"])
async def test_a_reading_tui_takes_over_when_the_collector_stops(tmp_path: Path, how: str) -> None:
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text('[[hosts]]\nname = "self"\nprobes = ["local"]\ninterval = "1s"\n')
    store = tmp_path / "s.sqlite"
    other = subprocess.Popen([sys.executable, "-m", "opsdash", "collect", "--config", str(cfg_path), "--store",
                              str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = load_config(cfg_path)
    app = None
    try:
        deadline = time.monotonic() + 15
        while not (store.exists() and CollectorLock(store).holder() == other.pid and host_t(store)):
            assert time.monotonic() < deadline and other.poll() is None, "the first collector did not start"
            time.sleep(0.1)
        factory = embedded_collector(config, store)
        assert factory() is None  # the lock is held: this TUI only reads
        app = OpsdashApp(store_path=store, config=config, collector=None, collector_factory=factory)
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause(2.0)
            assert app.collector is None and "collector live" in screen_text(app)
            other.send_signal(signal.SIGTERM if how == "quit" else signal.SIGKILL)
            other.wait(10)
            stopped = time.time()
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                await pilot.pause(0.25)
                if app.collector is not None and host_t(store) > stopped and "took over" in screen_text(app):
                    break
            took = time.monotonic() - t0
            text = screen_text(app)
            assert app.collector is not None and app.collector.running and app.took_over
            assert "collector took over" in text, text
            assert host_t(store) > stopped, "no fresh reading in the store"
            assert took < 10, f"live again after {took:.1f}s"
            assert "self" in text
            with Store(store, readonly=True) as s:
                assert s.collector_status()["pid"] == os.getpid()
    finally:
        if app is not None and app.collector is not None:
            app.collector.stop(timeout=5)
        if other.poll() is None:
            other.kill()
            other.wait()
