"""A small virtual table on Textual's Line API: renders only the lines in view.

Why not ``DataTable``: it keys its render caches on one update counter, so any
changed cell re-renders every visible cell; it keeps per-row bookkeeping
(``add_row``/``remove_row``/``sort``), so a filter that brings back 1000 rows
pays for each. Here the owner hands over the whole row list (already sorted and
filtered) with :meth:`RowTable.set_rows`; the table keeps it as is and renders a
line only when it is on screen, caching each rendered line per
(row key, row version, width, cursor, style state): a row that did not change is
never rendered twice.

Columns have a minimum width; room beyond the sum goes to the columns the owner
marks as growing (``grow``, by weight), so names and summaries are not cut while
blank space sits at the right: first what their longest cells need (``measure``:
a row's cell widths), then the rest by weight. So a mount ("/var/lib/postgresql")
is not cut for host names that are half their column. Below the minimum the
table scrolls sideways.

Cells are Rich ``Text`` made by the owner's ``render_cells`` callback (remote text
already made literal by ``safetext``): they are rendered to segments, never
parsed as markup. Colours come only from the widget's CSS (component classes
``rowtable--header`` and ``rowtable--cursor``) and the cells' own styles.

Once the user has moved the cursor, it is kept by row key: when the rows
change, it stays on the same row (wherever that row moved); if that row is gone
it stays at the same index. Until then it stays on the top row, the worst one:
an engineer who just opened the app and presses Enter means the row on top, not
whichever row happened to be first while the first polls were coming in. New
rows never scroll the view (the scroll position is the user's).
Keys: up/down/pgup/pgdn/home/end move it, Enter posts :class:`RowTable.RowSelected`,
a click moves it and posts ``RowSelected`` (as DataTable does).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Hashable, Mapping, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


class TableRow:
    """What the table needs of a row: a key and a hashable version (equal versions render equal)."""

    __slots__ = ("key", "version", "data")

    def __init__(self, key: str, version: Hashable, data: Any = None) -> None:
        self.key = key
        self.version = version
        self.data = data


class RowTable(ScrollView, can_focus=True):
    """A virtual, row-cursor table fed with whole row lists."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_home", "Top", show=False),
        Binding("end", "cursor_end", "Bottom", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"rowtable--header", "rowtable--cursor", "rowtable--empty"}

    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .rowtable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .rowtable--header {
                background-tint: $foreground 5%;
            }
        }
        & > .rowtable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .rowtable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .rowtable--empty {
            color: $text-muted;
        }
    }
    """

    class RowHighlighted(Message):
        """The cursor moved to another row (or the row under it changed index)."""

        def __init__(self, table: "RowTable", row_key: str, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> "RowTable":
            return self.table

    class RowSelected(Message):
        """Enter, or a click, on a row."""

        def __init__(self, table: "RowTable", row_key: str, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> "RowTable":
            return self.table

    def __init__(
        self,
        columns: Sequence[tuple[str, Text, int]],
        render_cells: Callable[[Any], Sequence[Text]],
        *,
        grow: Mapping[str, int] | None = None,
        measure: Callable[[Any], Sequence[int]] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns = list(columns)  # (key, label, minimum width)
        self._grow = [(grow or {}).get(key, 0) for key, _, _ in self._columns]
        self._widths = [w for _, _, w in self._columns]  # as drawn: the minimum plus a share of spare room
        self._measure = measure
        self._growing = [i for i, g in enumerate(self._grow) if g]
        self._needs: tuple[int, ...] = ()  # the longest cell of each growing column (with measure)
        self._render_cells = render_cells
        self._rows: list[TableRow] = []
        self._index: dict[str, int] = {}
        self._cursor = 0
        self._cursor_key: str | None = None
        self._chosen = False  # the user moved the cursor: it follows its row from now on
        self._empty = Text("")  # drawn under the header when there are no rows
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._cache_state: tuple | None = None
        self.style_generation = 0  # bump to re-render every row (e.g. the theme changed)
        self.lines_rendered = 0  # rows rendered (not served from the cache), for tests and profiling
        self._total_width = sum(self._widths)
        self.virtual_size = Size(self._total_width, 1)

    # --- data -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def row_keys(self) -> list[str]:
        return [r.key for r in self._rows]

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        return self._rows[self._cursor].key if self._rows else None

    def rows_in_view(self) -> list[TableRow]:
        """The rows on screen (what a change of rows can cost to draw)."""
        top = int(self.scroll_y)
        return self._rows[top:top + self._body_height()]

    def get_row(self, key: str) -> list[Text]:
        """The rendered cells of a row (as shown)."""
        return list(self._render_cells(self._rows[self._index[key]].data))

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def clear(self) -> None:
        """Drop every row (the cursor goes back to the top)."""
        self.set_rows([])
        self._cursor = 0
        self._cursor_key = None
        self._chosen = False

    def set_rows(self, rows: list[TableRow], *, index: dict[str, int] | None = None,
                 needs: tuple[int, ...] | None = None) -> tuple[list[TableRow], dict[str, int]]:
        """Show ``rows`` (in this order). The cursor stays on its row if that row is still there.

        ``index`` (each row's key -> its position) and ``needs`` (what ``measure`` gives for the
        growing columns, the longest of each) may come made already, off the UI thread.
        Returns the row list and index it replaced, for the caller to let go of elsewhere."""
        old_rows = self._rows
        height = self._body_height()
        top = int(self.scroll_y)
        was_visible = bool(old_rows) and top <= self._cursor < top + height
        old_view = [(r.key, r.version) for r in old_rows[top:top + height]]
        old_cursor, old_key = self._cursor, self.cursor_key
        old_index = self._index
        self._rows = rows
        self._index = index if index is not None else {r.key: i for i, r in enumerate(rows)}
        needs_changed = self._measure_needs(rows, needs)
        kept = self._chosen and old_key is not None and old_key in self._index
        if kept:
            self._cursor = self._index[old_key]
        else:
            self._cursor = max(0, min(self._cursor, len(rows) - 1))
        self._cursor_key = self.cursor_key
        self._set_virtual_size(Size(self._total_width, len(rows) + 1))
        # The scroll position is left alone (a row moving under the cursor does not scroll the
        # view), unless the cursor's row went away (e.g. filtered out) and its stand-in is off screen.
        if not kept and was_visible and not top <= self._cursor < top + height:
            self._scroll_cursor_into_view()
            top = int(self.scroll_y)
        new_view = [(r.key, r.version) for r in rows[top:top + height]]
        if new_view != old_view or self._cursor != old_cursor or len(old_rows) != len(rows) or needs_changed:
            self.refresh()
        if self._cursor_key is not None and (self._cursor_key != old_key or self._cursor != old_cursor):
            self.post_message(self.RowHighlighted(self, self._cursor_key, self._cursor))
        return old_rows, old_index

    def _measure_needs(self, rows: list[TableRow], given: tuple[int, ...] | None = None) -> bool:
        """The growing columns' longest cells; True when that changed (the widths are refitted)."""
        if self._measure is None or not self._growing:
            return False
        if given is not None:
            if given == self._needs:
                return False
            self._needs = given
            return True
        needs = [0] * len(self._growing)
        measure, growing = self._measure, self._growing
        for r in rows:  # only the growing columns: a name or two per row, once per update
            widths = measure(r.data)
            for j, i in enumerate(growing):
                if widths[i] > needs[j]:
                    needs[j] = widths[i]
        new = tuple(needs)
        if new == self._needs:
            return False
        self._needs = new
        return True

    @property
    def empty_text(self) -> Text:
        return self._empty

    @empty_text.setter
    def empty_text(self, text: Text) -> None:
        """What the body says when there are no rows. Drawn by the table itself: a separate widget
        shown and hidden would cost a layout of the whole screen each time a filter empties a pane."""
        if text != self._empty:
            self._empty = text
            self._cache.discard(("\0empty",))
            if not self._rows:
                self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        """Textual lays the whole screen out again when a virtual size changes (a scrollbar may
        come or go). With six panes re-filtered on every key that was most of a key's cost, so
        when the scrollbars stay as they are, only this table's scroll range and thumb change."""
        old = self.virtual_size
        if size == old:
            return
        if not self.container_size.width or self._scrollbars_for(old) != self._scrollbars_for(size):
            self.virtual_size = size  # a scrollbar comes or goes: that is a layout
            return
        self.set_reactive(RowTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def _scrollbars_for(self, size: Size) -> tuple[bool, bool]:
        """Which scrollbars (horizontal, vertical) a virtual size of ``size`` shows."""
        width, height = self.container_size
        styles = self.styles
        return (styles.overflow_x == "scroll" or (styles.overflow_x == "auto" and size.width > width),
                styles.overflow_y == "scroll" or (styles.overflow_y == "auto" and size.height > height))

    def restyle(self) -> None:
        """Re-render every row on the next paint (their styles changed)."""
        self.style_generation += 1
        self.refresh()

    # --- cursor ---------------------------------------------------------------------------

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        self._chosen = True
        if row != self._cursor:
            # Only the two lines whose colours change (a scroll, below, repaints the rest): at
            # 160x48 a whole-table repaint per arrow key was six times the work.
            self.refresh_line(self._cursor + 1)  # line 0 is the header
            self._cursor = row
            self._cursor_key = self._rows[row].key
            self.refresh_line(row + 1)
            self.post_message(self.RowHighlighted(self, self._cursor_key, row))
        if scroll:
            self._scroll_cursor_into_view()

    def _scroll_cursor_into_view(self) -> None:
        height = self._body_height()
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        height = self._body_height()
        self.scroll_to(y=max(0, int(self.scroll_y) - height), animate=False, immediate=True)
        self.move_cursor(self._cursor - height)

    def action_page_down(self) -> None:
        height = self._body_height()
        self.scroll_to(y=int(self.scroll_y) + height, animate=False, immediate=True)
        self.move_cursor(self._cursor + height)

    def action_cursor_home(self) -> None:
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if self._rows:
            self.post_message(self.RowSelected(self, self._rows[self._cursor].key, self._cursor))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1 or not self._rows:
            return
        row = int(self.scroll_y) + offset.y - 1
        if 0 <= row < len(self._rows):
            self.move_cursor(row)
            self.post_message(self.RowSelected(self, self._rows[row].key, row))

    def on_resize(self) -> None:
        self._scroll_cursor_into_view()

    # --- rendering ------------------------------------------------------------------------

    def _state(self) -> tuple:
        base = self.rich_style
        header = self.get_component_rich_style("rowtable--header")
        cursor = self.get_component_rich_style("rowtable--cursor")
        return (base, header, cursor, self.style_generation, self._needs, self.scrollable_content_region.width)

    def _fit(self, width: int) -> None:
        """Share the room beyond the minimum widths among the growing columns (by weight), so
        a long host name or alert summary is not cut while blank columns sit at the right."""
        widths = [w for _, _, w in self._columns]
        spare = width - sum(widths)
        weight = sum(self._grow)
        if spare > 0 and weight:
            # First what the longest cells need, by weight while the room lasts ...
            want = {i: max(0, n - widths[i]) for i, n in zip(self._growing, self._needs)}
            active = [i for i in self._growing if want.get(i, 0) > 0]
            while spare > 0 and active:
                w = sum(self._grow[i] for i in active)
                given = 0
                for i in active:
                    share = min(want[i], max(1, spare * self._grow[i] // w), spare - given)
                    widths[i] += share
                    want[i] -= share
                    given += share
                spare -= given
                active = [i for i in active if want[i] > 0]
            # ... then the rest by weight.
            given = 0
            last = self._growing[-1]
            for i in self._growing:
                share = spare - given if i == last else spare * self._grow[i] // weight
                widths[i] += share
                given += share
        if widths != self._widths:
            self._widths = widths
            self._total_width = sum(widths)
            self._set_virtual_size(Size(self._total_width, len(self._rows) + 1))

    def render_lines(self, crop: Any) -> list[Strip]:
        # Keep about four screens of rendered lines, no more. At 1000 hosts every row's Age
        # changes each second, so older versions are dead weight; and Textual's Strips hold
        # reference cycles (a strip caches itself as its own same-length copy), so each line
        # kept past a second or two ends up as garbage only a full GC pass frees. With 1024
        # lines kept per table those passes took 100-350 ms, frozen UI, every minute or so.
        self._cache.maxsize = max(64, 4 * self._body_height())
        state = self._state()
        if state != self._cache_state:
            self._cache.clear()
            self._cache_state = state
            self._fit(state[-1])
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base, header_style, cursor_style = (self._cache_state or self._state())[:3]
        if y == 0:
            # the header and the cursor line fill the widget's width in their own style (as DataTable's)
            fill = header_style
            strip = self._cache.get(("\0header",))
            if strip is None:
                strip = self._render_cells_line([label for _, label, _ in self._columns], header_style, None)
                self._cache[("\0header",)] = strip
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                if index == 1 and not self._rows and self._empty:  # a blank line, then the message
                    strip = self._cache.get(("\0empty",))
                    if strip is None:
                        strip = self._render_empty(base)
                        self._cache[("\0empty",)] = strip
                    return strip.crop_extend(scroll_x, scroll_x + width, base)
                return Strip.blank(width, base)
            row = self._rows[index]
            is_cursor = index == self._cursor
            fill = base + cursor_style if is_cursor else base
            key = (row.key, row.version, is_cursor)
            strip = self._cache.get(key)
            if strip is None:
                self.lines_rendered += 1
                cells = self._render_cells(row.data)
                if is_cursor:
                    strip = self._render_cells_line(cells, fill, Style.from_color(cursor_style.color))
                else:
                    strip = self._render_cells_line(cells, base, None)
                self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, fill)

    def _render_empty(self, base: Style) -> Strip:
        console = self.app.console
        text = Text("  ", end="") + self._empty
        text.truncate(max(1, self.scrollable_content_region.width), overflow="ellipsis")
        muted = self.get_component_rich_style("rowtable--empty", partial=True)
        return Strip(Segment.apply_style(text.render(console, ""), base + muted), text.cell_len).simplify()

    def _render_cells_line(self, cells: Sequence[Text], pre: Style, post: Style | None) -> Strip:
        console = self.app.console
        segments: list[Segment] = []
        pad = pre + post if post else pre
        for width, cell in zip(self._widths, cells):
            text = cell.copy()
            text.end = ""
            text.truncate(width, overflow="ellipsis")
            # Text.render leaves the Text's own (base) style out; Text.__rich_console__ adds it
            style = pre + console.get_style(text.style, default=Style.null()) if text.style else pre
            segments.extend(Segment.apply_style(text.render(console, ""), style, post))
            gap = width - text.cell_len
            if gap > 0:  # the padding in the line's style, not the text's (as DataTable pads)
                segments.append(Segment(" " * gap, pad))
        return Strip(segments, self._total_width).simplify()
