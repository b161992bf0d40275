"""The help screen: every key, generated from the bindings so it never drifts."""

from __future__ import annotations

from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANE_KEYS = [
    ("↑ ↓ PgUp PgDn Home End", "move in the table; scroll this help and a drill-down"),
    ("Tab / Shift+Tab", "next / previous pane"),
    ("Ctrl+P", "command palette: every action by name"),
    ("Esc", "clear the filter, close a screen"),
    ("w", "in the handover (h): write it to a file"),
    ("r", "in a detail, noise or handover screen: reload it"),
]
FILTER_HELP = (
    "Filter: words match anywhere in a row (web-1, stale, restore); "
    "key=value matches a tag (role=db, region=eu-west) or host=, state=. "
    "All terms must match."
)
LEGEND = ("✖ critical/down   ▲ warning   ● ok   ? unknown   "
          "◌ stale: no fresh poll for 3 intervals; Health keeps the last known state, dimmed (◌ down)")


def key_name(b: Binding) -> str:
    if b.key_display:
        return b.key_display
    names = {"slash": "/", "question_mark": "?", "enter": "Enter", "escape": "Esc", "ctrl+c": "Ctrl+C"}
    return ", ".join(names.get(k, k) for k in b.key.split(","))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, bindings: Iterable[Binding]) -> None:
        super().__init__(classes="dialog-screen")
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        seen = set()
        for b in self.bindings:
            if b.description and b.action not in seen:
                seen.add(b.action)
                table.add_row(Text(key_name(b)), Text(b.description))
        for k, d in PANE_KEYS:
            table.add_row(Text(k), Text(d))
        with VerticalScroll(classes="dialog help"):
            yield Static(Text("opsdash keys", style="bold"), classes="dialog-title")
            yield Static(table)
            yield Static(Text(FILTER_HELP), classes="dialog-note")
            yield Static(Text(LEGEND), classes="dialog-note")
            yield Static(Text("Esc or ? closes this screen.", style="italic"), classes="dialog-help")

    def on_mount(self) -> None:
        # The keys scroll the help only once it has focus: nothing else on this screen takes it.
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
