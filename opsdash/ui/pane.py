"""The base pane: a DataTable fed with keyed diffs.

``Pane.apply(rows)`` never clears the table. Rows are keyed; a changed cell is
updated with ``update_cell``, a new row is added, a gone row removed; the table
is re-sorted only when the worst-first order changed. The row under the cursor
stays under the cursor, and the scroll position is left alone.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Mapping

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from .data import COLUMNS, PANE_TITLES, PANES, Cell, Row
from .safetext import clean


# Removing more rows than this in one update rebuilds the table instead (see Pane.apply).
BULK_REMOVE = 64


class RankedText(Text):
    """The first cell of a row: carries the row's sort rank for ``DataTable.sort``."""

    rank: tuple = ()


class PaneTable(DataTable):
    """A pane's table. Enter opens the drill-down (DataTable.RowSelected)."""

    BINDINGS = [Binding("enter", "select_cursor", "Detail", key_display="⏎")]

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        # DataTable measures every cell of every new row here (~10 us a cell: 200 ms when a
        # cleared filter brings back 1000 rows). That only feeds auto-width columns and
        # auto-height rows; ours are all fixed (Pane.on_mount, height 1), so skip it.
        fixed = all(not c.auto_width for c in self.columns.values())
        super()._update_dimensions(() if fixed else new_rows)  # type: ignore[misc]


class Pane(Vertical):
    """One of the six panes. Subclasses set ``pane_id`` and may override ``empty_text``."""

    pane_id: ClassVar[str] = ""
    empty_text: ClassVar[str] = "nothing yet: waiting for the first poll"

    def __init__(self) -> None:
        super().__init__(id=self.pane_id, classes="pane")
        self._rows: dict[str, Row] = {}
        self._columns = COLUMNS[self.pane_id]
        self.total = 0
        self.shown = 0
        self.cells_written = 0  # cells changed in place by apply() (tests check diffs stay small)

    @property
    def title(self) -> str:
        return PANE_TITLES[self.pane_id]

    @property
    def number(self) -> int:
        return PANES.index(self.pane_id) + 1

    def compose(self) -> ComposeResult:
        yield PaneTable(id=f"{self.pane_id}-table", cursor_type="row", zebra_stripes=False, cell_padding=0)
        yield Static(Text(self.empty_text), classes="empty")

    @property
    def table(self) -> PaneTable:
        return self.query_one(PaneTable)

    def on_mount(self) -> None:
        for key, label, width in self._columns:
            # cell_padding=0 and a leading space per cell: one column of air instead of two.
            self.table.add_column(Text(" " + label), width=width + 1, key=key)
        self.border_title = f"{self.number} {self.title}"

    # --- rendering ------------------------------------------------------------------

    @staticmethod
    def _cell(cell: Cell, styles: Mapping[str, Style]) -> Text:
        text, level = cell
        return Text(" " + clean(text), style=styles.get(level, ""), end="", no_wrap=True, overflow="ellipsis")

    def _first(self, row: Row, styles: Mapping[str, Style]) -> RankedText:
        text, level = row.cells[0]
        t = RankedText(" " + clean(text), style=styles.get(level, ""), end="", no_wrap=True, overflow="ellipsis")
        t.rank = row.rank
        return t

    def selected(self) -> Row | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - cursor outside the table while it shrinks
            return None
        return self._rows.get(str(key.value))

    def apply(self, rows: list[Row], styles: Mapping[str, Style], match: Callable[[Row], bool], *, force: bool = False) -> None:
        """Bring the table to ``rows`` (already sorted worst first) with the fewest changes."""
        table = self.table
        wanted = [r for r in rows if match(r)]
        self.total, self.shown = len(rows), len(wanted)
        keys = {r.key for r in wanted}
        cursor_key = None
        sel = self.selected()
        if sel is not None:
            cursor_key = sel.key
        gone = [k for k in self._rows if k not in keys]
        rebuilt = len(gone) > BULK_REMOVE
        if rebuilt:
            # DataTable.remove_row is O(rows) (it renumbers every row), so a filter that hides
            # 990 of 1000 rows took seconds. Past a few dozen removals, start from empty.
            table.clear()
            self._rows.clear()
        else:
            for key in gone:
                table.remove_row(key)
                del self._rows[key]
        col_keys = [c[0] for c in self._columns]
        # update_cell refreshes the widget once per cell (~50 us each; the Age column alone
        # changes on every row every second). Write the changed cells where update_cell
        # does, then count one update and refresh once.
        cells = getattr(table, "_data", None)
        batch = isinstance(cells, dict) and hasattr(table, "_update_count")
        changed = False
        for r in wanted:
            old = self._rows.get(r.key)
            if old is None:
                table.add_row(self._first(r, styles), *(self._cell(c, styles) for c in r.cells[1:]), key=r.key)
            else:
                row_cells = cells.get(r.key) if batch else None
                if force or old.cells[0] != r.cells[0] or old.rank != r.rank:
                    self.cells_written += 1
                    if row_cells is not None:
                        row_cells[col_keys[0]] = self._first(r, styles)
                        changed = True
                    else:
                        table.update_cell(r.key, col_keys[0], self._first(r, styles))
                for i in range(1, len(col_keys)):
                    if force or old.cells[i] != r.cells[i]:
                        self.cells_written += 1
                        if row_cells is not None:
                            row_cells[col_keys[i]] = self._cell(r.cells[i], styles)
                            changed = True
                        else:
                            table.update_cell(r.key, col_keys[i], self._cell(r.cells[i], styles))
            self._rows[r.key] = r
        if changed:
            table._update_count += 1
            table.refresh()
        order = [r.key for r in wanted]
        if rebuilt and cursor_key is not None and cursor_key in self._rows:
            table.move_cursor(row=table.get_row_index(cursor_key), animate=False)
        elif [row.key.value for row in table.ordered_rows] != order:
            table.sort(key=lambda cells: cells[0].rank)
            if cursor_key is not None and cursor_key in self._rows:
                index = table.get_row_index(cursor_key)
                if index != table.cursor_row:
                    table.move_cursor(row=index, animate=False, scroll=False)
        empty = self.query_one(".empty", Static)
        if not wanted:
            empty.update(Text(self.empty_text if not rows else "no rows match the filter (/ to change, esc clears)"))
        empty.display = not wanted
        self.border_subtitle = f"{self.shown}/{self.total}" if self.shown != self.total else (str(self.total) if self.total else "")
