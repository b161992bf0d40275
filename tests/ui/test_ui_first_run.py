"""The first run, with no config file: the `opsdash init` hint is on screen (it was only on
stderr, read after the TUI had quit), and stays until Esc."""

from __future__ import annotations

import time
from pathlib import Path

from opsdash.ui.app import OpsdashApp, tilde
from tests.support.tmux_screen import TmuxScreen, needs_tmux
from tests.support.ui_fixtures import NOW, build_store


@needs_tmux
def test_no_config_shows_the_init_hint_in_the_tui_until_esc(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store.sqlite", NOW)
    home = tmp_path / "home"
    home.mkdir()
    with TmuxScreen(["run", "--no-collector", "--store", str(store), "--theme", "monochrome"],
                    env={"HOME": str(home)}, name="firstrun") as screen:
        shown = screen.wait_for("No config at ~/.config/opsdash/config.toml: watching this machine only")
        assert "1 Health" in shown and "run `opsdash init`" in shown, shown  # in the TUI, over the panes
        screen.keys("3")  # still there while one looks around
        assert "run `opsdash init`" in screen.wait_for("Hit-rate trend", timeout=5)
        screen.keys("Escape")
        for _ in range(30):
            if "opsdash init" not in screen.text():
                break
            time.sleep(0.1)
        assert "opsdash init" not in screen.text()


@needs_tmux
def test_with_a_config_there_is_no_init_hint(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store.sqlite", NOW)
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')
    with TmuxScreen(["--no-collector", "--config", str(config), "--store", str(store)], name="withconfig") as screen:
        shown = screen.wait_for("1 Health")
        assert "opsdash init" not in shown


async def test_the_notice_is_a_toast_that_does_not_time_out(tmp_path: Path) -> None:
    path = build_store(tmp_path / "store.sqlite", NOW)
    app = OpsdashApp(store_path=path, now=lambda: NOW, save_theme=False, user_themes=tmp_path / "none",
                     poll_interval=3600, no_config=tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        notes = list(app._notifications)
        assert len(notes) == 1 and "opsdash init" in str(notes[0].message) and notes[0].timeout >= 3600
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not list(app._notifications)


def test_tilde_shortens_the_home_directory(monkeypatch) -> None:
    monkeypatch.setenv("HOME", "/home/ann")
    assert tilde(Path("/home/ann/.config/opsdash/config.toml")) == "~/.config/opsdash/config.toml"
    assert tilde("/home/anna/x") == "/home/anna/x"
    assert tilde("/etc/opsdash.toml") == "/etc/opsdash.toml"
