"""Rolling windows, exact percentiles and counter rates. Pure; time is passed in.

Percentiles use linear interpolation between closest ranks (NumPy's default,
Hyndman & Fan type 7), computed over every value in the window: exact, not
estimated from buckets. Windows are bounded both by age and by count, so one
noisy series cannot grow without limit.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of ``values``, linear interpolation; None if empty."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * (q / 100.0)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    frac = pos - lo
    return xs[lo] + (xs[hi] - xs[lo]) * frac


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict[float, float | None]:
    xs = sorted(values)
    return {q: percentile(xs, q) for q in qs}


class Window:
    """Timestamped values over the last ``span`` seconds, at most ``max_len`` of them."""

    __slots__ = ("span", "_items")

    def __init__(self, span: float, max_len: int = 4096):
        self.span = span
        self._items: deque[tuple[float, float]] = deque(maxlen=max_len)

    def add(self, t: float, value: float) -> None:
        self._items.append((t, value))

    def prune(self, now: float) -> None:
        cutoff = now - self.span
        items = self._items
        while items and items[0][0] < cutoff:
            items.popleft()

    def values(self, now: float | None = None) -> list[float]:
        if now is not None:
            self.prune(now)
        return [v for _, v in self._items]

    def items(self, now: float | None = None) -> list[tuple[float, float]]:
        if now is not None:
            self.prune(now)
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def last(self) -> tuple[float, float] | None:
        return self._items[-1] if self._items else None

    def percentiles(self, now: float, qs: Sequence[float] = (50, 95, 99)) -> dict[float, float | None]:
        return percentiles(self.values(now), qs)

    def mean(self, now: float) -> float | None:
        vs = self.values(now)
        return sum(vs) / len(vs) if vs else None


def counter_delta(prev: float, cur: float) -> float:
    """Increase of a monotonic counter between two reads.

    A counter that went down was reset (the process restarted): the increase
    since the reset is at least ``cur``, which is what Prometheus' rate() assumes.
    """
    return cur - prev if cur >= prev else cur


class CounterRate:
    """Per-second rate of a monotonic counter over a window, resets handled."""

    __slots__ = ("_w",)

    def __init__(self, span: float, max_len: int = 4096):
        self._w = Window(span, max_len)

    def add(self, t: float, value: float) -> None:
        self._w.add(t, value)

    def increase(self, now: float) -> tuple[float, float] | None:
        """(increase, seconds covered) over the window, or None with fewer than two reads."""
        items = self._w.items(now)
        if len(items) < 2:
            return None
        total = sum(counter_delta(a[1], b[1]) for a, b in zip(items, items[1:]))
        return total, items[-1][0] - items[0][0]

    def rate(self, now: float) -> float | None:
        inc = self.increase(now)
        if inc is None or inc[1] <= 0:
            return None
        return inc[0] / inc[1]


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int | None = None, lo: float | None = None, hi: float | None = None) -> str:
    """A text sparkline; gaps (None) print as a space. Resampled to ``width`` by max."""
    vals = list(values)
    if width is not None and len(vals) > width > 0:
        step = len(vals) / width
        out: list[float | None] = []
        for i in range(width):
            chunk = [v for v in vals[int(i * step) : int((i + 1) * step) or int(i * step) + 1] if v is not None]
            out.append(max(chunk) if chunk else None)
        vals = out
    present = [v for v in vals if v is not None]
    if not present:
        return " " * len(vals)
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = hi - lo
    chars = []
    for v in vals:
        if v is None:
            chars.append(" ")
        elif span <= 0:
            chars.append(SPARK[0])
        else:
            i = int((min(max(v, lo), hi) - lo) / span * (len(SPARK) - 1) + 0.5)
            chars.append(SPARK[i])
    return "".join(chars)
