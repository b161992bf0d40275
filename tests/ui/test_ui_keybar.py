"""The main screen's footer (KeyBar): the focused widget's keys, with no widget churn."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from textual.widgets import Footer

from opsdash.ui.help import HelpScreen
from opsdash.ui.keybar import KeyBar
from tests.support.ui_app import LARGE, SMALL, make_app, ready
from tests.support.ui_fixtures import NOW, build_store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return build_store(tmp_path / "store.sqlite", NOW)


def bar_text(app) -> str:
    return app.query_one(KeyBar).render().plain


async def test_hints_follow_focus_and_the_group_shows_only_when_it_fits(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert not app.query(Footer)  # the main screen draws its keys with one widget
        text = bar_text(app)
        assert "⏎ Detail" in text and "/ Filter" in text and "q Quit" in text
        assert "noise handover note" not in text and "palette" not in text  # 80 columns: they do not fit
        assert len(text) <= SMALL[0]
        await pilot.press("slash")  # the line is the filter prompt now, not hints
        assert bar_text(app).startswith(" filter: ") and "⏎ Detail" not in bar_text(app)
        await pilot.press("escape")
        assert "⏎ Detail" in bar_text(app) and "filter:" not in bar_text(app)
    async with make_app(store_path).run_test(size=LARGE) as pilot:
        await ready(pilot)
        text = bar_text(pilot.app)
        assert "q Quit u Unsilence i Incidents l SLA  n h N noise handover note " in text
        assert text.endswith(" ^p palette ") and len(text) == LARGE[0]  # at the right edge
        await pilot.click(KeyBar, offset=(LARGE[0] - 5, 0))
        await pilot.pause()
        assert type(pilot.app.screen).__name__ == "CommandPalette"


async def test_a_click_on_a_hint_presses_its_key(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        text = bar_text(app)
        x = text.index("? Help") + 1
        await pilot.click(KeyBar, offset=(x, 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_moving_focus_leaves_no_widgets_behind(store_path: Path):
    # Textual's Footer recomposed a widget per key on every focus change; the dead widgets
    # were reference cycles that a full GC pass later freed all at once (a 0.5 s stall at
    # 1000 hosts). Switching panes and opening/closing the filter must leave no dead widget.
    from textual.widget import Widget

    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        for keys in (["2"], ["1"], ["slash"], ["x"], ["enter"], ["escape"]):  # warm up every state once
            await pilot.press(*keys)
        await pilot.pause()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(5):
                for keys in (["2"], ["3"], ["1"], ["slash"], ["x"], ["enter"], ["escape"]):
                    await pilot.press(*keys)
                await pilot.pause()
            gc.collect()
            dead = [type(o).__name__ for o in gc.garbage if isinstance(o, Widget)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert dead == []


async def test_a_hint_that_does_not_fit_is_left_out_not_cut(store_path: Path):
    app = make_app(store_path)
    narrow = (44, 24)
    async with app.run_test(size=narrow) as pilot:
        await ready(pilot)
        await pilot.press("enter")  # the drill-down: more keys than 44 columns hold
        for _ in range(50):
            await pilot.pause(0.02)
            if app.screen.query(KeyBar):
                break
        bar = app.screen.query_one(KeyBar)
        text = bar.render().plain
        whole = "".join(f" {h.display} {h.description}" for h in bar.hints() if h.group is None)
        assert len(whole) > narrow[0]  # the case under test: they do not all fit
        assert len(text) <= narrow[0] and whole.startswith(text) and whole[len(text)] == " "
