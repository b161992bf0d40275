"""Help and drill-down scroll with ↑ ↓ PgDn at once (no Tab first), in a real 80x24 terminal."""

from __future__ import annotations

from pathlib import Path

from tests.support.tmux_screen import TmuxScreen, needs_tmux
from tests.support.ui_fixtures import NOW, build_store

pytestmark = needs_tmux


def _screen(tmp_path: Path) -> TmuxScreen:
    store = build_store(tmp_path / "store.sqlite", NOW)
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')
    return TmuxScreen(["run", "--no-collector", "--config", str(config), "--store", str(store), "--theme", "monochrome"],
                      name="scroll")


def test_pgdn_reaches_the_end_of_the_help_at_80x24(tmp_path: Path) -> None:
    with _screen(tmp_path) as screen:
        screen.wait_for("1 Health")
        screen.keys("?")
        first = screen.wait_for("opsdash keys")
        assert "closes this screen" not in first  # the help is longer than 24 lines: its end is below
        screen.keys("PageDown")
        end = screen.wait_for("Esc or ? closes this screen.", timeout=5)
        assert "opsdash keys" not in end  # it scrolled, not redrew
        screen.keys("Up")
        screen.wait_for("in the handover (h): write it to a file", timeout=5)


def test_down_scrolls_the_drill_down_at_once(tmp_path: Path) -> None:
    with _screen(tmp_path) as screen:
        screen.wait_for("1 Health")
        # A host with figures (the top row is the worst, a host that is down): filter to it, open it.
        screen.keys("/")
        screen.wait_for("Enter keeps it", timeout=5)  # the prompt is open: keys are text now
        screen.keys("db-2", "Enter")
        screen.keys("Enter")
        top = screen.wait_for("health.cpu_percent")  # loaded; the top of the detail is in view
        assert "Raw last probe output" not in top  # the end is below, at 80x24
        screen.keys("PageDown", "PageDown")
        end = screen.wait_for("MemTotal: 1000 kB", timeout=5)  # the raw output, the last thing on it
        assert "read " not in end  # "read <time>", the first row, has scrolled out


def test_tab_walks_the_panes_at_80x24(tmp_path: Path) -> None:
    with _screen(tmp_path) as screen:
        screen.wait_for("1 Health")
        screen.keys("Tab")
        screen.wait_for("Endpoint", timeout=5)  # Latency: the next pane, shown
        screen.keys("BTab")
        health = screen.wait_for("Ld/c", timeout=5)
        assert "Endpoint" not in health
