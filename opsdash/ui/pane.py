"""The base pane: a virtual table (``table.RowTable``) fed with the whole row list.

``Pane.apply(rows)`` hands the table the filtered rows (already sorted worst
first by ``data.py``); nothing is added or removed row by row and the table is
never cleared. The table renders only the lines in view and re-renders a line
only when its row changed, so the row under the cursor stays under the cursor,
the scroll position is left alone and a filter is one list swap.

What ``apply`` needs besides the filter (the table's row list, the key maps, the
widest names) is made off the UI thread: the poll's worker calls
:meth:`Pane.prepare` on each new view, and ``apply`` uses that :class:`Prepared`
when it shows the same rows unfiltered. The rows a refresh replaces are not freed
on the UI thread either: ``bury`` hands them to the app, whose worker frees them. At 1000 hosts building those maps and freeing the old view (some 60,000
objects) took 10-20 ms of the UI thread on every refresh and every pane switch,
and a key that came then waited for it.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

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


class Prepared:
    """A pane's unfiltered rows, made ready for its table (``Pane.prepare``, in a worker thread)."""

    __slots__ = ("source", "variant", "rows", "by_key", "table_rows", "index", "needs", "worst")

    def __init__(self, source: list[Row], variant: Any, rows: list[Row], growing: Sequence[int]) -> None:
        self.source = source  # the view's list this was made from (apply checks it is the same)
        self.variant = variant  # what else shaped ``rows`` (Pane.variant: the Alerts fold)
        self.rows = rows
        self.by_key = {r.key: r for r in rows}
        self.table_rows = [TableRow(r.key, r.cells, r) for r in rows]
        self.index = {r.key: i for i, r in enumerate(rows)}
        needs = [0] * len(growing)
        for r in rows:
            cells = r.cells
            for j, i in enumerate(growing):
                n = len(cells[i][0]) + 1  # as _cell_widths measures
                if n > needs[j]:
                    needs[j] = n
        self.needs = tuple(needs)
        self.worst = max((r.level for r in source), default=0)  # the tab's mark


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
        self.bury: Callable[[Any], None] | None = None  # takes replaced rows, to free them off the UI thread
        grow = GROW[self.pane_id]
        self._growing = [i for i, (key, _, _) in enumerate(self._columns) if grow.get(key)]

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

    # --- rows ---------------------------------------------------------------------

    @property
    def variant(self) -> Any:
        """What besides the rows decides what ``lines_of`` makes of them (None: nothing)."""
        return None

    def lines_of(self, rows: list[Row], match: Callable[[Row], bool]) -> tuple[list[Row], Callable[[Row], bool]]:
        """The lines this pane makes of a view's rows, and the filter to run over them."""
        return rows, match

    def prepare(self, rows: list[Row]) -> Prepared:
        """``apply``'s work for the unfiltered ``rows``, done ahead (thread-safe: reads no widget)."""
        variant = self.variant
        lines, _ = self.lines_of(rows, match_all)
        if self.variant != variant:  # changed meanwhile (on the UI thread): let apply do it then
            variant = object()
        return Prepared(rows, variant, lines, self._growing)

    def apply(self, rows: list[Row], styles: Mapping[str, Style], match: Callable[[Row], bool], *, force: bool = False,
              prepared: Prepared | None = None) -> None:
        """Show ``rows`` (already sorted worst first) that pass ``match``.

        Runs on the UI thread once a second per pane with up to thousands of rows, so the only
        work over every row is the filter (none with ``prepared``, made from these rows
        unfiltered); what changed is looked at only for the rows in view.
        """
        table = self.table
        if (prepared is not None and match is match_all and prepared.source is rows
                and prepared.variant == self.variant):
            lines, wanted, by_key = prepared.rows, prepared.rows, prepared.by_key
            table_rows, index, needs = prepared.table_rows, prepared.index, prepared.needs
        else:
            lines, keep = self.lines_of(rows, match)
            wanted = lines if keep is match_all else [r for r in lines if keep(r)]
            by_key = {r.key: r for r in wanted}
            table_rows, index, needs = [TableRow(r.key, r.cells, r) for r in wanted], None, None
        self.total, self.shown = len(lines), len(wanted)
        old = self._rows
        self._rows = by_key
        if force or styles is not self._styles:
            self._styles = styles
            table.restyle()
        replaced = table.set_rows(table_rows, index=index, needs=needs)
        written = 0
        for t in table.rows_in_view():
            o = old.get(t.key)
            if o is not None and (force or o.cells != t.version):
                written += sum(1 for a, b in zip(o.cells, t.version) if force or a != b)
        self.cells_written += written
        if self.bury is not None:
            self.bury((old, replaced))
        if not wanted:
            table.empty_text = Text(self.empty_text if not rows else "no rows match the filter (/ to change, esc clears)")
        self.border_subtitle = (f"{self.shown}/{self.total}" if self.shown != self.total
                                else (str(self.total) if self.total else ""))
