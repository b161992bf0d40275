"""The SLA screen (``l``): ``opsdash sla`` in the TUI.

The report layer (``opsdash.report.sla``) does the work, in a thread worker on a
read-only Store (``exit_on_error=False``: a failure is shown, never a crash); the
screen shows the report's Markdown as the handover screen does (``handover_blocks``:
tables in aligned columns, every cell literal text). ``p`` switches the longest
period between 30 and 7 days.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from ..config import Config, empty_config
from ..report.sla import sla_report, to_markdown
from ..store import Store
from .data import fmt_age
from .keybar import KeyBar
from .safetext import join
from .shift import handover_blocks

SLA_PERIODS = (30 * 86400.0, 7 * 86400.0)


class SLAScreen(Screen[None]):
    """Availability, error budget and burn-rate alerts per endpoint; MTTA/MTTR and breaches."""

    BINDINGS = [
        Binding("p", "period", "30d/7d"),
        Binding("r", "reload", "Reload"),
        Binding("escape,q", "close", "Back"),
    ]

    class Loaded(Message):
        def __init__(self, markdown: str | None, error: str | None) -> None:
            super().__init__()
            self.markdown = markdown
            self.error = error

    def __init__(self, store_path: Path, config: Config | None, now: Callable[[], float]) -> None:
        super().__init__(classes="shift-screen")
        self.store_path = store_path
        self.config = config
        self.now = now
        self.since = SLA_PERIODS[0]
        self.markdown: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="sla-title", classes="shift-title")
        with VerticalScroll(id="sla-body"):
            yield Static(Text("loading…", style="italic"), id="sla-text")
        yield KeyBar()

    def _title(self) -> Text:
        return join(("SLA", "bold"), f"  last {fmt_age(self.since)}  ", ("p", "bold"), " switches 30d/7d")

    def on_mount(self) -> None:
        self.query_one("#sla-body").focus()
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_period(self) -> None:
        self.since = SLA_PERIODS[(SLA_PERIODS.index(self.since) + 1) % len(SLA_PERIODS)]
        self.query_one("#sla-title", Static).update(self._title())
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        try:
            with Store(self.store_path, readonly=True) as store:
                text = to_markdown(sla_report(store, self.config or empty_config(), since=self.since, now=self.now()))
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.post_message(self.Loaded(None, str(e)))
            return
        self.post_message(self.Loaded(text, None))

    def on_slascreen_loaded(self, msg: "SLAScreen.Loaded") -> None:
        body = self.query_one("#sla-text", Static)
        if msg.markdown is None:
            body.update(join(("cannot build the SLA report: ", "bold"), (msg.error or "", "")))
            return
        self.markdown = msg.markdown
        body.update(Group(*handover_blocks(msg.markdown)))
