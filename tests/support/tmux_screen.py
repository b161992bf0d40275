"""A real terminal for the TUI tests: opsdash in a detached tmux pane, read back with
``capture-pane`` (text, or with its SGR colour codes). Each screen gets its own tmux
server socket, killed by name when the test ends, so tests never touch each other's panes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")


class TmuxScreen:
    def __init__(self, args: list[str], *, size: tuple[int, int] = (80, 24), env: dict[str, str] | None = None,
                 name: str = "opsdash") -> None:
        self.socket = f"opsdash-test-{os.getpid()}-{name}-{time.monotonic_ns()}"
        env_words = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        # COLUMNS/LINES unset: the app takes the pane's size (commands/run.py)
        cmd = (f"cd {shlex.quote(str(REPO))} && exec env -u COLUMNS -u LINES -u NO_COLOR -u COLORTERM -u OPSDASH_CONFIG -u XDG_CONFIG_HOME {env_words} "
               f"{shlex.quote(sys.executable)} -m opsdash {' '.join(shlex.quote(a) for a in args)}")
        self._tmux("new-session", "-d", "-s", "t", "-x", str(size[0]), "-y", str(size[1]), cmd)
        self._path = self._tmux("display-message", "-p", "#{socket_path}").strip()
        self.pid = int(self._tmux("display-message", "-p", "#{pane_pid}").strip())  # opsdash itself (exec)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def text(self, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "t")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, needle: str, timeout: float = 20.0, escapes: bool = False) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            try:
                screen = self.text(escapes)
            except subprocess.CalledProcessError:
                break  # the app (and with it the pane) has gone
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not on screen within {timeout}s:\n{screen}")

    def hang_up(self) -> None:
        """Kill the tmux server: the pane's terminal goes away, as when an SSH session drops."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        if self._path:
            Path(self._path).unlink(missing_ok=True)  # kill-server leaves the socket file behind

    def alive(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().split(") ", 1)[1][:1] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    def close(self) -> None:
        self.hang_up()
        # Stopped by PID, whatever the app did with the hang-up: no test leaves a TUI behind.
        deadline = time.monotonic() + 5
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, 9)

    def __enter__(self) -> "TmuxScreen":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
