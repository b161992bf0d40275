"""How old the store's data is, in one line, for every view that reads it without a TUI.

`opsdash alerts` and `opsdash handover` read what a collector wrote; when no collector is
refreshing the store they would show hours-old state as if current ("no pending or firing
alerts"). ``staleness_line`` says so, once, in the same words everywhere:

    data is 6m old: no collector is running
    data is 6m old: the collector (pid 4242) has not written for 6m
    no data yet: no collector has written this store

None when a live collector refreshed the store within ``max_age`` seconds. The
collector's heartbeat (written every half second, see collect/collector.py) is the
clock; a collector is live when its heartbeat is fresh and its PID exists
(``Store.collector_running``).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["STALE_AFTER", "age_words", "data_age", "staleness_line"]

STALE_AFTER = 30.0  # s without a heartbeat: the collector writes one every 0.5 s


def age_words(seconds: float) -> str:
    """Rounded for a person reading a warning or a pane: "40s", "6m", "3h", "2d"."""
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f}s"
    if s < 90 * 60:
        return f"{s / 60:.0f}m"
    if s < 48 * 3600:
        return f"{s / 3600:.0f}h"
    return f"{s / 86400:.0f}d"


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def data_age(store: Any, now: float) -> float | None:
    """Seconds since the collector last wrote the store, or None if none ever did."""
    st = store.collector_status()
    return None if not st else now - float(st["heartbeat"])


def staleness_line(store: Any, now: float, *, max_age: float = STALE_AFTER) -> str | None:
    """One line saying the data is stale and why, or None when a collector keeps it fresh."""
    st = store.collector_status()
    if not st:
        return "no data yet: no collector has written this store (run `opsdash collect` or `opsdash`)"
    if store.collector_running(now, max_age):
        return None
    age = now - float(st["heartbeat"])
    if age > max_age and _pid_alive(st["pid"]):  # alive but silent: hung, or its store writes fail
        return f"data is {age_words(age)} old: the collector (pid {st['pid']}) has not written for {age_words(age)}"
    return f"data is {age_words(age)} old: no collector is running"
