"""The backup kinds, found by module: every public module of this package
defines ``KIND`` (a ``BackupKind``), registered under ``KIND.name``; one without
it fails loudly rather than vanishing from config and the collector.

Discovery instead of a hand-kept list is what lets a new kind be one new file.
It runs on first use, not at import, so a kind module may import ``_base``
freely.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._base import BackupConfig, BackupKind, CheckConfig, CheckOutcome, Key, Remote, RestoreTestConfig, Timed

__all__ = [
    "BackupConfig",
    "BackupKind",
    "CheckConfig",
    "CheckOutcome",
    "Key",
    "Remote",
    "RestoreTestConfig",
    "Timed",
    "get",
    "kinds",
    "names",
]

_REGISTRY: dict[str, BackupKind] = {}


def kinds() -> tuple[BackupKind, ...]:
    """Every registered backup kind, by name."""
    if not _REGISTRY:
        found = {}
        for mod in pkgutil.iter_modules(__path__):
            if mod.name.startswith("_"):
                continue
            kind = importlib.import_module(f"{__name__}.{mod.name}").KIND  # every public module here is a kind
            found[kind.name] = kind
        _REGISTRY.update(sorted(found.items()))
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(k.name for k in kinds())


def get(name: str) -> BackupKind:
    """The kind called ``name``; KeyError for a name config.py would have refused."""
    kinds()
    return _REGISTRY[name]
