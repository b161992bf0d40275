"""The Incidents screen (``i``): the incidents, open first, and the sheet of the one under
the cursor (status, checklist, linked and proposed alerts, timeline).

The work is opsdash/incidents.py and report/postmortem.py; this screen loads it in a
thread worker (a read-only Store, ``exit_on_error=False``: a failure is shown, never a
crash) and shows the sheet's Markdown as literal text, its tables in aligned columns
(``shift.handover_blocks``), so remote and human text is never markup. Changes are made
with `opsdash incident ...` (the key bar says so); ``r`` reloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ..config import Config
from ..store import Store
from .data import fmt_age
from .keybar import KeyBar
from .safetext import join, safe
from .shift import handover_blocks


class IncidentsScreen(Screen[None]):
    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("escape,q", "close", "Back"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[Any], sheets: dict[int, str], error: str | None) -> None:
            super().__init__()
            self.rows = rows
            self.sheets = sheets
            self.error = error

    def __init__(self, store_path: Path, config: Config | None, now: Callable[[], float]) -> None:
        super().__init__(classes="shift-screen")
        self.store_path = store_path
        self.config = config
        self.now = now
        self.sheets: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(join(("Incidents", "bold"), "  open first; change them with ", ("opsdash incident", "bold"),
                          " (open, link, status, note, checklist, escalate)"), classes="shift-title")
        yield DataTable(id="incidents-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="incident-body"):
            yield Static(Text("loading…", style="italic"), id="incident-text")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#incidents-table", DataTable)
        table.styles.height = 8
        for key, label, width in (("id", "Id", 4), ("sev", "Sev", 4), ("status", "Status", 13), ("tier", "Tier", 4),
                                  ("age", "Age", 8), ("text", "Report", 60)):
            table.add_column(Text(label), width=width, key=key)
        table.focus()
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        from .. import incidents
        from ..report.postmortem import incident_markdown

        now = self.now()
        try:
            with Store(self.store_path, readonly=True) as store:
                rows = store.incidents(since=now - 7 * 86400.0)
                rows.sort(key=lambda i: (i.status == "resolved", -i.t))
                sheets = {i.id: incident_markdown(incidents.view(store, i.id, self.config, now)) for i in rows[:50]}
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.post_message(self.Loaded([], {}, str(e)))
            return
        self.post_message(self.Loaded(rows, sheets, None))

    def on_incidents_screen_loaded(self, msg: "IncidentsScreen.Loaded") -> None:
        body = self.query_one("#incident-text", Static)
        if msg.error is not None:
            body.update(join(("cannot read the store: ", "bold"), (msg.error, "")))
            return
        self.sheets = msg.sheets
        table = self.query_one("#incidents-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        now = self.now()
        for i in msg.rows:
            age = fmt_age((i.resolved_at or now) - i.t)
            table.add_row(Text(str(i.id)), safe(i.severity), Text(i.status), Text(i.tier), Text(age), safe(i.text),
                          key=str(i.id))
        if not msg.rows:
            body.update(Text('No incidents in the last 7 days. Open one: opsdash incident open "what was reported"'))
            return
        table.move_cursor(row=min(cursor, len(msg.rows) - 1), animate=False)
        self._show(msg.rows[min(max(cursor, 0), len(msg.rows) - 1)].id)

    @on(DataTable.RowHighlighted, "#incidents-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._show(int(event.row_key.value))

    def _show(self, incident_id: int) -> None:
        text = self.sheets.get(incident_id)
        body = self.query_one("#incident-text", Static)
        body.update(Group(*handover_blocks(text)) if text else Text("(older than the 50 shown)"))
