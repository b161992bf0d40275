"""Backup freshness, restore tests and repository checks, run on the host that
holds the credentials, for every registered backup kind (opsdash/kinds/backups/).

This module is the kinds' one way to a host: it builds the job's env block
(the kind's defaults, the user's ``env``, the kind's own variables, every value
shlex-quoted), runs the kind's scripts through ``sections.run_script`` (on
stdin, so neither paths nor ``env`` values appear in a remote command line),
turns a restore's timeout or early end into data, and redacts secrets from
every message a kind returns. What to run and how to read it is the kind's.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, replace
from typing import Mapping

from ...errors import OutputTooLarge, ParseError, ProbeError, ScriptEndedEarly
from ...model import BackupStatus
from ..base import CommandRunner as Runner
from ..sections import RESTORE_DIR, Section, run_script
from ._base import BackupConfig, BackupKind, Timed

__all__ = ["CheckResult", "probe_backup", "run_check"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A repository check (restic check --read-data-subset, borg check, pgbackrest verify, ...)."""

    ok: bool
    at: float
    duration_s: float
    detail: str
    data_verified: bool  # the check read data, not only metadata


_SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL", re.I)


def _redact(cfg: BackupConfig, text: str) -> str:
    """Belt and braces: if a user put a secret in ``env``, it never reaches a message."""
    for k, v in cfg.env.items():
        if v and _SECRET_KEY.search(k) and v in text:
            text = text.replace(v, "***")
    return text


def _env(cfg: BackupConfig) -> str:
    kind = _registered(cfg.kind)
    lines = [f"{k}={shlex.quote(v)}; export {k}" for k, v in kind.env_defaults]
    for k, v in cfg.env.items():
        if not k.isidentifier():
            raise ProbeError(f"backup {cfg.name}: env key {k!r} is not a valid variable name")
        lines.append(f"{k}={shlex.quote(v)}; export {k}")
    lines += [f"{k}={word}; export {k}" for k, word in kind.env(cfg)]
    return "\n".join(lines) + "\n"


class _Remote:
    """``kinds.Remote``: the job's env block before every body, through the one runner."""

    def __init__(self, runner: Runner, cfg: BackupConfig, timeout: float):
        self.runner, self.timeout, self._env = runner, timeout, _env(cfg)

    async def run(self, body: str) -> Mapping[str, Section]:
        return await run_script(self.runner, self._env + body, timeout=self.timeout)

    async def timed(self, body: str, *, timeout: float, scratch: bool = False) -> Timed:
        t0 = time.monotonic()
        try:
            s = await run_script(self.runner, self._env + (RESTORE_DIR if scratch else "") + body, timeout=timeout)
        except ScriptEndedEarly as e:
            return Timed(None, time.monotonic() - t0, "ended", str(e), e.rc, e.reason)
        except OutputTooLarge as e:
            return Timed(None, time.monotonic() - t0, "too-large", str(e))
        except ProbeError as e:
            if e.state != "timeout":
                raise  # the host, not the job: the caller's host state says so
            return Timed(None, time.monotonic() - t0, "timeout", str(e))
        return Timed(s, time.monotonic() - t0)


def _registered(name: str) -> BackupKind:
    from . import get  # the package's registry; it imports this module last

    return get(name)


def _kind(cfg: BackupConfig) -> BackupKind:
    try:
        return _registered(cfg.kind)
    except KeyError:
        raise ProbeError(f"backup {cfg.name}: unknown kind {cfg.kind!r}") from None


async def probe_backup(
    runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float
) -> BackupStatus:
    """Freshness of one backup job and, when ``run_restore`` and configured, a restore test.

    Failures of the backup tool (wrong password, missing repository, corrupt
    data) are reported in the status; transport failures (SSH, timeouts of
    the freshness probe) raise ProbeError for the caller's host state.
    """
    kind = _kind(cfg)
    try:
        st = await kind.probe(cfg, _Remote(runner, cfg, timeout), now=now, run_restore=run_restore)
    except ParseError as e:
        return BackupStatus(cfg.name, cfg.kind, None, None, None, error=_redact(cfg, str(e)))
    rt = st.restore_test
    return replace(st, error=_redact(cfg, st.error) if st.error else st.error,
                   restore_test=replace(rt, detail=_redact(cfg, rt.detail)) if rt else rt)


async def run_check(runner: Runner, cfg: BackupConfig, timeout: float) -> CheckResult:
    """The kind's repository check: restic ``check --read-data-subset`` (plain ``check``
    misses corrupt packs), ``borg check`` (segment CRCs + archives), ``pgbackrest verify``..."""
    kind = _kind(cfg)
    at, t0 = time.time(), time.monotonic()
    s = await _Remote(runner, cfg, timeout).run(kind.check_script(cfg))
    c, dur = s["check"], time.monotonic() - t0
    try:
        out = kind.read_check(cfg, c)
        ok, detail, data = out.ok, out.detail, out.data_verified
    except ParseError as e:
        ok, detail, data = False, str(e), False
    return CheckResult(ok, at, dur, _redact(cfg, detail), data and ok)
