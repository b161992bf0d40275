"""`opsdash run` fills the real terminal, whatever COLUMNS/LINES the environment holds.

Rich takes COLUMNS/LINES from the environment over the terminal's own size; a
stale export (pytest itself exports 80x24 to its children) drew a 150x44
terminal as 80x24 and never followed a resize. Real terminal: a tmux pane.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.ui_fixtures import NOW, build_store

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_run_uses_the_terminal_size_not_a_stale_columns_export(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store.sqlite", NOW)
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')
    session = f"opsdash-size-{os.getpid()}"
    cmd = (f"cd {REPO} && exec env COLUMNS=80 LINES=24 {sys.executable} -m opsdash run "
           f"--no-collector --config {config} --store {store} --theme monochrome")
    _tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "44", cmd)
    try:
        deadline = time.monotonic() + 30
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = _tmux("capture-pane", "-p", "-t", session).split("\n")
            if any("1 Health" in line for line in lines):
                break
            time.sleep(0.2)
        screen = "\n".join(lines)
        assert "╭─ 1 Health" in screen and "6 Alerts" in screen, screen  # the grid: 150x44 is wide
        assert max(len(line.rstrip()) for line in lines) > 140, screen
        _tmux("send-keys", "-t", session, "q")
        for _ in range(50):
            if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("q did not end the app")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
