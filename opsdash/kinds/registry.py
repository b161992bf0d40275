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

from typing import Any, Callable, Mapping

from .base import Attached, BuiltinRule, HostKind, Kind, Metric

__all__ = ["attached", "by_name", "host_kind", "host_kinds", "kinds", "metric", "metrics", "rule_sources"]


def _declared() -> list[object]:
    """The ``KIND`` of every module and package under kinds/ (but base, registry and the
    private helpers), in name order."""
    found: list[object] = []
    for mod in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name in ("base", "registry"):
            continue
        k = getattr(importlib.import_module(f"{__package__}.{mod.name}"), "KIND", None)
        if k is not None:
            found.append(k)
    return found


@lru_cache(maxsize=1)
def kinds() -> tuple[Kind, ...]:
    """The kinds with a [[section]] of their own (kinds/base.Kind)."""
    return tuple(k for k in _declared() if isinstance(k, Kind))


def by_name(name: str) -> Kind | None:
    return next((k for k in kinds() if k.name == name), None)


@lru_cache(maxsize=1)
def host_kinds() -> tuple[HostKind, ...]:
    """The kinds that live on a [[hosts]] entry and run on that host (kinds/base.HostKind)."""
    return tuple(k for k in _declared() if isinstance(k, HostKind))


def host_kind(name: str) -> HostKind | None:
    """The host kind whose rows are called ``name`` (also a metric's prefix: "cache", "backup")."""
    return next((k for k in host_kinds() if k.name == name), None)


@lru_cache(maxsize=1)
def attached() -> tuple[Attached | HostKind, ...]:
    """Every kind declared beside the [[section]] kinds: host health and the endpoints
    (whose probes are the collector's own), the certificates on https endpoints, and the
    host kinds. Their order is the order of their rules (check-config, tune): the host's,
    then the endpoints', then the rest."""
    from . import endpoints, health, tls

    return (health.ATTACHED, endpoints.ATTACHED, tls.ATTACHED, *host_kinds())


def metrics() -> tuple[Metric, ...]:
    """Every metric opsdash emits: the engine's names and units, check-config's list, /metrics."""
    return tuple(m for k in (*attached(), *kinds()) for m in k.metrics)


@lru_cache(maxsize=None)
def metric(name: str) -> Metric:
    """The declared metric called ``name`` (KeyError for one no kind declares)."""
    for m in metrics():
        if m.name == name:
            return m
    raise KeyError(name)


RuleSource = tuple[tuple[BuiltinRule, ...], list[Any], Callable[[Any], Mapping[str, str]]]


def rule_sources(cfg: Any) -> list[RuleSource]:
    """(built-in rules, the checks their per_check sees, what a check's threshold matches)
    of every kind, in rule order, for alerts/rules.py."""
    out: list[RuleSource] = [(a.rules, list(a.checks(cfg)) if cfg is not None else [], a.match) for a in attached()]
    for k in kinds():
        out.append((k.rules, list(cfg.checks.get(k.name, ())) if cfg is not None else [], k.match))
    return out
