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

from .base import Kind, Metric

__all__ = ["by_name", "kinds", "metrics"]


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


def metrics() -> tuple[Metric, ...]:
    return tuple(m for k in kinds() for m in k.metrics)
