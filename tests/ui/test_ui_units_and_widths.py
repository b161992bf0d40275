"""Small things people read: units in the Latency headers, Avail in %, mounts not cut where
there is room, the theme toast on one line, and `opsdash demo --port`."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from opsdash.config import load_config
from opsdash.ui.app import OpsdashApp
from opsdash.ui.data import fmt_avail
from opsdash.ui.table import RowTable, TableRow
from tests.support.ui_fixtures import NOW, build_store


def screen_text(app: OpsdashApp) -> str:
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), force_terminal=True, color_system=None, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


async def _settled(pilot) -> None:
    for _ in range(300):
        await pilot.pause(0.02)
        if pilot.app.settled:
            break
    await pilot.pause(0.05)


def _app(tmp_path: Path, **kw) -> OpsdashApp:
    path = build_store(tmp_path / "store.sqlite", NOW)
    kw.setdefault("save_theme", False)
    return OpsdashApp(store_path=path, now=lambda: NOW, user_themes=tmp_path / "none", theme="opsdash-dark",
                      poll_interval=3600, **kw)


def test_availability_is_a_percentage() -> None:
    assert [fmt_avail(v) for v in (99.5, 99.954, 99.999, 100.0, 0.0, None)] == \
        ["99.50%", "99.95%", "100%", "100%", "0.00%", "—"]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_latency_says_its_units_and_fits(tmp_path: Path, size: tuple[int, int]) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await _settled(pilot)
        await pilot.press("2")
        await pilot.pause(0.05)
        text = screen_text(app)
        header = next(ln for ln in text.splitlines() if "Endpoint" in ln)
        for label in ("p50 ms", "p95 ms", "p99 ms", "Avail", "Age"):
            assert label in header, header  # nothing scrolled off to the right
        row = next(ln for ln in text.splitlines() if "api-login" in ln and "local" in ln)
        assert "99.50%" in row and row.rstrip(" │").endswith("3s"), row


async def test_a_long_mount_is_shown_whole_in_the_160_column_grid(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await _settled(pilot)
        text = screen_text(app)
        assert "93% /var/lib/postgresql " in text, text


def test_the_room_goes_first_where_the_cells_need_it() -> None:
    cols = [("host", "Host", 10), ("disk", "Disk", 10)]
    rows = [TableRow("a", ("a", "93% /var/lib/postgresql"), ("a", "93% /var/lib/postgresql"))]
    t = RowTable(cols, lambda d: [], grow={"host": 1, "disk": 1}, measure=lambda d: [len(x) + 1 for x in d])
    t.set_rows(rows)
    t._fit(40)  # 20 to share: disk needs 14 of it, host none; the 6 left are shared by weight
    assert t._widths == [13, 27]
    plain = RowTable(cols, lambda d: [], grow={"host": 1, "disk": 1})
    plain.set_rows(rows)
    plain._fit(40)
    assert plain._widths == [20, 20]  # without measure: by weight, as before


async def test_the_theme_toast_shows_the_path_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    cfg_path = home / ".config" / "opsdash" / "config.toml"
    cfg_path.parent.mkdir(parents=True)
    cfg_path.write_text('[[hosts]]\nname = "web-1"\n')
    monkeypatch.setenv("HOME", str(home))
    app = _app(tmp_path, config=load_config(cfg_path), save_theme=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _settled(pilot)
        await pilot.press("t")
        from textual.widgets._toast import Toast

        toasts: list = []
        for _ in range(200):
            await pilot.pause(0.02)
            toasts = [t for t in app.screen.query(Toast) if "saved to" in str(t._notification.message)]
            if toasts and toasts[0].region.height:
                break
        assert toasts, list(app._notifications)
        message = str(toasts[0]._notification.message)
        assert message == "theme opsdash-light, saved to ~/.config/opsdash/config.toml", message
        assert toasts[0].region.height == 3, toasts[0].region  # one line of text and its padding
        assert toasts[0].region.width < 80


def _free_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65534:
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of ports")


def test_demo_port_puts_the_fleet_on_that_port_and_the_next(tmp_path: Path) -> None:
    port = _free_pair()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "opsdash", "demo", "--headless", "--hosts", "2", "--duration", "2s",
                        "--port", str(port), "--dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "OPSDASH_CONFIG": ""})
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{port} (ssh), endpoints on 127.0.0.1:{port + 1}" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 30


def test_demo_port_out_of_range_is_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "opsdash", "demo", "--port", "65535"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "--port" in r.stderr and "65534" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
