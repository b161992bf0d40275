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
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

THRESHOLD = (700, 50, 100)
DEFERRED = 1_000_000  # older-generation passes before an automatic full one: in effect never

_lock = threading.Lock()
_holders = 0
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
    global _holders, _saved_threshold
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
            if _saved_threshold is not None:
                gc.set_threshold(*_saved_threshold)
                _saved_threshold = None


def defer_full() -> None:
    """While held: no automatic full collections; the caller runs ``collect_full()``."""
    with _lock:
        if _holders:
            gc.set_threshold(THRESHOLD[0], THRESHOLD[1], DEFERRED)


def collect_full() -> int:
    return gc.collect(2)


@contextmanager
def held() -> Iterator[None]:
    hold()
    try:
        yield
    finally:
        release()
