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

import dataclasses
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterable

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
