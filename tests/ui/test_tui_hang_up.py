"""A TUI whose terminal goes away (the SSH session to the jump host drops) exits at
once and hands the store's collector lock back, so another viewer can take over.

Textual's own shutdown restores the terminal; with the terminal gone mid-repaint it
blocked for ever (5 of 6 hang-ups while the help scrolled left a process behind)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support.tmux_screen import REPO, TmuxScreen, needs_tmux
from tests.support.ui_fixtures import NOW, build_store

pytestmark = needs_tmux


def _gone(screen: TmuxScreen, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while screen.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not screen.alive()


def test_a_tui_hung_up_mid_repaint_exits(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store.sqlite", NOW)
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')
    for i in range(3):
        screen = TmuxScreen(["run", "--no-collector", "--config", str(config), "--store", str(store),
                             "--theme", "monochrome"], name=f"hangup{i}")
        try:
            screen.wait_for("1 Health")
            screen.keys("?")
            screen.keys("PageDown", "PageDown", "Up", "Down", "PageDown")  # output queued when the terminal goes
            screen.hang_up()
            assert _gone(screen), f"hang-up {i + 1}: the TUI outlived its terminal"
        finally:
            screen.close()


def test_a_hung_up_tui_releases_the_collector_lock(tmp_path: Path) -> None:
    config, store = tmp_path / "config.toml", tmp_path / "store.sqlite"
    config.write_text('[[hosts]]\nname = "self"\nprobes = ["local"]\ninterval = "1s"\n')
    screen = TmuxScreen(["run", "--config", str(config), "--store", str(store), "--theme", "monochrome"], name="hanglock")
    try:
        screen.wait_for("collector embedded")  # it holds the store's lock
        screen.hang_up()
        assert _gone(screen), "the TUI outlived its terminal"
    finally:
        screen.close()
    # The lock is free: a headless collector starts on the same store at once.
    r = subprocess.run([sys.executable, "-m", "opsdash", "collect", "--config", str(config), "--store", str(store),
                        "--duration", "1s"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr[-800:]
