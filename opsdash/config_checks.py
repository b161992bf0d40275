"""What `opsdash check-config` checks beyond the schema: names that must refer to
something that exists. A theme that is installed, an identity_file that is there,
a rule's metric that opsdash emits, and a rule that takes a built-in's name without
silently turning it into another rule.

Loading a config does not do these checks (a theme typo must not stop `opsdash
once` from paging): `check-config` does, and exits 3 on any of them. The caller
passes what is known (metric names, the built-in rules, the theme names): this
module sits beside config.py, below the layers that know them.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import Config, _Locator, _show, user_themes_dir
from .errors import ConfigProblem

__all__ = ["check_references", "theme_names"]


def theme_names(user_dir: Path | None = None) -> set[str]:
    """The names of the installed themes, without importing Textual: the same three
    places ui/themes.py loads them from (the wheel, the checkout, the user's dir),
    each file's ``name`` key or else its file name."""
    dirs: list[Any] = []
    try:
        packaged = resources.files("opsdash").joinpath("themes")
        if packaged.is_dir():
            dirs.append(packaged)
    except (ModuleNotFoundError, TypeError):
        pass
    for d in (Path(__file__).resolve().parents[1] / "themes", user_dir if user_dir is not None else user_themes_dir()):
        if d.is_dir():
            dirs.append(d)
    names: set[str] = set()
    for d in dirs:
        for f in d.iterdir():
            if not (f.name.endswith(".toml") and f.is_file()):
                continue
            try:
                name = tomllib.loads(f.read_text(encoding="utf-8")).get("name")
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue  # a broken theme file is reported by the TUI, and is no theme
            names.add(name if isinstance(name, str) and name else f.name.removesuffix(".toml"))
    return names


def _did_you_mean(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _is_glob(v: str) -> bool:
    return any(c in v for c in "*?[")


def check_references(
    cfg: Config,
    text: str,
    *,
    metrics: Iterable[str],
    builtin_metrics: Mapping[str, str],
    themes: Iterable[str],
) -> list[ConfigProblem]:
    """One problem per name that refers to nothing: FILE:LINE: key.path: what was expected."""
    file = str(cfg.path) if cfg.path is not None else "config.toml"
    where = _Locator(text)
    problems: list[ConfigProblem] = []

    def problem(path: str, message: str) -> None:
        problems.append(ConfigProblem(file, path, message, where.line_of(path)))

    raw = cfg.raw if isinstance(cfg.raw, dict) else {}
    themes = set(themes)
    theme = cfg.settings.theme
    if themes and theme not in themes:
        problem("opsdash.theme", f"expected an installed theme ({', '.join(sorted(themes))}), got {_show(theme)}"
                + _did_you_mean(theme, themes))

    defaults = raw.get("defaults") if isinstance(raw.get("defaults"), dict) else {}
    raw_hosts = raw.get("hosts") if isinstance(raw.get("hosts"), list) else []
    reported_default = False
    for i, h in enumerate(cfg.hosts):
        if not h.identity_file or h.is_local:
            continue
        path = os.path.expanduser(h.identity_file)
        if os.path.isfile(path) and os.access(path, os.R_OK):
            continue
        why = "no such file" if not os.path.exists(path) else "not a readable file"
        got = f'"{h.identity_file}"' + (f" ({path})" if path != h.identity_file else "")  # whole: a path cut is no help
        own = i < len(raw_hosts) and isinstance(raw_hosts[i], dict) and "identity_file" in raw_hosts[i]
        if own:
            problem(f"hosts[{i}].identity_file", f"expected a private key file, got {got}: {why}")
        elif "identity_file" in defaults and not reported_default:
            reported_default = True
            problem("defaults.identity_file", f"expected a private key file, got {got}: {why}")

    metrics = set(metrics)
    raw_rules = raw.get("rules") if isinstance(raw.get("rules"), list) else []
    for i, r in enumerate(raw_rules):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not isinstance(r.get("metric"), str):
            continue  # the schema check has said what is wrong with it
        name, metric = r["name"], r["metric"]
        base = builtin_metrics.get(name)
        if _is_glob(metric):
            known = any(fnmatch.fnmatchcase(m, metric) for m in metrics)
        else:
            known = metric in metrics
        replaces = f'; "{name}" is also the built-in rule on {base}, which this entry would replace' if base else ""
        if not known:
            # On a built-in's name, the built-in's own metric is the likely intent ("host.cpu").
            hint = f' (did you mean "{base}"?)' if base and not _is_glob(base) else _did_you_mean(metric, metrics)
            expected = "a metric opsdash emits" + (hint or f" (one of: {', '.join(sorted(metrics))})")
            problem(f"rules[{i}].metric", f"expected {expected}, got {_show(metric)}{replaces}")
        elif base is not None and metric != base and base != "*":
            problem(f"rules[{i}].metric",
                    f'"{name}" is the built-in rule on {base}: an entry with its name changes that rule, '
                    f"so it cannot watch {_show(metric)}; give this rule another name")

    # A maintenance window's (or a silence's) rule matcher that names no rule holds nothing:
    # a typo'd window would let the planned reboot page at 2 AM.
    rule_names = set(builtin_metrics) | {r["name"] for r in raw_rules if isinstance(r, dict) and isinstance(r.get("name"), str)}
    raw_windows = raw.get("maintenance") if isinstance(raw.get("maintenance"), list) else []
    for i, w in enumerate(raw_windows):
        match = w.get("match") if isinstance(w, dict) else None
        if not isinstance(match, dict):
            continue
        for key in ("rule", "alertname"):
            value = match.get(key)
            if isinstance(value, str) and not _is_glob(value) and value not in rule_names:
                problem(f"maintenance[{i}].match.{key}",
                        f"expected a rule name (a built-in or one of [[rules]]), got {_show(value)}"
                        + _did_you_mean(value, rule_names))
    return problems
