"""Theme files (TOML) loaded into ``textual.theme.Theme``.

Where themes come from, later sources overriding earlier ones by name:

1. the installed wheel: ``opsdash/themes`` (pyproject force-includes the
   repository's ``themes/`` there), read through ``importlib.resources``;
2. the repository checkout: ``<repo>/themes`` (an editable install);
3. the user's config dir: ``config.user_themes_dir()`` (``~/.config/opsdash/themes``).

A theme file holds the fields of ``textual.theme.Theme`` (``name``,
``primary``, ``background`` ...) and an optional ``[variables]`` table. A bad
file is skipped and reported, never fatal.
"""

from __future__ import annotations

import colorsys
import dataclasses
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterable

from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.color import Color, ColorParseError
from textual.theme import Theme

from ..config import user_themes_dir

DEFAULT_THEME = "opsdash-dark"
NO_COLOR_THEME = "monochrome"
BUILTIN_ORDER = ("opsdash-dark", "opsdash-light", "high-contrast", "monochrome")

_FIELDS = {f.name: f for f in dataclasses.fields(Theme)}
_COLOR_FIELDS = {"primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
                 "surface", "panel", "boost"}


class ThemeFileError(ValueError):
    pass


def theme_from_toml(text: str, source: str = "<theme>", default_name: str | None = None) -> Theme:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ThemeFileError(f"{source}: TOML syntax error: {e}") from None
    kwargs: dict[str, object] = {}
    for key, value in doc.items():
        if key not in _FIELDS:
            raise ThemeFileError(f"{source}: {key}: unknown theme key (expected one of {', '.join(sorted(_FIELDS))})")
        if key in _COLOR_FIELDS:
            if not isinstance(value, str):
                raise ThemeFileError(f"{source}: {key}: expected a colour string, got {value!r}")
            try:
                Color.parse(value)
            except ColorParseError:
                raise ThemeFileError(f"{source}: {key}: not a colour: {value!r}") from None
        elif key == "variables":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ThemeFileError(f"{source}: variables: expected a table of strings")
            value = {str(k): v for k, v in value.items()}
        elif key in ("dark", "ansi") and not isinstance(value, bool):
            raise ThemeFileError(f"{source}: {key}: expected true or false, got {value!r}")
        elif key in ("luminosity_spread", "text_alpha") and not isinstance(value, (int, float)):
            raise ThemeFileError(f"{source}: {key}: expected a number, got {value!r}")
        elif key == "name" and not (isinstance(value, str) and value):
            raise ThemeFileError(f"{source}: name: expected a non-empty string")
        kwargs[key] = value
    kwargs.setdefault("name", default_name or "")
    if not kwargs["name"]:
        raise ThemeFileError(f"{source}: name: missing")
    if "primary" not in kwargs:
        raise ThemeFileError(f"{source}: primary: missing (every theme needs a primary colour)")
    return Theme(**kwargs)  # type: ignore[arg-type]


def _packaged_dir() -> Traversable | None:
    try:
        d = resources.files("opsdash").joinpath("themes")
    except (ModuleNotFoundError, TypeError):
        return None
    return d if d.is_dir() else None


def _repo_dir() -> Path | None:
    d = Path(__file__).resolve().parents[2] / "themes"
    return d if d.is_dir() else None


def theme_dirs(user_dir: Path | None = None) -> list[Traversable]:
    dirs: list[Traversable] = []
    for d in (_packaged_dir(), _repo_dir(), user_dir if user_dir is not None else user_themes_dir()):
        if d is not None and d.is_dir() and all(str(d) != str(x) for x in dirs):
            dirs.append(d)
    return dirs


def _toml_files(d: Traversable) -> Iterable[Traversable]:
    return sorted((f for f in d.iterdir() if f.name.endswith(".toml") and f.is_file()), key=lambda f: f.name)


def load_themes(user_dir: Path | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Every theme found, by name, and one message per file that could not be used."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for d in theme_dirs(user_dir):
        for f in _toml_files(d):
            try:
                t = theme_from_toml(f.read_text(encoding="utf-8"), str(f), f.name.removesuffix(".toml"))
            except (ThemeFileError, OSError, UnicodeDecodeError) as e:
                problems.append(str(e))
                continue
            themes[t.name] = t
    return themes, problems


def theme_cycle(names: Iterable[str]) -> list[str]:
    """The order `t` walks through: the built-in four first, then the user's, by name."""
    names = set(names)
    return [n for n in BUILTIN_ORDER if n in names] + sorted(n for n in names if n not in BUILTIN_ORDER)


# --- 16- and 256-colour terminals -------------------------------------------------------------
# Textual derives ``$text-error`` from ``error`` by tinting it towards the text colour
# (opsdash-dark: #FF5F5F -> #FF9595), right for truecolor but fatal on TERM=xterm: Rich maps
# #FF9595 to the nearest of the 16 colours, which is white, so critical rows lost their red.
# There the text colours of the levels are the theme's own error/warning/success instead, and
# a colour that still lands on a grey while it is not one itself becomes the ANSI colour of
# its meaning (a grey theme, monochrome, stays grey: that is its point).

LOW_COLOR_SYSTEMS = {"standard": ColorSystem.STANDARD, "windows": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT}
# (base colour, text variable, ANSI colour on a dark background, on a light one): the ANSI
# colours as Rich's 16-colour palette holds them, so they downgrade to exactly that colour.
_LEVEL_COLORS = (
    ("error", "text-error", "#FF5555", "#AA0000"),  # bright red (SGR 91), red (31)
    ("warning", "text-warning", "#FFFF55", "#AA5500"),  # bright yellow (93), yellow (33)
    ("success", "text-success", "#55FF55", "#00AA00"),  # bright green (92), green (32)
)


def _saturated(rgb: tuple[int, int, int]) -> bool:
    _h, lightness, s = colorsys.rgb_to_hls(*(x / 255 for x in rgb))
    return s > 0.25 and 0.1 < lightness < 0.95


def keeps_hue(color: str, system: str) -> bool:
    """Whether ``color`` is still a colour, not a grey, once downgraded to ``system``."""
    target = LOW_COLOR_SYSTEMS.get(system)
    c = RichColor.parse(Color.parse(color).hex6)
    if target is None:
        return True
    return _saturated(tuple(c.downgrade(target).get_truecolor()))  # type: ignore[arg-type]


def for_color_system(theme: Theme, system: str | None) -> Theme:
    """``theme`` as shown on a terminal with ``system`` colours (Rich's names: "truecolor",
    "256", "standard", "windows"): unchanged in truecolor, the level colours fixed below it."""
    if system not in LOW_COLOR_SYSTEMS or theme.ansi:
        return theme
    variables = dict(theme.variables)
    for base, text_var, on_dark, on_light in _LEVEL_COLORS:
        if text_var in theme.variables:
            continue  # the theme chose its text colour; it is used as it is
        value = getattr(theme, base)
        if not value:
            continue
        c = Color.parse(value)
        if not _saturated(c.rgb):
            continue  # a grey on purpose
        if not keeps_hue(value, system):
            value = on_dark if theme.dark else on_light
        variables[text_var] = Color.parse(value).hex6
    return dataclasses.replace(theme, variables=variables)
