"""Critical rows stay red and warnings yellow on 16- and 256-colour terminals.

Textual tints ``$text-error`` towards the text colour (opsdash-dark: #FF9595), and on a
16-colour terminal Rich maps that to white: with TERM=xterm every critical row was white.
"""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.color import Color

from opsdash.ui.themes import for_color_system, load_themes
from tests.support.tmux_screen import TmuxScreen, needs_tmux
from tests.support.ui_fixtures import NOW, build_store

COLOURED = ("opsdash-dark", "opsdash-light", "high-contrast")
SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT}


def _hue(rgb: tuple[int, int, int]) -> tuple[float, float]:
    h, _l, s = colorsys.rgb_to_hls(*(x / 255 for x in rgb))
    return h * 360, s


def _shown(theme_name: str, system: str, var: str) -> tuple[float, float]:
    """Hue and saturation of ``var`` as the terminal shows it (after Rich's downgrade)."""
    themes, _ = load_themes(Path("/nonexistent"))
    t = for_color_system(themes[theme_name], system)
    variables = {**t.to_color_system().generate(), **t.variables}
    c = RichColor.parse(Color.parse(variables[var]).hex6).downgrade(SYSTEMS[system])
    return _hue(tuple(c.get_truecolor()))


@pytest.mark.parametrize("system", list(SYSTEMS))
@pytest.mark.parametrize("theme", COLOURED)
def test_level_colours_keep_their_hue_below_truecolor(theme: str, system: str) -> None:
    hue, sat = _shown(theme, system, "text-error")
    assert sat > 0.3 and (hue < 20 or hue > 340), (theme, system, hue, sat)  # red
    hue, sat = _shown(theme, system, "text-warning")
    assert sat > 0.3 and 20 <= hue <= 65, (theme, system, hue, sat)  # amber to yellow
    hue, sat = _shown(theme, system, "text-success")
    assert sat > 0.3 and 90 <= hue <= 150, (theme, system, hue, sat)  # green


def test_truecolor_and_grey_themes_are_left_alone() -> None:
    themes, _ = load_themes(Path("/nonexistent"))
    for t in themes.values():
        assert for_color_system(t, "truecolor") is t
    mono = for_color_system(themes["monochrome"], "standard")
    assert "text-error" not in mono.variables  # grey on purpose: no colour is invented


def _sgr_before(line: str, word: str) -> set[str]:
    """The SGR parameters in force where ``word`` starts in a captured line."""
    active: set[str] = set()
    for m in re.finditer(r"\x1b\[([0-9;]*)m|([^\x1b]+)", line):
        if m.group(1) is not None:
            params = m.group(1).split(";") if m.group(1) else ["0"]
            if "0" in params:
                active = set()
            active |= {p for p in params if p != "0"}
        elif word in m.group(2):
            return active
    raise AssertionError(f"{word!r} not in {line!r}")


@needs_tmux
@pytest.mark.parametrize("term,red", [("xterm", {"31", "91"}), ("xterm-256color", {"203", "196", "160", "124", "9", "1"})])
def test_a_critical_row_is_red_in_a_real_low_colour_terminal(tmp_path: Path, term: str, red: set[str]) -> None:
    store = build_store(tmp_path / "store.sqlite", NOW)
    config = tmp_path / "config.toml"
    config.write_text('[[hosts]]\nname = "web-1"\n')
    with TmuxScreen(["run", "--no-collector", "--config", str(config), "--store", str(store)],
                    env={"TERM": term}, name="colour") as screen:
        screen.wait_for("1 Health")
        screen.keys("6")
        screen.wait_for("web-3 is unreachable")
        line = next(ln for ln in screen.text(escapes=True).splitlines() if "web-3 is unreachable" in ln)
        active = _sgr_before(line, "CRIT")
        if term == "xterm":
            assert active & red, (active, line)
        else:
            colour = next((p.split(";")[-1] for p in re.findall(r"\x1b\[(38;5;\d+)m", line)), None)
            assert colour in red, line
        warn = next(ln for ln in screen.text(escapes=True).splitlines() if "api-login: p95" in ln)
        if term == "xterm":
            assert _sgr_before(warn, "warn") & {"33", "93"}, warn
