"""SLO arithmetic: polls as covered time, availability, error budgets and burn rates.

Pure (no I/O, no store, time passed in). The collector (burn-rate metrics, for the
built-in burn-rate rules) and the SLA report (report/sla.py) both count with this
module, so an alert and a report never disagree about what "burning" means.

**Time-weighted, by poll.** Each ``endpoint.up`` sample of a vantage stands for the
time from its poll to the next poll of that vantage, at most ``poll_cap(interval)``
(interval + 1.2 x max(300 s, interval): the longest a collector waits between two
polls of a failing endpoint, which it polls less often as it keeps failing). A
count of polls would under-count an outage exactly because of that backoff. Time
with no poll (no collector ran) is not counted either way. An endpoint's vantages
add up: availability = up time / covered time over all of them.

With ``exclude_maintenance``, time inside a ``[[maintenance]]`` window whose matchers
cover the endpoint (its tags and ``target``) is left out of both.

**Error budget** over a period: ``(1 - slo/100) x covered time``; burned = down time.

**Burn rate** over a window ``w`` at time ``t``: the share of down time in
``[t - w, t]`` divided by ``1 - slo/100`` (1 = burning the budget exactly as fast as
the SLO allows). Each vantage's last poll stands up to ``t`` (within its cap). The
SRE workbook's multi-window alerts fire when both windows burn above the factor:
the metric a rule watches is the lower of the two (``BURN_ALERTS``), so one
threshold on it is the "both" condition.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Callable, Iterable, Mapping, Sequence

from .config import Config
from .kinds.endpoints import BURN_ALERTS, BURN_METRICS, BurnAlert

__all__ = [
    "BURN_ALERTS", "BURN_METRICS", "BurnAlert", "BurnTracker", "Excluded", "burn_rate", "burn_trackers",
    "covered", "excluded_intervals", "poll_cap",
]

MAX_BACKOFF = 300.0  # collect/collector.py's longest wait between polls of a failing job (x1.2 jitter)


# The burn-rate alerts are declared with the endpoints' metrics and rules (kinds/endpoints.py).
_LONGEST = max(b.long_s for b in BURN_ALERTS)


def poll_cap(interval: float) -> float:
    """The most one poll stands for (see the module docstring)."""
    return interval + 1.2 * max(MAX_BACKOFF, interval)


class Excluded:
    """Sorted, merged [start, end) intervals that do not count (maintenance), with the
    excluded time before any instant in O(log n)."""

    __slots__ = ("starts", "ends", "_cum")

    def __init__(self, intervals: Iterable[tuple[float, float]] = ()):
        merged: list[list[float]] = []
        for s, e in sorted((s, e) for s, e in intervals if e > s):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]
        self._cum = [0.0]
        for s, e in merged:
            self._cum.append(self._cum[-1] + (e - s))

    def __bool__(self) -> bool:
        return bool(self.starts)

    def before(self, x: float) -> float:
        """Excluded time before ``x``."""
        i = bisect_right(self.starts, x)  # intervals starting at or before x
        if i == 0:
            return 0.0
        return self._cum[i - 1] + min(x, self.ends[i - 1]) - self.starts[i - 1]

    def contains(self, t: float) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def within(self, s: float, e: float) -> float:
        return self.before(e) - self.before(s) if e > s else 0.0

    def pieces(self, s: float, e: float) -> list[tuple[float, float]]:
        """[s, e) without the excluded intervals."""
        out = []
        i = bisect_right(self.ends, s)  # the first interval ending after s
        cur = s
        while cur < e and i < len(self.starts):
            a, b = self.starts[i], self.ends[i]
            if a >= e:
                break
            if a > cur:
                out.append((cur, a))
            cur = max(cur, b)
            i += 1
        if cur < e:
            out.append((cur, e))
        return out


def excluded_intervals(windows: Sequence[object], target: str, tags: Mapping[str, str],
                       since: float, until: float) -> Excluded:
    """The runs of the ``[[maintenance]]`` windows that cover this endpoint in [since, until)."""
    from . import maintenance as _maint

    labels = {**tags, "target": target}
    runs = [o for o in _maint.occurrences_between(windows, since, until)  # type: ignore[arg-type]
            if _maint.covers(o, labels)]
    return Excluded((max(o.start, since), min(o.end, until)) for o in runs)


def covered(times: Sequence[float], values: Sequence[float], since: float, until: float, cap: float,
            excluded: Excluded | None = None, good: Callable[[float], bool] = lambda v: v >= 0.5,
            ) -> tuple[float, float, float]:
    """(covered, good, excluded) seconds of one series over [since, until), time-weighted:
    sample i stands for [t_i, min(t_i+1, t_i + cap)), clipped to the period; the part of it
    in ``excluded`` is counted there instead."""
    cov = ok = ex = 0.0
    n = len(times)
    start = bisect_left(times, since)
    if start > 0:
        start -= 1  # the poll before the period still stands at its start
    for i in range(start, n):
        t = times[i]
        if t >= until:
            break
        end = min(times[i + 1] if i + 1 < n else until, t + cap, until)
        s = max(t, since)
        if end <= s:
            continue
        d = end - s
        if excluded:
            x = excluded.within(s, end)
            d -= x
            ex += x
        cov += d
        if good(values[i]):
            ok += d
    return cov, ok, ex


def burn_rate(bad_s: float, covered_s: float, slo: float) -> float | None:
    """Budget burn: share of bad time over the allowed share (slo in percent)."""
    if covered_s <= 0:
        return None
    allowed = 1.0 - slo / 100.0
    if allowed <= 0:
        return float("inf") if bad_s > 0 else 0.0
    return (bad_s / covered_s) / allowed


class _Polls:
    """One vantage's polls as covered time: merged segments with running totals, so the
    down time in any window ending now is two lookups. Keeps ``keep`` seconds."""

    __slots__ = ("cap", "keep", "starts", "ends", "good", "cov0", "bad0", "tot_cov", "tot_bad", "last_t", "last_up")

    def __init__(self, cap: float, keep: float):
        self.cap = cap
        self.keep = keep
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.good: list[bool] = []
        self.cov0: list[float] = []  # totals at each segment's start
        self.bad0: list[float] = []
        self.tot_cov = self.tot_bad = 0.0  # totals at the last segment's end
        self.last_t: float | None = None
        self.last_up = True

    def _segment(self, s: float, e: float, up: bool) -> None:
        if self.ends and self.ends[-1] == s and self.good[-1] == up:
            self.ends[-1] = e  # contiguous and the same: extend (polls of a steady endpoint are one segment)
        else:
            self.starts.append(s)
            self.ends.append(e)
            self.good.append(up)
            self.cov0.append(self.tot_cov)
            self.bad0.append(self.tot_bad)
        self.tot_cov += e - s
        if not up:
            self.tot_bad += e - s

    def add(self, t: float, up: bool, excluded: Excluded | None) -> None:
        if self.last_t is not None and t > self.last_t:
            end = min(t, self.last_t + self.cap)
            for s, e in (excluded.pieces(self.last_t, end) if excluded else [(self.last_t, end)]):
                self._segment(s, e, self.last_up)
        if self.last_t is None or t >= self.last_t:
            self.last_t, self.last_up = t, up
        cutoff = t - self.keep
        k = bisect_right(self.ends, cutoff)
        if k > 256 or (k and k * 2 > len(self.ends)):
            for lst in (self.starts, self.ends, self.good, self.cov0, self.bad0):
                del lst[:k]

    def _at(self, x: float) -> tuple[float, float]:
        """(covered, bad) totals at instant x (committed segments only)."""
        if not self.starts:
            return self.tot_cov, self.tot_bad
        i = bisect_right(self.starts, x) - 1
        if i < 0:
            return self.cov0[0], self.bad0[0]
        d = min(max(x - self.starts[i], 0.0), self.ends[i] - self.starts[i])
        return self.cov0[i] + d, self.bad0[i] + (0.0 if self.good[i] else d)

    def window(self, a: float, now: float, excluded: Excluded | None) -> tuple[float, float]:
        """(covered, bad) seconds in [a, now]; the last poll stands until now (within its cap)."""
        c1, b1 = self._at(now)
        c0, b0 = self._at(a)
        cov, bad = c1 - c0, b1 - b0
        if self.last_t is not None:
            s, e = max(a, self.last_t), min(now, self.last_t + self.cap)
            if e > s:
                d = (e - s) - (excluded.within(s, e) if excluded else 0.0)
                cov += d
                if not self.last_up:
                    bad += d
        return cov, bad


class BurnTracker:
    """One endpoint's rolling windows (all its vantages): ``add`` each ``endpoint.up``
    poll, ``rates(t)`` the burn-rate metrics at t ({metric: the lower of its two
    windows' burn rates}), empty while no window has covered time.

    ``excluded(since, until)``: the maintenance intervals not to count (an
    ``Excluded``), asked for the span of each new poll; None: none."""

    def __init__(self, slo: float, interval: float,
                 excluded: Callable[[float, float], Excluded] | None = None):
        self.slo = slo
        self.cap = poll_cap(interval)
        self._excluded = excluded
        self._ex: Excluded | None = None
        self._ex_span = (0.0, -1.0)
        self._polls: dict[str, _Polls] = {}

    def _exclusions(self, t: float) -> Excluded | None:
        if self._excluded is None:
            return None
        lo, hi = self._ex_span
        if not (lo <= t - _LONGEST - self.cap and t <= hi):
            # one look-up covers the longest window behind t and a day ahead
            lo, hi = t - _LONGEST - self.cap - 86400.0, t + 86400.0
            self._ex, self._ex_span = self._excluded(lo, hi), (lo, hi)
        return self._ex

    def add(self, vantage: str, t: float, up: bool) -> None:
        p = self._polls.get(vantage)
        if p is None:
            p = self._polls[vantage] = _Polls(self.cap, _LONGEST + self.cap)
        p.add(t, up, self._exclusions(t))

    def burn(self, window_s: float, now: float) -> float | None:
        ex = self._exclusions(now)
        cov = bad = 0.0
        for p in self._polls.values():
            c, b = p.window(now - window_s, now, ex)
            cov, bad = cov + c, bad + b
        return burn_rate(bad, cov, self.slo)

    def rates(self, now: float) -> dict[str, float]:
        out: dict[str, float] = {}
        cache: dict[float, float | None] = {}
        for b in BURN_ALERTS:
            for w in (b.long_s, b.short_s):
                if w not in cache:
                    cache[w] = self.burn(w, now)
            long, short = cache[b.long_s], cache[b.short_s]
            if long is not None and short is not None:
                out[b.metric] = round(min(long, short), 6)  # 6 places: a threshold is not crossed by float noise
        return out


def burn_trackers(cfg: Config) -> dict[str, BurnTracker]:
    """A tracker per endpoint with an availability SLO (what the collector keeps), each
    leaving out the maintenance windows that cover it when ``[sla] exclude_maintenance``."""
    windows = cfg.maintenance if cfg.sla.exclude_maintenance else ()
    out = {}
    for e in cfg.endpoints:
        if e.slo.availability is None:
            continue
        labels = {**e.tags, "target": e.name}
        mine = tuple(w for w in windows if all(labels.get(k) == v for k, v in w.match.items()))

        def excluded(since: float, until: float, _e: object = e, _w: tuple = mine) -> Excluded:
            return excluded_intervals(_w, _e.name, _e.tags, since, until)  # type: ignore[attr-defined]

        out[e.name] = BurnTracker(e.slo.availability, e.interval, excluded if mine else None)
    return out
