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
from functools import lru_cache
from dataclasses import replace
from typing import Any, Iterable, Mapping

from ...model import BackupRow, BackupStatus, Sample
from ..base import (CRIT, OK, UNKNOWN, WARN, BuiltinRule, HostContext, HostJob, HostKind, KeyChecker, Metric,
                    PaneView, Probed, ViewContext)
from ..values import nonempty, one_of, positive_duration, str_table, string
from ._base import BackupConfig, BackupKind, CheckConfig, CheckOutcome, Key, Remote, RestoreTestConfig, Timed

__all__ = [
    "KIND",
    "METRICS",
    "BackupConfig",
    "BackupsKind",
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
    "probe_backup",
    "run_check",
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


PROBE_BUDGET = 120.0  # at least this long: a repository on a slow disk or far away


class BackupsKind(HostKind):
    """Every ``[[hosts.backups]]`` job of a host: a freshness poll every ``interval`` and,
    when the job has a ``restore_test``, the test on its own schedule ("restore" jobs)."""

    name = "backup"
    word = "backups"
    title = "Backups"
    label = "backup"
    key = "backups"
    metrics = METRICS
    row_type = BackupRow
    pane = "backups"
    exports = (
        (METRICS[0].prom_name, METRICS[0].help),
        ("opsdash_backup_last_success_timestamp_seconds", "Unix time of the newest backup."),
        (METRICS[1].prom_name, METRICS[1].help),
        (METRICS[2].prom_name, METRICS[2].help),
        (METRICS[3].prom_name, METRICS[3].help),
        ("opsdash_backup_restore_timestamp_seconds", "Unix time of the last restore test."),
    )

    def export(self, row: Any, now: float) -> Iterable[tuple[str, float | None, Mapping[str, str]]]:
        b, labels = row.status, {"backup": row.status.name}
        out = [(METRICS[0].prom_name, b.age_s, labels),
               ("opsdash_backup_last_success_timestamp_seconds", b.last_backup, labels)]
        rt = b.restore_test
        if rt is not None:
            out += [(METRICS[1].prom_name, 1.0 if rt.ok else 0.0, labels),
                    (METRICS[2].prom_name, max(0.0, now - rt.at), labels),
                    (METRICS[3].prom_name, rt.duration_s, labels),
                    ("opsdash_backup_restore_timestamp_seconds", rt.at, labels)]
        return out

    @property
    def rules(self) -> tuple[BuiltinRule, ...]:  # type: ignore[override]
        return _rules()

    def checks(self, cfg: Any) -> list[Any]:
        # One check per (host, [[hosts.backups]] entry): its own max_age applies to that
        # host's series labelled with that backup.
        return [(h, b) for h in cfg.hosts for b in h.backups]

    def match(self, check: Any) -> Mapping[str, str]:
        return {"target": check[0].name, "backup": check[1].name}

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[BackupConfig, ...]:
        """The keys every job has, and those its kind declares (Key); a key of another
        kind is accepted and unused."""
        found = kinds()
        kind_keys = {k.name: k for kind in found for k in kind.keys}
        fields = set(BackupConfig.__dataclass_fields__)
        out = []
        for i, b in enumerate(items):
            bp = f"{path}[{i}]"
            v = ck.table(b, bp, {
                "name": (nonempty, ck.REQUIRED),
                "kind": (one_of(*(k.name for k in found)), ck.REQUIRED),
                **{name: (_key_check(key), "") for name, key in kind_keys.items()},
                "max_age": (positive_duration, 26 * 3600.0),
                "interval": (positive_duration, 600.0),
                "restore_test": (lambda x: x, None),
                "check": (lambda x: x, None),
                "env": (str_table, {}),
            })
            kind = get(v["kind"]) if v["kind"] is not None else None
            rt = None
            if v["restore_test"] is not None:
                r = ck.table(v["restore_test"], f"{bp}.restore_test", {
                    "every": (positive_duration, 86400.0),
                    "sample": (string, ""),
                    "timeout": (positive_duration, 600.0),
                })
                if kind is not None and kind.needs_sample and not r["sample"]:
                    ck.problem(f"{bp}.restore_test.sample", "is required: a path in the snapshot to restore and verify")
                rt = RestoreTestConfig(**r)
            chk = None
            if v["check"] is not None:
                c = ck.table(v["check"], f"{bp}.check", {
                    "every": (positive_duration, 7 * 86400.0),
                    "subset": (nonempty, "1%"),
                    "timeout": (positive_duration, 3600.0),
                })
                chk = CheckConfig(**c)
            for key in kind.keys if kind is not None else ():
                if key.required and not v[key.name]:
                    ck.problem(f"{bp}.{key.name}", f"is required for kind {kind.name}")
            if v["name"] is not None and kind is not None:
                own = {k: v.pop(k) for k in kind_keys if k not in fields}
                out.append(BackupConfig(**{**v, "restore_test": rt, "check": chk,
                                           "options": {k: x for k, x in own.items() if x}}))
        ck.unique([b for b in items if isinstance(b, dict)], path)
        return tuple(out)

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        out = []
        for b in host.backups:
            out.append(HostJob("backup", b.name, b.interval, max(host.timeout, PROBE_BUDGET), b))
            if b.restore_test is not None and restore_tests:
                out.append(HostJob("restore", b.name, b.restore_test.every, b.restore_test.timeout, b, mode="restore"))
        return out

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        b: BackupConfig = job.check
        restore = job.mode == "restore"
        t = ctx.clock()
        status = await probe_backup(ctx.runner, b, now=t, run_restore=restore, timeout=job.budget)
        # A `command` job without a separate restore_test is its own test, run by this job.
        tests_here = restore or (get(b.kind).probe_is_restore_test and b.restore_test is None)
        fresh_test = status.restore_test is not None and tests_here
        prev = ctx.row("backup", b.name)  # now, not before the probe: the restore job may have run meanwhile
        if status.restore_test is None and prev is not None and prev.status.restore_test is not None:
            # A freshness poll does not forget the last restore test's result.
            status = replace(status, restore_test=prev.status.restore_test)
        labels = {"backup": b.name}
        samples = []
        # One writer per series: the freshness job writes the ages, the restore job its
        # result. Two jobs on different schedules writing one series would look like
        # erratic arrivals to the dead man's switch.
        if status.age_s is not None and not restore:
            samples.append(Sample(t, host.name, "backup.age_s", status.age_s, labels))
        rt = status.restore_test
        if rt is not None:
            if fresh_test:
                samples.append(Sample(t, host.name, "backup.restore_ok", 1.0 if rt.ok else 0.0, labels))
                samples.append(Sample(t, host.name, "backup.restore_duration_s", rt.duration_s, labels))
            elif not restore:  # the age grows between tests: the regular freshness poll is its one writer
                samples.append(Sample(t, host.name, "backup.restore_age_s", max(0.0, t - rt.at), labels))
        return Probed(BackupRow(status, t, b.interval, b.max_age), samples,
                      error=status.error if status.error and not rt else None)

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        # The host or the channel failed: the row says why (never "not polled yet") and
        # keeps what the last good poll found.
        b: BackupConfig = job.check
        prev = ctx.row("backup", b.name)
        status = (replace(prev.status, error=reason) if prev is not None
                  else BackupStatus(b.name, b.kind, None, None, None, error=reason))
        return Probed(BackupRow(status, t, b.interval, b.max_age))

    def view(self, target: str, name: str, data: Mapping[str, Any], ctx: ViewContext) -> PaneView:
        b = BackupRow.from_json(data, name).status
        age = b.age_s
        if age is not None:
            age = age + max(0.0, ctx.now - ctx.polled)  # the backup keeps ageing after the read
        labels = {"backup": str(name)}
        # backup-age's per-job thresholds are the job's max_age (warning) and twice it (critical)
        lv_age, st_age = ctx.level("backup.age_s", age, target, labels)
        rt = b.restore_test
        if rt is not None:
            rt_age = ctx.now - rt.at
            lv_ok, st_ok = ctx.level("backup.restore_ok", 1.0 if rt.ok else 0.0, target, labels)
            lv_rage, st_rage = ctx.level("backup.restore_age_s", rt_age, target, labels)
            lv_rt, st_rt = max((lv_ok, st_ok), (lv_rage, st_rage), key=lambda x: (x[0] != UNKNOWN, x[0], bool(x[1])))
            if rt.ok:
                rt_txt = f"✔ ok {ctx.age(rt_age)}" + (" ✓sum" if rt.checksum_verified else "")
            else:
                rt_txt = f"✖ FAILED {ctx.age(rt_age)}"
        else:
            # No test result is no value: no rule judges it (restore-test-stale needs a last test).
            lv_rt, st_rt, rt_txt = UNKNOWN, "muted", "▲ never tested"
        failed = rt is not None and not rt.ok
        if b.error:
            # A probe that could not read is unknown, as `once` says: no rule judged a value.
            # (The no-data rule fires when its series stop arriving.)
            level, word = UNKNOWN, "error"
        else:
            level = max((x for x in (lv_age, lv_rt) if x != UNKNOWN), default=UNKNOWN)
            word = {OK: "ok", WARN: "warn", CRIT: "CRIT", UNKNOWN: "unknown"}[level]
            if failed and level == lv_rt and level >= WARN:
                word = "RESTORE"
            elif lv_age == level and level >= WARN:
                word = "OLD"
        cells = (
            (f"{target}/{name}", ""),
            (rt_txt, st_rt),
            (ctx.age(age), st_age),
            (str(b.snapshots) if b.snapshots is not None else "—", ""),
            (b.kind, "muted"),
        )
        return PaneView(level, word, cells, (target, name),
                        (target, name, b.kind, "restore failed" if failed else "", "stale" if ctx.stale else "",
                         b.error))

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        if not host.backups:
            return None
        return [rows[b.name].status.to_json() if b.name in rows
                else {"name": b.name, "kind": b.kind, "last_backup": None, "age_s": None, "snapshots": None,
                      "restore_test": None, "error": "not polled yet"}
                for b in host.backups]

    def reason(self, row: Any, metric: str) -> str | None:
        rt = row.status.restore_test
        if metric == "backup.restore_ok" and rt is not None and not rt.ok and rt.detail:
            return rt.detail
        return None


def _key_check(key: Key) -> Any:
    """A kind's key: always a non-empty string in TOML, then the kind's own check."""
    def check(v: Any) -> str:
        v = nonempty(v)
        return key.check(v) if key.check is not None else v
    return check


@lru_cache(maxsize=1)
def _rules() -> tuple[BuiltinRule, ...]:
    """Built on first use, not at import: the restore runbook names every registered
    kind's own check command, which needs the kinds found."""
    return (
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


KIND = BackupsKind()

from ._host import probe_backup, run_check  # noqa: E402  (it reads the registry above)
