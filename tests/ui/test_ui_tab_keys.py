"""Tab and Shift+Tab walk the panes, in the tabs layout (80x24) and the grid (160x48)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsdash.ui.app import OpsdashApp
from tests.support.ui_fixtures import NOW, build_store


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_tab_and_shift_tab_walk_the_panes(tmp_path: Path, size: tuple[int, int]) -> None:
    path = build_store(tmp_path / "store.sqlite", NOW)
    app = OpsdashApp(store_path=path, now=lambda: NOW, save_theme=False, user_themes=tmp_path / "none",
                     poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        seen = []
        for _ in range(6):
            await pilot.press("tab")
            seen.append(app.active_pane)
            assert app.focused is app.pane(app.active_pane).table
        assert seen == ["latency", "cache", "patches", "backups", "alerts", "health"]
        await pilot.press("shift+tab")
        assert app.active_pane == "alerts"
        await pilot.press("slash", "w", "tab")  # typing a filter: Tab stays in the prompt
        assert app.active_pane == "alerts"
