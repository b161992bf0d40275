"""Hit rate and ops/s of a cache from its lifetime counters.

Caches report counters since they started. The dashboard wants the hit rate
over a recent window, so ``HitRateTracker`` keeps timed readings and works on
their deltas. Counters go back to zero when the cache restarts (or on
``CONFIG RESETSTAT``); that is told apart by a counter going down or by an
uptime shorter than the time since the last reading. Across a reset the
delta is the new reading itself (what happened since the restart), as
Prometheus' ``rate()`` does, so a restart never shows as a negative rate or
a spike.

Pure: time is passed in, nothing is read or written.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..model import CacheCounters, CacheStats

__all__ = ["HitRateTracker"]

# Polls are not instants: uptime is read a little after or before "t".
_UPTIME_SLACK_S = 5.0
_UPTIME_SLACK_RATIO = 0.05


@dataclass(frozen=True, slots=True)
class _Point:
    t: float
    # Cumulative counts that never go down: the raw counters with every
    # reset stitched on (the first point equals the raw reading).
    hits: int
    misses: int
    ops: int | None
    ops_epoch: int  # ops deltas only within one epoch (ops may come and go)


class HitRateTracker:
    """Readings of one cache over ``window_s``; at most ``max_samples`` kept."""

    def __init__(self, window_s: float = 300.0, *, max_samples: int = 720):
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        if max_samples < 2:
            raise ValueError("max_samples must be >= 2")
        self.window_s = window_s
        self._points: deque[_Point] = deque(maxlen=max_samples)
        self._last_raw: CacheCounters | None = None
        self._ops_epoch = 0
        self.resets = 0  # how many resets were seen (for tests and diagnostics)

    def __len__(self) -> int:
        return len(self._points)

    def _is_reset(self, prev: CacheCounters, new: CacheCounters, elapsed: float) -> bool:
        if new.hits < prev.hits or new.misses < prev.misses:
            return True
        if prev.ops is not None and new.ops is not None and new.ops < prev.ops:
            return True
        if prev.uptime_s is not None and new.uptime_s is not None:
            expected = prev.uptime_s + elapsed
            slack = _UPTIME_SLACK_S + _UPTIME_SLACK_RATIO * elapsed
            if new.uptime_s + slack < expected:
                return True
        return False

    def add(self, t: float, counters: CacheCounters) -> None:
        """Record a reading taken at ``t``. Readings not newer than the last are ignored."""
        last = self._points[-1] if self._points else None
        prev = self._last_raw
        if last is None or prev is None:
            point = _Point(t, counters.hits, counters.misses, counters.ops, self._ops_epoch)
        else:
            if t <= last.t:
                return  # out of order or duplicate: a delta over no time is a spike
            reset = self._is_reset(prev, counters, t - last.t)
            if reset:
                self.resets += 1
                d_hits, d_misses = counters.hits, counters.misses
            else:
                d_hits, d_misses = counters.hits - prev.hits, counters.misses - prev.misses
            ops, epoch = None, last.ops_epoch
            if counters.ops is not None:
                if last.ops is None or prev.ops is None:
                    # ops appear again after a gap: start a new series.
                    self._ops_epoch += 1
                    epoch = self._ops_epoch
                    ops = 0
                else:
                    ops = last.ops + (counters.ops if reset else counters.ops - prev.ops)
            point = _Point(t, last.hits + d_hits, last.misses + d_misses, ops, epoch)
        self._points.append(point)
        self._last_raw = counters
        self._prune(t)

    def _prune(self, now: float) -> None:
        # Keep the window plus one older point, so a poll gap still has a base.
        start = now - self.window_s
        while len(self._points) > 2 and self._points[1].t < start:
            self._points.popleft()

    def stats(self, name: str, kind: str, now: float) -> CacheStats:
        """Hit rate and ops/s over the window that ends at ``now``.

        With one reading only: the lifetime hit rate of the counters and
        ``window_s`` None (docs/contracts.md). ``hit_rate`` is None when no lookup
        happened in the window: "no traffic" is neither 0 % nor 100 %.
        """
        points = [p for p in self._points if p.t <= now]
        if not points:
            return CacheStats(name, kind, None, 0, 0, None, None)
        latest = points[-1]
        if len(points) == 1:
            raw = self._last_raw if latest is self._points[-1] else None
            hits, misses = latest.hits, latest.misses
            ops_per_s = None
            if raw is not None and raw.ops is not None and raw.uptime_s:
                ops_per_s = raw.ops / raw.uptime_s
            total = hits + misses
            return CacheStats(name, kind, hits / total if total else None, hits, misses, None, ops_per_s)
        start = now - self.window_s
        in_window = [p for p in points[:-1] if p.t >= start]
        base = in_window[0] if in_window else points[-2]  # a gap: the last reading before it
        span = latest.t - base.t
        hits = latest.hits - base.hits
        misses = latest.misses - base.misses
        total = hits + misses
        hit_rate = min(1.0, max(0.0, hits / total)) if total > 0 else None
        ops_per_s = None
        if latest.ops is not None and base.ops is not None and latest.ops_epoch == base.ops_epoch and span > 0:
            ops_per_s = max(0.0, (latest.ops - base.ops) / span)
        return CacheStats(name, kind, hit_rate, hits, misses, span, ops_per_s)
