"""Maintenance windows as a calendar: which are active at a time, when the next one starts.

Pure (no I/O, time passed in), so the alert engine (which marks the alerts a window
covers), the handover (windows in and after the shift), the TUI and the Alertmanager
source (which mirrors an active window as a silence) all read one definition. It sits
beside config.py, below collect/ and alerts/, because both use it.

A recurring window (``every = "sat 02:00"``) starts at that wall-clock time in its
``tz`` on each of its days, so it follows daylight saving time: "sat 02:00" in
Europe/Berlin is 01:00 UTC in winter and 00:00 UTC in summer. A start time that does
not exist on the day the clocks go forward (02:30 when 02:00 jumps to 03:00) is read
as the clocks before the change would show it (03:30 summer time), one that exists
twice when they go back is the first of the two (zoneinfo's ``fold=0``). ``duration``
is elapsed time: a 2h window is 2 real hours even across a change.
"""

from __future__ import annotations

import datetime as _dt
import time
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from .config import MaintenanceConfig

__all__ = ["Occurrence", "active", "covers", "label", "next_change", "occurrences", "occurrences_between", "upcoming"]

_DAY = 86400.0


@dataclass(frozen=True)
class Occurrence:
    """One run of a window: [start, end) in Unix time."""

    window: MaintenanceConfig
    start: float
    end: float

    @property
    def name(self) -> str:
        return self.window.name

    def to_json(self) -> dict[str, object]:
        from .model import iso

        return {"name": self.name, "match": dict(self.window.match), "start": iso(self.start), "end": iso(self.end),
                "every": self.window.every or None, "tz": self.window.tz}


@lru_cache(maxsize=64)
def _zone(name: str) -> _dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return _dt.timezone.utc  # config.py refuses an unknown zone; a config built by hand may not


def occurrences(w: MaintenanceConfig, since: float, until: float) -> list[Occurrence]:
    """The runs of ``w`` that overlap [since, until), in order."""
    if w.start is not None:
        end = w.start + w.duration
        return [Occurrence(w, w.start, end)] if w.start < until and end > since else []
    if not w.days:
        return []
    tz = _zone(w.tz)
    h, m = w.at
    # local dates from far enough back that a run begun before `since` is seen
    day = _dt.datetime.fromtimestamp(since - w.duration - _DAY, tz).date()
    last = _dt.datetime.fromtimestamp(until + _DAY, tz).date()
    out = []
    while day <= last:
        if day.weekday() in w.days:
            start = _dt.datetime(day.year, day.month, day.day, h, m, tzinfo=tz).timestamp()
            end = start + w.duration
            if start < until and end > since:
                out.append(Occurrence(w, start, end))
        day += _dt.timedelta(days=1)
    return out


def active(windows: Iterable[MaintenanceConfig], t: float) -> list[Occurrence]:
    """The windows running at ``t`` (start <= t < end), one occurrence each (the latest begun)."""
    out = []
    for w in windows:
        runs = [o for o in occurrences(w, t, t + 1e-6) if o.start <= t < o.end]
        if runs:
            out.append(max(runs, key=lambda o: o.start))
    return out


def occurrences_between(windows: Iterable[MaintenanceConfig], since: float, until: float) -> list[Occurrence]:
    """Every run of these windows that overlaps [since, until), by start."""
    return sorted((o for w in windows for o in occurrences(w, since, until)), key=lambda o: (o.start, o.name))


def upcoming(windows: Iterable[MaintenanceConfig], t: float, horizon: float) -> list[Occurrence]:
    """Runs that start after ``t`` and no later than ``t + horizon``, soonest first."""
    out = [o for w in windows for o in occurrences(w, t, t + horizon) if t < o.start <= t + horizon]
    return sorted(out, key=lambda o: (o.start, o.name))


def next_change(windows: Iterable[MaintenanceConfig], t: float, horizon: float = 8 * _DAY) -> float | None:
    """The first time after ``t`` a window starts or ends (what is covered may change then),
    or None within ``horizon``."""
    best: float | None = None
    for w in windows:
        for o in occurrences(w, t, t + horizon):
            for x in (o.start, o.end):
                if x > t and (best is None or x < best):
                    best = x
    return best


def covers(o: Occurrence, labels: Mapping[str, str]) -> bool:
    """Does this window hold an alert with these labels (its tags and series labels plus
    target, rule, alertname, severity)? The same equality matching as a silence
    (store.Silence.matches)."""
    return all(labels.get(k) == v for k, v in o.window.match.items())


def label(o: Occurrence, now: float, *, clock: str = "%H:%M") -> str:
    """ "sat-patching until 04:00" (local clock; with the date when it ends on another day)."""
    end = time.localtime(o.end)
    same_day = time.strftime("%Y-%m-%d", end) == time.strftime("%Y-%m-%d", time.localtime(now))
    return f"{o.name} until {time.strftime(clock if same_day else '%a %d %b ' + clock, end)}"


def suppression(o: Occurrence) -> str:
    """What an alert a window holds says (``Alert.suppressed_by``)."""
    return f"maintenance {o.name}"


def by_name(occ: Sequence[Occurrence]) -> dict[str, Occurrence]:
    return {o.name: o for o in occ}
