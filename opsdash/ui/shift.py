"""Shift tools: the Noise screen (``n``), the Handover screen (``h``; ``w`` writes
it to a file) and the note editor (``N``: a note for the next shift).

The report layer (``opsdash.report.handover``) does the work; these screens load
it in a thread worker (a read-only Store, ``exit_on_error=False``: a failure is
shown, never a crash) and show it. Remote text stays literal: noise-table cells
are ``safe()`` Text, and the handover is the report's Markdown (every remote
string already Markdown-escaped by the report) shown as literal text, the bytes
``w`` writes, with one difference: its tables are laid out in aligned columns
(``HandoverTable``; each cell's text exactly as in the file), because a pipe
table wider than the terminal wraps into an unreadable tangle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, Static

from ..config import Config
from ..fsutil import write_atomic
from ..report.handover import handover, noise_table, plural, to_markdown
from ..store import Store
from .data import fmt_age
from .dialogs import dialog_buttons
from .safetext import clean, join, safe
from .keybar import KeyBar

NOISE_DAYS = 7
HANDOVER_S = 8 * 3600.0

# (key, label, width) after the rule column; numbers are right-aligned.
NOISE_COLUMNS = (
    ("pages", "Pages", 5), ("pages_per_day", "/day", 5), ("alerts", "Alerts", 6), ("flap_episodes", "Flaps", 5),
    ("flap_percent", "Flap%", 5), ("acked", "Acked", 5), ("unacked", "Unack", 5), ("median_ack_s", "Ack p50", 7),
)
NOISE_LEGEND = (
    "Page: a firing transition not inhibited, silenced or flapping.  Flap%: share of the "
    "rule's alerts that flapped.  Ack p50: median time from page to ack."
)


def _num(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    return f"{v:g}" if isinstance(v, float) else str(v)


class NoiseScreen(Screen[None]):
    """Per rule over the last 7 days: pages, pages per day, flap %, time to ack; worst first."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]], error: str | None) -> None:
            super().__init__()
            self.rows = rows
            self.error = error

    def __init__(self, store_path: Path, now: Callable[[], float], styles: dict[str, Any],
                 days: float = NOISE_DAYS) -> None:
        super().__init__(classes="shift-screen")
        self.store_path = store_path
        self.now = now
        self.palette = styles
        self.days = days
        self.rows: list[dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(join((f"Noise, last {self.days:g} days", "bold"), "  per rule, worst first"), classes="shift-title")
        yield Static(Text("loading…", style="italic"), id="noise-summary", classes="shift-note")
        yield DataTable(id="noise-table", cursor_type="row", zebra_stripes=False)
        yield Static(Text(NOISE_LEGEND), classes="shift-note")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#noise-table", DataTable).focus()
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        try:
            with Store(self.store_path, readonly=True) as store:
                rows = noise_table(store, self.now(), days=self.days)
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.post_message(self.Loaded([], str(e)))
            return
        self.post_message(self.Loaded(rows, None))

    def on_noise_screen_loaded(self, msg: "NoiseScreen.Loaded") -> None:
        summary = self.query_one("#noise-summary", Static)
        if msg.error is not None:
            summary.update(join(("cannot read the store: ", "bold"), (msg.error, "")))
            return
        self.rows = msg.rows
        pages = sum(r["pages"] for r in msg.rows)
        if msg.rows:
            summary.update(Text(f"{plural(len(msg.rows), 'rule')}, {plural(pages, 'page')} ({pages / self.days:.1f} a day)"))
        else:
            summary.update(Text(f"no alert transitions in the last {self.days:g} days"))
        self._fill()

    def on_resize(self) -> None:
        if self.rows is not None:
            self._fill()

    def _fill(self) -> None:
        """(Re)build the table: a few dozen rules, and the rule column fits the width."""
        table = self.query_one("#noise-table", DataTable)
        rows = self.rows or []
        fixed = sum(w + 2 for _, _, w in NOISE_COLUMNS) + 2 + 1  # cell padding, rule padding, scrollbar
        longest = max((len(clean(r["rule"])) for r in rows), default=4)
        rule_w = max(12, min(longest, (self.size.width or 80) - fixed))
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_column(Text("Rule"), width=rule_w, key="rule")
        for key, label, width in NOISE_COLUMNS:
            table.add_column(Text(label, justify="right"), width=width, key=key)
        muted = self.palette.get("muted", "")
        warn = self.palette.get("warn", "")
        for r in rows:
            cells = [safe(r["rule"])]
            for key, _, width in NOISE_COLUMNS:
                v = r.get(key)
                text = fmt_age(v) if key == "median_ack_s" and v is not None else _num(v)
                if key == "flap_percent" and isinstance(v, (int, float)):
                    text = f"{v:.0f}%"
                style = muted if not v else warn if key == "unacked" else ""
                cells.append(Text(text, style=style, justify="right", no_wrap=True))
            table.add_row(*cells, key=str(r["rule"]))
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)


def _cells(line: str) -> list[str] | None:
    """The cells of one row of a pipe table (``| a | b\\|c |``), or None if it is not one.
    A backslash escapes the next character (the report writes a literal pipe as ``\\|``)."""
    line = line.strip()
    if len(line) < 2 or not line.startswith("|"):
        return None
    cells, cur, esc = [], "", False
    for ch in line:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            cur, esc = cur + ch, True
        elif ch == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += ch
    if esc or cur.strip():
        return None  # no closing pipe
    return [c.strip() for c in cells[1:]]


def _is_rule(cells: list[str]) -> bool:
    """The delimiter row under a header: ``| --- | :-: |``."""
    return all(c and set(c) <= set("-: ") and "-" in c for c in cells)


def handover_blocks(markdown: str) -> list[RenderableType]:
    """The report as renderables: text runs literally (``safe``), pipe tables as ``HandoverTable``.
    A table whose rows do not all have the header's number of cells stays literal text."""
    lines = markdown.split("\n")
    out: list[RenderableType] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        header = _cells(lines[i])
        rule = _cells(lines[i + 1]) if header and i + 1 < len(lines) else None
        if header and rule and _is_rule(rule) and len(rule) == len(header):
            j, rows = i + 2, []
            while j < len(lines) and (row := _cells(lines[j])) is not None:
                rows.append(row)
                j += 1
            if all(len(r) == len(header) for r in rows):
                if text:
                    out.append(_literal(text))
                    text = []
                out.append(HandoverTable(header, rows))
                i = j
                continue
        text.append(lines[i])
        i += 1
    if text:
        out.append(_literal(text))
    return out


def _literal(lines: list[str]) -> Text:
    text = safe("\n".join(lines), multiline=True)
    text.end = "\n"
    return text


class HandoverTable:
    """A pipe table of the handover laid out for the width it is given.

    When every column fits at its natural width: aligned columns, one line per row.
    When not (the open alerts at 80 columns): the leading columns that fit stay
    aligned columns, and the rest of each row follows on an indented line as
    ``header value`` pairs that wrap. Nothing is cut: every cell is shown whole.
    Each cell is ``safe()`` text, exactly as in the Markdown file.
    """

    GAP = 2
    INDENT = 4

    def __init__(self, header: list[str], rows: list[list[str]]) -> None:
        self.header = [safe(h, "bold") for h in header]
        self.rows = [[safe(c) for c in row] for row in rows]
        cols = [self.header, *self.rows]
        self.widths = [max(r[i].cell_len for r in cols) for i in range(len(header))]

    def columns_that_fit(self, width: int) -> int:
        """How many leading columns fit side by side in ``width`` cells (at least one)."""
        used, k = -self.GAP, 0
        for w in self.widths:
            if used + self.GAP + w > width:
                break
            used += self.GAP + w
            k += 1
        return max(1, k)

    def _line(self, cells: list[Text], k: int) -> Text:
        line = Text(no_wrap=False, overflow="fold")
        for i, cell in enumerate(cells[:k]):
            line.append_text(cell)
            if i < k - 1:
                line.append(" " * (self.widths[i] - cell.cell_len + self.GAP))
        return line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        total = sum(self.widths) + self.GAP * (len(self.widths) - 1)
        return Measurement(min(self.widths[0], options.max_width), min(total, options.max_width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        k = self.columns_that_fit(options.max_width)
        yield self._line(self.header, k)
        for row in self.rows:
            yield self._line(row, k)
            if k < len(row):
                rest = Text(no_wrap=False)
                for i in range(k, len(row)):
                    if i > k:
                        rest.append("  ·  ")
                    rest.append_text(Text(self.header[i].plain, style="dim"))
                    rest.append(" ")
                    rest.append_text(row[i])
                yield Padding(rest, (0, 0, 0, self.INDENT))


class HandoverScreen(Screen[None]):
    """The shift report (last 8 hours) as Markdown text; ``w`` writes exactly that to a file."""

    BINDINGS = [
        Binding("w", "write", "Write to file"),
        Binding("r", "reload", "Reload"),
        Binding("escape,q", "close", "Back"),
    ]

    class Loaded(Message):
        def __init__(self, markdown: str | None, at: float, error: str | None) -> None:
            super().__init__()
            self.markdown = markdown
            self.at = at
            self.error = error

    def __init__(self, store_path: Path, config: Config | None, now: Callable[[], float],
                 since: float = HANDOVER_S) -> None:
        super().__init__(classes="shift-screen")
        self.store_path = store_path
        self.config = config
        self.now = now
        self.since = since
        self.markdown: str | None = None
        self.generated_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(join(("Shift handover", "bold"), f"  last {fmt_age(self.since)}  ", ("w", "bold"),
                          " writes it to a file"), classes="shift-title")
        with VerticalScroll(id="handover-body"):
            yield Static(Text("loading…", style="italic"), id="handover-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#handover-body").focus()
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        now = self.now()
        try:
            with Store(self.store_path, readonly=True) as store:
                text = to_markdown(handover(store, self.config, since=self.since, now=now))
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.post_message(self.Loaded(None, now, str(e)))
            return
        self.post_message(self.Loaded(text, now, None))

    def on_handover_screen_loaded(self, msg: "HandoverScreen.Loaded") -> None:
        body = self.query_one("#handover-text", Static)
        if msg.markdown is None:
            body.update(join(("cannot build the handover: ", "bold"), (msg.error, "")))
            return
        self.markdown, self.generated_at = msg.markdown, msg.at
        body.update(Group(*handover_blocks(msg.markdown)))

    def default_path(self) -> str:
        at = self.generated_at if self.generated_at is not None else self.now()
        return f"./handover-{time.strftime('%Y%m%d-%H%M', time.localtime(at))}.md"

    def action_write(self) -> None:
        if self.app.refused("writing the handover to a file"):  # OpsdashApp: a wallboard writes no file
            return
        if self.markdown is None:
            self.app.notify("the handover is still loading", severity="warning", timeout=3)
            return
        text = self.markdown

        def done(path: str | None) -> None:
            if path:
                self._save(path, text)

        self.app.push_screen(SavePathDialog("Write the handover to", self.default_path()), done)

    @work(thread=True, exit_on_error=False, group="handover-write")
    def _save(self, path: str, text: str) -> None:
        p = Path(path).expanduser()
        try:
            write_atomic(p, text)
        except OSError as e:
            self.app.call_from_thread(self.app.notify, join(("cannot write ", "bold"), (str(p), "bold"), ": ",
                                                            (e.strerror or str(e), "")), severity="error", timeout=8)
            return
        self.app.call_from_thread(self.app.notify, join("handover written to ", (str(p.resolve()), "bold")), timeout=6)


class SavePathDialog(ModalScreen[str | None]):
    """A file name, prefilled. Enter writes (an existing file: Enter twice), Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, default: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.default = default
        self._confirmed: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Label("File (~ and relative paths allowed):")
            yield Input(value=self.default, id="path")
            yield Static("", id="error", classes="dialog-error")
            yield dialog_buttons("Write")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        value = self.query_one("#path", Input).value.strip()
        err = self.query_one("#error", Static)
        if not value:
            err.update(Text("a file name is needed"))
            return
        p = Path(value).expanduser()
        if p.is_dir():
            err.update(join((value, "bold"), " is a directory"))
            return
        if p.exists() and self._confirmed != value:
            self._confirmed = value
            err.update(join((value, "bold"), " exists: Enter again to replace it"))
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class NoteRequest:
    text: str
    target: str | None


class NoteDialog(ModalScreen[NoteRequest | None]):
    """A note for the next shift, optionally about a host or endpoint. Enter saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.target = clean(target) if target else ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Note for the next shift", style="bold"), classes="dialog-title")
            yield Label("Note (shows in the handover, h):")
            yield Input(placeholder="e.g. WAL cleanup on db-1 half done, check again at 06:00", id="note")
            yield Label("About (host or endpoint; empty for none; Tab to edit):")
            yield Input(value=self.target, id="target")
            yield Static("", id="error", classes="dialog-error")
            yield dialog_buttons("Save")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        text = self.query_one("#note", Input).value.strip()
        if not text:
            self.query_one("#error", Static).update(Text("a note needs some text"))
            self.query_one("#note", Input).focus()
            return
        target = self.query_one("#target", Input).value.strip()
        self.dismiss(NoteRequest(text, target or None))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["HandoverScreen", "HandoverTable", "NoiseScreen", "NoteDialog", "NoteRequest", "SavePathDialog"]
