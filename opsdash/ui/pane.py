"""The base pane: a virtual table (``table.RowTable``) fed with the whole row list.

``Pane.apply(rows)`` hands the table the filtered rows (already sorted worst
first by ``data.py``); nothing is added or removed row by row and the table is
never cleared. The table renders only the lines in view and re-renders a line
only when its row changed, so the row under the cursor stays under the cursor,
the scroll position is left alone and a filter is one list swap.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Mapping, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from .data import COLUMNS, GROW, PANE_TITLES, PANES, Cell, Row, match_all
from .safetext import clean
from .table import RowTable, TableRow


def _cell_widths(row: Row) -> list[int]:
    """What each cell of a row needs, with its leading space (the table's ``measure``)."""
    return [len(text) + 1 for text, _ in row.cells]


class PaneTable(RowTable):
    """A pane's table. Enter opens the drill-down (RowTable.RowSelected)."""

    BINDINGS = [Binding("enter", "select_cursor", "Detail", key_display="⏎")]


class Pane(Vertical):
    """One of the six panes. Subclasses set ``pane_id`` and may override ``empty_text``."""

    pane_id: ClassVar[str] = ""
    empty_text: ClassVar[str] = "nothing yet: waiting for the first poll"

    def __init__(self) -> None:
        super().__init__(id=self.pane_id, classes="pane")
        self._rows: dict[str, Row] = {}
        self._columns = COLUMNS[self.pane_id]
        self._styles: Mapping[str, Style] = {}
        self.total = 0
        self.shown = 0
        self.cells_written = 0  # cells in view changed by apply() so far (tests check diffs stay small)

    @property
    def title(self) -> str:
        return PANE_TITLES[self.pane_id]

    @property
    def number(self) -> int:
        return PANES.index(self.pane_id) + 1

    def compose(self) -> ComposeResult:
        # A leading space per cell: one column of air between columns.
        columns = [(key, Text(" " + label, end="", no_wrap=True), width + 1) for key, label, width in self._columns]
        table = PaneTable(columns, self._render_row, grow=GROW[self.pane_id], measure=_cell_widths,
                          id=f"{self.pane_id}-table")
        table.empty_text = Text(self.empty_text)
        yield table

    @property
    def table(self) -> PaneTable:
        return self.query_one(PaneTable)

    def on_mount(self) -> None:
        self.border_title = f"{self.number} {self.title}"

    # --- rendering ------------------------------------------------------------------

    @staticmethod
    def _cell(cell: Cell, styles: Mapping[str, Style]) -> Text:
        text, level = cell
        return Text(" " + clean(text), style=styles.get(level, ""), end="", no_wrap=True, overflow="ellipsis")

    def _render_row(self, row: Row) -> Sequence[Text]:
        styles = self._styles
        return [self._cell(c, styles) for c in row.cells]

    def selected(self) -> Row | None:
        key = self.table.cursor_key
        return self._rows.get(key) if key is not None else None

    def apply(self, rows: list[Row], styles: Mapping[str, Style], match: Callable[[Row], bool], *, force: bool = False) -> None:
        """Show ``rows`` (already sorted worst first) that pass ``match``.

        Runs on the UI thread once a second per pane with up to thousands of rows, so the only
        work over every row is the filter; what changed is looked at only for the rows in view.
        """
        table = self.table
        wanted = rows if match is match_all else [r for r in rows if match(r)]
        self.total, self.shown = len(rows), len(wanted)
        old = self._rows
        self._rows = {r.key: r for r in wanted}
        if force or styles is not self._styles:
            self._styles = styles
            table.restyle()
        table.set_rows([TableRow(r.key, r.cells, r) for r in wanted])
        written = 0
        for t in table.rows_in_view():
            o = old.get(t.key)
            if o is not None and (force or o.cells != t.version):
                written += sum(1 for a, b in zip(o.cells, t.version) if force or a != b)
        self.cells_written += written
        if not wanted:
            table.empty_text = Text(self.empty_text if not rows else "no rows match the filter (/ to change, esc clears)")
        self.border_subtitle = f"{self.shown}/{self.total}" if self.shown != self.total else (str(self.total) if self.total else "")
