"""The filter prompt on the bottom line: editing keys, paste, hostile text, and keys it must not take."""

from __future__ import annotations

from pathlib import Path

from textual import events

from opsdash.ui.filterline import FilterLine, printable
from tests.support.ui_app import LARGE, SMALL, _env, make_app, ready, screen_text, store_path, until  # noqa: F401


def test_printable_turns_line_breaks_into_spaces_and_drops_other_control_characters():
    assert printable("web\r\nrole=db\tx") == "web role=db x"
    assert printable("a\x1b[31mb\x07c\x00") == "a[31mbc"
    assert printable("ünïcødé ✓") == "ünïcødé ✓"


async def test_typing_editing_and_enter_keep_the_filter_and_give_the_keys_back(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        line = app.query_one(FilterLine)
        assert not line.prompting and not line.can_focus  # the hints line never takes keys
        await pilot.press("slash")
        assert line.prompting and app.focused is line
        assert "filter: text, or tag=value" in screen_text(app)  # the placeholder
        # letters that are app keys (q quit, a ack, s silence, r refresh, 2 pane) are text here
        await pilot.press(*"qasr2")
        assert line.value == "qasr2" and app.is_running and app.active_pane == "health"
        await pilot.press("left", "left", "backspace")  # "qas|r2" -> "qa|r2"
        assert (line.value, line.cursor) == ("qar2", 2)
        await pilot.press("delete", "home", "x", "end", "y")
        assert (line.value, line.cursor) == ("xqa2y", 5)
        await pilot.press("ctrl+u")
        assert (line.value, line.cursor) == ("", 0)
        await pilot.press(*"role=db web", "ctrl+w")
        assert line.value == "role=db "
        await pilot.press("backspace", "enter")
        await until(pilot, lambda: app.filter_text == "role=db", "the filter applied")
        health = app.pane("health")
        assert sorted(r.ref.target for r in health._rows.values()) == ["db-1", "db-2"]
        assert app.focused is health.table and line.prompting  # kept, and shown
        assert "filter: role=db" in screen_text(app)
        await pilot.press("2")  # the panes have the keys again
        assert app.active_pane == "latency"
        await pilot.press("slash")  # reopens with the filter in force, cursor at its end
        assert app.focused is line and line.cursor == len("role=db")
        await pilot.press("escape")
        await until(pilot, lambda: app.filter_text == "", "the filter cleared")
        assert not line.prompting and app.focused is app.pane("latency").table
        assert "Filter" in screen_text(app)  # the key hints are back


async def test_keys_typed_right_after_enter_reach_the_pane(store_path: Path):
    # "db-2", Enter, Enter in one burst (fast hands, a slow SSH link): the second Enter was
    # routed to the prompt before the first had moved the focus back, and was lost.
    from opsdash.ui.detail import DetailScreen

    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"db-2")
        for key in ("enter", "enter", "down"):  # all in the app's queue before any is handled
            app.post_message(events.Key(key, "\r" if key == "enter" else None))
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the drill-down of the row, opened")
        assert app.filter_text == "db-2" and app.query_one(FilterLine).prompting  # the filter kept
        assert app.screen.ref.target == "db-2"


async def test_enter_on_an_empty_prompt_closes_it(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash", "enter")
        line = app.query_one(FilterLine)
        assert not line.prompting and app.focused is app.pane("health").table


async def test_a_paste_is_one_line_of_plain_text(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        line = app.query_one(FilterLine)
        line.post_message(events.Paste("[red]web\n-1\x1b]8;;http://x\x07"))
        await until(pilot, lambda: app.filter_text == "[red]web -1]8;;http://x", "the pasted filter")
        text = screen_text(app)
        assert "filter: [red]web -1]8;;http://x" in text  # literally: no markup, no escape
        assert "\x1b" not in line.value


async def test_a_long_filter_scrolls_sideways_to_keep_the_cursor_in_view(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash", *("abcdefghij" * 9), "Z")
        bottom = screen_text(app).rstrip("\n").split("\n")[-1]
        assert bottom.rstrip().endswith("abcdefghijZ") and " filter: " in bottom
        assert len(bottom.rstrip()) <= SMALL[0]
        await pilot.press("home")
        bottom = screen_text(app).rstrip("\n").split("\n")[-1]
        assert "filter: abcdefghijabc" in bottom


async def test_focus_moves_do_not_repaint_hints_that_did_not_change(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        line = app.query_one(FilterLine)
        repaints = []
        refresh = line.refresh
        line.refresh = lambda *a, **k: (repaints.append(1), refresh(*a, **k))[1]
        await pilot.press("2", "3", "1")  # table to table: the same keys
        await pilot.pause(0.1)
        assert app.active_pane == "health" and repaints == []
        await pilot.press("slash")  # the prompt: this line changes
        await pilot.pause(0.05)
        assert repaints


async def test_a_click_on_the_prompt_takes_the_keys_back_and_presses_no_hint(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"web", "enter")
        line = app.query_one(FilterLine)
        assert app.focused is app.pane("health").table
        await pilot.click(FilterLine, offset=(66, 0))  # where "? Help" is drawn when it shows hints
        await pilot.pause()
        assert app.focused is line and type(app.screen).__name__ == "DashboardScreen"
        await pilot.press("-", "1")
        await until(pilot, lambda: app.filter_text == "web-1", "typing after the click")
