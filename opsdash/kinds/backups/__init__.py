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
from typing import Any

from ..base import Attached, BuiltinRule, Metric
from ._base import BackupConfig, BackupKind, CheckConfig, CheckOutcome, Key, Remote, RestoreTestConfig, Timed

__all__ = [
    "METRICS",
    "attached",
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


# --- the metrics and built-in rules every backup kind shares ----------------------------

DAY = 86400.0

METRICS: tuple[Metric, ...] = (
    Metric("backup.age_s", "backup age", "dur", "Age of the newest backup, at the last poll.",
           prom="opsdash_backup_age_seconds"),
    Metric("backup.restore_ok", "restore test ok", "bool", "1 when the last restore test passed, 0 when it failed.",
           ("restore test passed", "restore test failed"), prom="opsdash_backup_restore_success"),
    Metric("backup.restore_age_s", "last good restore test", "dur", "Seconds since the last restore test ran.",
           prom="opsdash_backup_restore_age_seconds"),
    Metric("backup.restore_duration_s", "restore test duration", "dur", "How long the last restore test took.",
           prom="opsdash_backup_restore_duration_seconds"),
)


def _max_age(hb: Any) -> tuple[float | None, float | None]:
    """A job's own max_age warns; twice it is critical."""
    return hb[1].max_age, 2 * hb[1].max_age


def attached() -> Attached:
    """The backups' declaration. Built on first use, not at import: the restore runbook
    names every registered kind's own check command, which needs the kinds found."""
    rules = (
        BuiltinRule("backup-age", "backup.age_s", warn=26 * 3600.0, crit=52 * 3600.0, per_check=_max_age,
                    description="last backup older than the job's max_age (critical at twice)",
                    runbook="check the backup job's log and timer (systemctl list-timers), repository space and locks"),
        BuiltinRule("restore-test-failed", "backup.restore_ok", op="<", crit=0.5,
                    tier={"warning": "L2", "critical": "L2"}, description="the last restore test failed",
                    runbook="read the restore test detail; run " + " / ".join(
                        k.check_runbook for k in kinds() if k.check_runbook)
                    + "; a backup that cannot be restored is no backup"),
        BuiltinRule("restore-test-stale", "backup.restore_age_s", warn=7 * DAY,
                    description="no successful restore test for 7 days",
                    runbook="run `opsdash once --probe backups --run-restore-tests`; check the restore test's schedule"),
    )
    # One check per (host, [[hosts.backups]] entry): its own max_age applies to that host's series
    # labelled with that backup.
    return Attached("backups", METRICS, rules, checks=lambda cfg: [(h, b) for h in cfg.hosts for b in h.backups],
                    match=lambda hb: {"target": hb[0].name, "backup": hb[1].name})
