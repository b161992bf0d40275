"""The Incidents screen (i): the incidents, open first, and the sheet of the one under the cursor,
with hostile text shown literally; the pane keys are off while it covers the panes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from opsdash import incidents as I
from opsdash.store import Store
from opsdash.ui.dialogs import AckDialog
from opsdash.ui.incidents import IncidentsScreen
from tests.support.ui_app import LARGE, SMALL, make_app, ready, screen_text, until
from tests.support.ui_fixtures import NOW, build_store


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_i_lists_incidents_open_first_and_shows_the_sheet(tmp_path: Path, size):
    path = build_store(tmp_path / "store.sqlite", NOW, hostile=True)
    with Store(path) as s:
        old = I.open_incident(s, "a typo on the FAQ", who="ann", now=NOW - 7200, severity="P4")
        I.set_status(s, old.id, "resolved", who="ann", now=NOW - 3600)
        inc = I.open_incident(s, "checkout slow [red]x[/red] \x1b[2J", who="ann", now=NOW - 600, severity="P1")
        I.set_checklist(s, inc.id, "symptoms", "p95 650 ms", who="ann", now=NOW - 500)
    app = make_app(path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IncidentsScreen) and app.screen.sheets, "the incidents")
        table = app.screen.query_one("#incidents-table", DataTable)
        assert [k.value for k in table.rows] == [str(inc.id), str(old.id)]
        await pilot.pause()
        text = screen_text(app)
        assert f"Incident {inc.id}" in text and "[red]x[/red]" in text and "\x1b" not in text
        assert "[x] Symptoms: p95 650 ms" in text and "[ ] Reproduction: _empty_" in text
        await pilot.press("a")  # ack acts on a pane row nobody sees: off here
        await pilot.pause()
        assert not isinstance(app.screen, AckDialog)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, IncidentsScreen), "back")
