"""Alerts: the queue. Firing first, then pending, then resolved; acked and silenced sink.

Pending alerts that fire more than an hour from now (``data.FAR_PENDING``: eleven
"security updates, in 7d") are one line, after every other pending one, until
Enter opens it (and Enter on it again folds them). That line is no alert: a, s
and e find nothing selected on it.
"""

from __future__ import annotations

from typing import Callable, Mapping

from rich.style import Style

from .data import FOLD_KEY, Row, far_pending_row, match_all
from .pane import Pane, Prepared


class AlertsPane(Pane):
    pane_id = "alerts"
    empty_text = "no alerts. Quiet shift so far."

    def __init__(self) -> None:
        super().__init__()
        self.far_open = False  # the far-off pending alerts are shown one by one
        self._last: tuple[list[Row], Mapping[str, Style], Callable[[Row], bool]] | None = None

    @property
    def variant(self) -> bool:
        return self.far_open

    def apply(self, rows: list[Row], styles: Mapping[str, Style], match: Callable[[Row], bool], *,
              force: bool = False, prepared: Prepared | None = None) -> None:
        self._last = (rows, styles, match)
        super().apply(rows, styles, match, force=force, prepared=prepared)

    def lines_of(self, rows: list[Row], match: Callable[[Row], bool]) -> tuple[list[Row], Callable[[Row], bool]]:
        """The far-off pending alerts as one line (or, opened, that line and them), and a filter
        that keeps that line whenever it keeps one of them."""
        folded = [r for r in rows if r.fold and (match is match_all or match(r))]
        if not folded:
            return [r for r in rows if not r.fold], match
        head: Row | None = far_pending_row(folded, self.far_open)
        shown: list[Row] = []
        for r in rows:
            if r.fold:
                if head is not None:
                    shown.append(head)
                    head = None
                if not self.far_open:
                    continue
            shown.append(r)
        return shown, (match if match is match_all else (lambda r: r.key == FOLD_KEY or match(r)))

    def selected(self) -> Row | None:
        row = super().selected()
        return None if row is not None and row.key == FOLD_KEY else row

    def toggle_fold(self) -> bool:
        """Enter on the folded line: open it, or fold it again. False when the cursor is elsewhere."""
        if self.table.cursor_key != FOLD_KEY or self._last is None:
            return False
        self.far_open = not self.far_open
        rows, styles, match = self._last
        self.apply(rows, styles, match, force=True)
        return True
