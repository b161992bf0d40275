"""Snapshot tests (pytest-textual-snapshot) of the layouts at 80x24 and 160x48, clock frozen.

Update after an intended change with ``pytest tests/ui/test_ui_snapshots.py --snapshot-update``
and look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opsdash.ui.app import OpsdashApp
from tests.support.ui_fixtures import NOW, build_store


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    # The snapshots are the truecolor themes, whatever TERM the test runs under (on a 16- or
    # 256-colour TERM the app adjusts the level colours: test_ui_low_color.py).
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def _app(tmp_path: Path) -> OpsdashApp:
    path = build_store(tmp_path / "store.sqlite", NOW)
    return OpsdashApp(store_path=path, now=lambda: NOW, save_theme=False, user_themes=tmp_path / "none",
                      theme="opsdash-dark", poll_interval=3600)


async def _loaded(pilot) -> None:
    app = pilot.app
    for _ in range(300):
        await pilot.pause(0.02)
        if app.settled:
            break
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_layout(snap_compare, tmp_path: Path, size):
    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=_loaded)


def test_alerts_tab_80x24(snap_compare, tmp_path: Path):
    async def before(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("6")
        await pilot.pause(0.1)

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=before)
