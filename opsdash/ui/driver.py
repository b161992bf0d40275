"""A terminal driver that delivers a lone Esc after ESCDELAY, not after 100 ms.

A lone Esc byte could be the start of an escape sequence (an arrow key is
``ESC [ A``), so the input parser waits ESCDELAY for more bytes before it
reports the Esc key. Textual's Linux input thread only asks the parser for
timed-out keys when its ``select`` returns, and that ``select`` waits up to
100 ms when no more input comes: a lone Esc, the key that closes a dialog or
clears the filter, then always arrives 100 ms late, whatever ESCDELAY says.

``PromptEscDriver`` runs the same input loop, but while the parser holds a
pending Esc it waits only until that Esc is due. Everything else (the writer
thread, terminal modes, resize and signal handling) is LinuxDriver's own.

And a lone Esc is due sooner than ESCDELAY when it is the last byte read: a
terminal (and tmux, and ssh in front of them) writes an escape sequence in
one go, so a read that ends with a bare ESC is an Esc key unless the rest of
a sequence follows at once. The parser then waits ``SPLIT_WAIT`` (10 ms) for
that rest, not ESCDELAY (50 ms in ``opsdash run``): Esc clears the filter and
closes dialogs, and those 40 ms were most of its latency (bench/tui_bench.py).
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

IDLE_WAIT = 0.1  # seconds per select when nothing is pending: how often exit is checked
SPLIT_WAIT = 0.01  # seconds a read ending in a bare ESC waits for the rest of a sequence


def esc_due(due: float | None, data: str, now: float) -> float | None:
    """When the parser's pending key is due after a read of ``data``: at most SPLIT_WAIT from
    now when the read ended in a bare ESC (the parser waits to see if a sequence follows)."""
    if due is None or not data.endswith("\x1b"):
        return due
    return min(due, now + SPLIT_WAIT)


def select_timeout(due: float | None, now: float) -> float:
    """Seconds to wait for input: until a pending key is due, else IDLE_WAIT."""
    if due is None:
        return IDLE_WAIT
    return min(IDLE_WAIT, max(0.0, due - now))


class PromptEscDriver(LinuxDriver):
    """LinuxDriver whose input thread honours ESCDELAY for a lone Esc."""

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def pump(ready: list, final: bool = False) -> None:
            for i, (_key, mask) in enumerate(ready):
                if mask & selectors.EVENT_READ:
                    data = decode(os.read(self.fileno, 4096), final=final and i == len(ready) - 1)
                    if not data:  # stdin closed or piped: nothing more to parse here
                        break
                    for event in parser.feed(data):
                        self.process_message(event)
                    # The parser keeps when its pending key is due in a private field (see wait())
                    if getattr(parser, "_timeout_time", None) is not None:
                        parser._timeout_time = esc_due(parser._timeout_time, data, get_time())
            for event in parser.tick():
                self.process_message(event)

        def wait() -> float:
            # Parser keeps the time its pending key is due in a private field; without
            # it (another Textual) this is LinuxDriver's fixed wait.
            return select_timeout(getattr(parser, "_timeout_time", None), get_time())

        try:
            while not self.exit_event.is_set():
                pump(selector.select(wait()))
            selector.unregister(self.fileno)
            pump(selector.select(IDLE_WAIT), final=True)
        finally:
            selector.close()
            try:
                for _ in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
