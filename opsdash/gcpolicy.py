"""Keep CPython's full garbage collections short while an event loop must stay prompt.

A full (generation 2) collection walks every tracked object in the process, and
the loop waits for it. Everything that exists when polling or drawing starts
(imported modules, the config, the job list, the widgets) lives as long as the
process, so it is moved out of the collector's reach with ``gc.freeze()``. The
thresholds make full collections rarer too: a young collection every 700
allocations as before, an older one every 50 of those, a full one every 100
older ones. Without this, a process with a large heap (1000 hosts, or a test
runner that has imported everything) paused its loop for 100+ ms per full pass.

``hold()`` and ``release()`` nest: the TUI holds while its embedded collector
holds too (in its own thread), and the heap is unfrozen only when the last
holder lets go.

``defer_full()`` (the TUI) turns the automatic full passes off while held: the
UI runs them itself when nobody is typing (``ui/priority.QuietGC``). Textual's
rendered lines are reference cycles, so a dashboard repainting 1000 rows a second
makes a full pass 100-350 ms long whenever it comes; it should come between keys.

A collector's long-lived objects arrive after the freeze: its SSH connections,
about 190 tracked objects a host. At 5000 hosts a full pass walks 940k of them
and holds the GIL for 0.65-0.95 s (bench/RESULTS.md), and CPython runs one
whenever the older generation has grown by a quarter. ``Settler`` freezes them
as they come: after every 50 connections opened, ``settle()`` runs a full pass
over what is not frozen yet (only what arrived since the last one: ~10 ms) and
freezes the survivors, so the next pass is as small. A frozen object is still
freed by reference counting, but a frozen cycle is not: a closed asyncssh
connection leaves one of ~85 objects. So once connections dropped since the
last sweep reach a tenth of those open (at least 50), ``sweep()`` unfreezes,
runs the one full pass over everything and freezes again: one long pass per
mass reconnect instead of one every few minutes. Neither runs under
``defer_full()``: the UI's rendered lines would be frozen while alive and
never freed.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

THRESHOLD = (700, 50, 100)
DEFERRED = 1_000_000  # older-generation passes before an automatic full one: in effect never

_lock = threading.Lock()
_holders = 0
_deferred = False  # a UI runs the full passes (defer_full): nothing is frozen after hold()
_saved_threshold: tuple[int, int, int] | None = None


def hold() -> None:
    """Freeze what exists now and make full collections rare, until the matching ``release()``."""
    global _holders, _saved_threshold
    with _lock:
        if _holders == 0:
            gc.collect()  # free what is already garbage before freezing the rest
            gc.freeze()
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(*THRESHOLD)
        _holders += 1


def release() -> None:
    global _holders, _saved_threshold, _deferred
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            _deferred = False
            gc.unfreeze()
            if _saved_threshold is not None:
                gc.set_threshold(*_saved_threshold)
                _saved_threshold = None


def defer_full() -> None:
    """While held: no automatic full collections; the caller runs ``collect_full()``."""
    global _deferred
    with _lock:
        if _holders:
            _deferred = True
            gc.set_threshold(THRESHOLD[0], THRESHOLD[1], DEFERRED)


def settle() -> bool:
    """While held (and not deferred): free what is garbage among the objects not frozen yet,
    then freeze the rest. Costs a pass over what arrived since the last freeze. False when
    it did nothing."""
    with _lock:
        if not _holders or _deferred:
            return False
        gc.collect()
        gc.freeze()
        return True


def sweep() -> bool:
    """While held (and not deferred): one full pass over everything, frozen objects included,
    then freeze the survivors. Frees the cycles of objects that died frozen."""
    with _lock:
        if not _holders or _deferred:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return True


@dataclass
class Churn:
    """Connections opened and dropped (closed, lost, replaced), counted by whoever holds them."""

    opened: int = 0
    dropped: int = 0


class Settler:
    """When a collector settles and sweeps (see the module docstring), from its ``Churn``;
    ``tick()`` is two comparisons when there is nothing to do (the lag monitor calls it
    every 0.1 s)."""

    def __init__(self, churn: Churn, *, every: int = 50, sweep_share: float = 0.1,
                 settle: Callable[[], bool] = settle, sweep: Callable[[], bool] = sweep) -> None:
        self.churn, self.every, self.sweep_share = churn, every, sweep_share
        self._settle, self._sweep = settle, sweep
        self._opened_at = 0  # churn.opened at the last settle or sweep
        self._dropped_at = 0  # churn.dropped at the last sweep

    def tick(self) -> str | None:
        c = self.churn
        open_now = c.opened - c.dropped
        if c.dropped - self._dropped_at >= max(self.every, self.sweep_share * open_now):
            self._opened_at, self._dropped_at = c.opened, c.dropped
            return "sweep" if self._sweep() else None
        if c.opened - self._opened_at >= self.every:
            self._opened_at = c.opened
            return "settle" if self._settle() else None
        return None


def collect_full() -> int:
    return gc.collect(2)


@contextmanager
def held() -> Iterator[None]:
    hold()
    try:
        yield
    finally:
        release()
