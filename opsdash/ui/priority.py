"""Keys first: the once-a-second refresh steps aside while someone is typing.

A refresh at 1000 hosts is real work: a worker thread rebuilds every pane's rows
(holding the GIL for most of ~100 ms), then the UI thread swaps the lists in and
repaints the rows whose Age ticked. A key that lands in the middle waits behind it,
and that wait was the slow tail of key -> screen at 160x48 (bench/tui_bench.py).

``InputFirst`` is the one rule both sides follow: background work that can wait
waits until the keyboard (or mouse) has been quiet for ``quiet`` seconds, but a
refresh is never held back longer than ``longest`` in total, so holding down an
arrow key still sees live data. A refresh the user asked for (``r``, or one that
shows their own ack) does not wait.
"""

from __future__ import annotations

import time
from typing import Callable

from .. import gcpolicy


class InputFirst:
    def __init__(self, quiet: float = 0.15, longest: float = 0.75,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.longest = longest
        self.clock = clock
        self._last_input = float("-inf")

    def touched(self) -> None:
        """A key or click arrived (UI thread)."""
        self._last_input = self.clock()

    def idle_for(self) -> float:
        """Seconds since the last key or click."""
        return self.clock() - self._last_input

    def wait(self, since: float) -> float:
        """Seconds the work that became due at ``since`` should still wait (0: go now)."""
        now = self.clock()
        hold = self._last_input + self.quiet - now
        left = since + self.longest - now
        return max(0.0, min(hold, left))

    def pause(self, since: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Block (a worker thread) until ``wait(since)`` is 0. Sleeping releases the GIL, so
        the UI thread gets the whole interpreter while it handles the key."""
        while (w := self.wait(since)) > 0:
            sleep(w)


class QuietGC:
    """Full garbage collections between keys, not in the middle of them.

    Textual's rendered lines (Strips) are reference cycles, so repainting a 1000-host
    dashboard leaves garbage only a full collection frees, and a full pass then takes
    100-350 ms. With ``gcpolicy.defer_full()`` CPython no longer picks the moment; ``tick()``
    (once a second) runs a pass when the last one is ``every`` seconds old and the keyboard
    has been quiet for ``quiet`` seconds, and at ``longest`` seconds whatever the keyboard
    does, so memory stays bounded while someone holds a key down.
    """

    def __init__(self, keys: InputFirst, every: float = 15.0, longest: float = 120.0, quiet: float = 2.0,
                 collect: Callable[[], int] = gcpolicy.collect_full) -> None:
        self.keys = keys
        self.every = every
        self.longest = longest
        self.quiet = quiet
        self.collect = collect
        self._last = keys.clock()

    def tick(self) -> bool:
        age = self.keys.clock() - self._last
        if age >= self.longest or (age >= self.every and self.keys.idle_for() >= self.quiet):
            self.collect()
            self._last = self.keys.clock()
            return True
        return False
