"""PromptEscDriver: the input loop that reports a lone Esc once ESCDELAY has passed.

The keys are real: a child process runs a Textual app on the driver in a
pseudo-terminal and this test writes bytes to the pty's master side, as a
terminal would. How fast Esc arrives is measured in bench/tui_bench.py, not here.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual._xterm_parser import XTermParser

from opsdash.ui.app import OpsdashApp
from opsdash.ui.driver import IDLE_WAIT, PromptEscDriver, select_timeout

KEY_LOGGER = """
import sys
from textual.app import App
from opsdash.ui.driver import PromptEscDriver

class KeyLogger(App):
    def on_mount(self):
        print("ready", file=LOG, flush=True)

    def on_key(self, event):
        print(event.key, file=LOG, flush=True)
        if event.key == "q":
            self.exit()

LOG = open(sys.argv[1], "w")
KeyLogger(driver_class=PromptEscDriver).run()
"""


def test_select_waits_until_the_pending_key_is_due():
    assert select_timeout(None, 100.0) == IDLE_WAIT
    assert select_timeout(100.03, 100.0) == pytest.approx(0.03)
    assert select_timeout(99.0, 100.0) == 0.0  # overdue: report it now
    assert select_timeout(105.0, 100.0) == IDLE_WAIT  # never sleep past the exit check


def test_the_parser_still_exposes_when_a_lone_esc_is_due():
    # The driver reads this private field; if Textual renames it, Esc silently falls
    # back to a 100 ms wait. This test is the tripwire.
    parser = XTermParser()
    assert list(parser.feed("\x1b")) == []
    assert isinstance(parser._timeout_time, float)
    assert list(parser.feed("[A"))[0].key == "up"
    assert parser._timeout_time is None


def test_the_app_runs_on_it_on_linux():
    app = OpsdashApp(store_path="/nonexistent/opsdash.sqlite", save_theme=False)
    assert app.driver_class is PromptEscDriver


def _wait_for(log: Path, lines: int, child: subprocess.Popen, master: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Drain the app's screen output so it never blocks on a full pty.
        while select.select([master], [], [], 0)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                break
        got = log.read_text().split() if log.exists() else []
        if len(got) >= lines:
            return got
        assert child.poll() is None, f"app exited early: {child.returncode}"
        time.sleep(0.01)
    raise AssertionError(f"only {got} after {timeout}s")


@pytest.mark.parametrize("escdelay", ["30", "400"])
def test_keys_through_a_real_pty(tmp_path: Path, escdelay: str):
    log = tmp_path / "keys.log"
    script = tmp_path / "keylogger.py"
    script.write_text(KEY_LOGGER)
    master, slave = pty.openpty()
    env = dict(os.environ, ESCDELAY=escdelay, TERM="xterm-256color", COLUMNS="40", LINES="10")
    child = subprocess.Popen([sys.executable, str(script), str(log)], stdin=slave, stdout=slave, stderr=slave,
                             env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    try:
        _wait_for(log, 1, child, master)  # "ready"
        expected = ["ready"]

        def send(data: bytes, *keys: str) -> None:
            os.write(master, data)
            expected.extend(keys)
            assert _wait_for(log, len(expected), child, master) == expected

        send(b"\x1b", "escape")  # a lone Esc, nothing after it: reported once ESCDELAY passes
        send(b"\x1b[A", "up")  # a whole sequence in one read
        os.write(master, b"\x1b[")  # a sequence split across reads, well inside ESCDELAY
        time.sleep(0.005)
        send(b"B", "down")
        send(b"x", "x")
        send(b"\x1b", "escape")
        send(b"q", "q")
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
