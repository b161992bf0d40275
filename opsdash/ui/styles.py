"""Rich styles for row levels, taken from the current theme's variables.

DataTable cells are Rich renderables, so they cannot use ``$error`` directly;
the app rebuilds this palette whenever the theme changes and re-renders every
cell, so colours always come from the theme.
"""

from __future__ import annotations

from typing import Mapping

from rich.style import Style
from textual.color import Color, ColorParseError


def _color(variables: Mapping[str, str], name: str, fallback: str = "default") -> str | None:
    value = variables.get(name)
    if not value:
        return None if fallback == "default" else fallback
    try:
        c = Color.parse(value)
    except ColorParseError:
        return None
    if c.a < 1.0:
        bg = variables.get("background")
        try:
            c = Color.parse(bg).blend(c.with_alpha(1.0), c.a) if bg else c.with_alpha(1.0)
        except ColorParseError:
            c = c.with_alpha(1.0)
    return c.hex6


def level_styles(variables: Mapping[str, str]) -> dict[str, Style]:
    def st(name: str, **kw: object) -> Style:
        return Style(color=_color(variables, name), **kw)  # type: ignore[arg-type]

    return {
        "": Style(),
        "ok": st("text-success"),
        "warn": st("text-warning", bold=True),
        "crit": st("text-error", bold=True),
        "muted": st("foreground-muted"),
        "stale": st("foreground-muted", italic=True),
        "spark": st("text-primary"),
    }
