"""What the UI thread no longer does itself: a lone Esc's wait, and a refresh's row bookkeeping.

How fast keys reach the screen is measured in bench/tui_bench.py, not here; these
check that the cheaper paths give the same screen as the ones they replace.
"""

from __future__ import annotations

from pathlib import Path

from opsdash.ui.data import PANES, match_all
from opsdash.ui.driver import SPLIT_WAIT, esc_due
from tests.support.ui_app import LARGE, make_app, ready, store_path  # noqa: F401 - fixture


def test_a_read_ending_in_a_bare_esc_waits_only_for_the_rest_of_a_sequence():
    assert esc_due(None, "\x1b", 100.0) is None  # nothing pending
    assert esc_due(100.05, "\x1b", 100.0) == 100.0 + SPLIT_WAIT  # a lone Esc: due soon
    assert esc_due(100.05, "ab\x1b", 100.0) == 100.0 + SPLIT_WAIT
    assert esc_due(100.05, "\x1b[", 100.0) == 100.05  # inside a sequence: ESCDELAY as before
    assert esc_due(100.005, "\x1b", 100.0) == 100.005  # never later than ESCDELAY


async def test_prepared_rows_show_what_the_ui_thread_would_have_built(store_path: Path):
    app = make_app(store_path)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        view = app.view
        for pane_id in PANES:
            pane = app.pane(pane_id)
            rows = view.rows.get(pane_id, [])
            prepared = pane.prepare(rows)
            pane.apply(rows, app._styles, match_all, prepared=prepared)
            with_prepared = (pane.table.row_keys, pane.table._needs, dict(pane._rows), pane.shown, pane.total)
            pane.apply(rows, app._styles, match_all)  # the same rows, built here
            built = (pane.table.row_keys, pane.table._needs, dict(pane._rows), pane.shown, pane.total)
            assert with_prepared == built, pane_id
            assert pane.table.row_count == len(prepared.table_rows)
            assert prepared.worst == max((r.level for r in rows), default=0)
            # made for other rows (an older view), it is not used
            pane.apply(rows[:1], app._styles, match_all, prepared=prepared)
            assert pane.table.row_count <= 1


async def test_replaced_rows_are_freed_by_the_worker_not_the_ui_thread(store_path: Path):
    app = make_app(store_path, poll_interval=3600)  # only the polls below load (and free)
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        old = app.view
        app.apply_view(old)  # the same view again: nothing of it is dead
        assert not any(x is old for x in app._graveyard)
        app.poll(urgent=True)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.view is not old and app.settled:
                break
        assert app.view is not old
        assert any(x is old for x in app._graveyard)  # kept for the next load to free
        app.poll(urgent=True)
        for _ in range(200):
            await pilot.pause(0.02)
            if not any(x is old for x in app._graveyard):
                break
        assert not any(x is old for x in app._graveyard)
