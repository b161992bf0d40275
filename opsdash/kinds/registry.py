"""The registered probe kinds: every ``opsdash/kinds/<name>.py`` that defines ``KIND``.

Found by module, once, so adding a kind is adding its module: config, the
collector, the engine, the rules, metrics out, the panes and the handover all
iterate over ``kinds()``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from .base import Attached, Kind, Metric

__all__ = ["attached", "by_name", "kinds", "metrics", "rule_sources"]


@lru_cache(maxsize=1)
def kinds() -> tuple[Kind, ...]:
    found: list[Kind] = []
    for mod in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if mod.ispkg or mod.name.startswith("_") or mod.name in ("base", "registry"):
            continue
        k = getattr(importlib.import_module(f"{__package__}.{mod.name}"), "KIND", None)
        if isinstance(k, Kind):
            found.append(k)
    return tuple(found)


def by_name(name: str) -> Kind | None:
    return next((k for k in kinds() if k.name == name), None)


@lru_cache(maxsize=1)
def attached() -> tuple[Attached, ...]:
    """The kinds that ride on hosts and endpoints (kinds/base.Attached)."""
    from . import security, tls

    return (security.ATTACHED, tls.ATTACHED)


def metrics() -> tuple[Metric, ...]:
    """Every metric the kinds declare: the engine's names and units, check-config's list, /metrics."""
    return tuple(m for k in (*attached(), *kinds()) for m in k.metrics)


def rule_sources(cfg: object) -> list[tuple[tuple, list]]:
    """(built-in rules, the checks their per_check sees) of every kind, for alerts/rules.py."""
    out: list[tuple[tuple, list]] = [(a.rules, list(a.checks(cfg)) if cfg is not None else []) for a in attached()]
    for k in kinds():
        out.append((k.rules, list(getattr(cfg, "checks", {}).get(k.name, ())) if cfg is not None else []))
    return out
