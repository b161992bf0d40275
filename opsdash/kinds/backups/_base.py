"""What a backup kind is, and what the kinds share.

A kind (restic.py, borg.py, ...) declares:
  * ``name`` and ``keys``: the ``[[hosts.backups]]`` keys it reads and which it
    requires (config.py validates every job against its kind's keys);
  * ``needs_sample``: whether its restore test restores ``restore_test.sample``;
  * ``env``: the variables its tool needs (set after the user's ``env``);
  * ``probe``: freshness and, when asked, the restore test, as shell scripts run
    through ``Remote`` (the one remote runner, handed in by kinds/backups/_host.py)
    and read back with its parser;
  * ``check_script`` / ``read_check``: the repository check;
  * ``check_runbook``: how an operator checks the repository by hand (the
    restore-test-failed rule's runbook lists every kind's).

Secrets stay on the host: scripts travel on stdin, every config value is
shlex-quoted, and kinds/backups/_host.py redacts ``env`` secrets from every
message a kind returns, in one place.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping, Protocol

from ...errors import ParseError
from ...model import BackupStatus, RestoreTest

__all__ = [
    "HASH",
    "BackupConfig",
    "BackupKind",
    "CheckConfig",
    "CheckOutcome",
    "Key",
    "Remote",
    "RestoreTestConfig",
    "Section",
    "Timed",
    "check_restored_file",
    "fail_text",
    "guarded",
    "is_local_repo",
    "last_line",
    "qpath",
    "restore_failed",
    "sample_path",
    "status",
    "timed_restore",
    "wants_restore",
]


# --- a backup job's config (built by config.py from the kind's keys) -------------------


@dataclass(frozen=True)
class RestoreTestConfig:
    every: float = 86400.0
    sample: str = ""
    timeout: float = 600.0


@dataclass(frozen=True)
class CheckConfig:
    every: float = 7 * 86400.0
    subset: str = "1%"  # restic --read-data-subset
    timeout: float = 3600.0


@dataclass(frozen=True)
class BackupConfig:
    name: str
    kind: str  # a registered kind's name (opsdash.kinds.backups.names())
    repository: str = ""
    password_file: str = ""
    max_age: float = 26 * 3600.0
    interval: float = 600.0
    restore_test: RestoreTestConfig | None = None
    check: CheckConfig | None = None
    command: str = ""  # kind = "command": exit 0 = pass, last stdout line = summary
    stanza: str = ""  # pgbackrest
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a password: kept out of repr/logs
    # A kind's own keys that are not fields above: a new kind needs no new field here.
    options: Mapping[str, str] = field(default_factory=dict)

    def value(self, key: str) -> str:
        """A kind's key, a field or one of ``options``; "" when unset."""
        return getattr(self, key) if key in _FIELDS else self.options.get(key, "")


@dataclass(frozen=True)
class Key:
    """A ``[[hosts.backups]]`` key a kind reads: always a non-empty string in TOML.

    ``check`` may refine it: return the value, or raise ValueError("what was expected")."""

    name: str
    required: bool = False
    doc: str = ""
    check: Callable[[str], str] | None = None


_FIELDS = frozenset(BackupConfig.__dataclass_fields__) - {"options"}


# --- how a kind reaches the host ---------------------------------------------------


class Section(Protocol):
    rc: int
    out: str
    err: str


@dataclass(frozen=True, slots=True)
class Timed:
    """A script run under its own budget: its sections, or how it did not finish.

    ``why``: "ended" (stopped before its end: killed, ``exit``, syntax error; ``rc``
    and ``reason`` say how), "too-large" (output over the host's cap) or "timeout"."""

    sections: Mapping[str, Section] | None
    duration_s: float
    why: str | None = None
    message: str = ""
    rc: int | None = None
    reason: str = ""


class Remote(Protocol):
    """The one remote runner as a kind sees it. Every body is preceded by the job's
    ``env`` block and defines ``sec NAME CMD...`` (kinds/sections.py)."""

    timeout: float  # the probe's own budget (run uses it)

    def run(self, body: str) -> Awaitable[Mapping[str, Section]]:
        """Run under ``timeout``; any failure (SSH, timeout, cut short) raises ProbeError:
        the host's state, not the backup's."""
        ...

    def timed(self, body: str, *, timeout: float, scratch: bool = False) -> Awaitable[Timed]:
        """Run under ``timeout``; a timeout, a cut-off or an early end comes back as
        ``Timed.why``, other transport failures raise ProbeError. ``scratch``: "$_t" is a
        fresh ``mktemp -d`` directory, removed on exit and on SIGTERM (the one thing a
        probe writes on a host)."""
        ...


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    ok: bool
    detail: str
    data_verified: bool  # the check read data, not only metadata


class BackupKind:
    """One backup kind. Subclass in a module of this package and set ``KIND = ...``."""

    name: str = ""
    keys: tuple[Key, ...] = ()
    needs_sample: bool = False  # restore_test.sample is required
    # The probe itself is the restore test (kind "command"): without a [restore_test]
    # table its result is recorded as one by the freshness job.
    probe_is_restore_test: bool = False
    check_runbook: str = ""  # e.g. "`restic check`"
    # Set before the user's env (which may override them on purpose): answers for prompts.
    env_defaults: tuple[tuple[str, str], ...] = ()

    def env(self, cfg: BackupConfig) -> list[tuple[str, str]]:
        """(NAME, shell word) pairs set after the user's env; the word is already quoted."""
        return []

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        """Freshness, and the restore test when ``run_restore`` and configured. The tool's
        failures (wrong password, no repository, corrupt data) are in the status; a
        ParseError becomes the status' error (kinds/backups/_host.py)."""
        raise NotImplementedError

    def check_script(self, cfg: BackupConfig) -> str:
        """The repository check as a script body with one section, ``check``."""
        raise NotImplementedError

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        raise NotImplementedError


# --- shared by the kinds ------------------------------------------------------------

# sha256 of stdin, GNU or BSD; prints only the hex digest. ``streamed CMD...``:
# sha256 of CMD's stdout, returning CMD's exit status (POSIX sh has no pipefail:
# the status comes back through a command substitution on fd 5, no temp file).
HASH = """
h() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1; }
hf() { h <"$1"; }
fsize() { wc -c <"$1" | tr -d ' '; }
streamed() { { _s=$( { { "$@" 5>&- 6>&-; echo "$?" >&5; } | h >&6 5>&-; } 5>&1 ); } 6>&1; return "${_s:-1}"; }
"""


def qpath(p: str) -> str:
    """Quote a path for sh, keeping a leading ~/ meaning the remote user's home."""
    if p.startswith("~/"):
        return '"$HOME"/' + shlex.quote(p[2:])
    return shlex.quote(p)


def fail_text(sec: Section) -> str:
    return (sec.err + "\n" + sec.out).strip()


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def status(cfg: BackupConfig, now: float, last: float | None, count: int | None, size: int | None,
           restore: RestoreTest | None = None, error: str | None = None) -> BackupStatus:
    age = max(0.0, now - last) if last is not None else None
    return BackupStatus(cfg.name, cfg.kind, last, age, count, size, restore, error)


def restore_failed(now: float, reason: str, duration: float = 0.0) -> RestoreTest:
    return RestoreTest(False, now, duration, reason)


def wants_restore(cfg: BackupConfig, run_restore: bool) -> bool:
    return run_restore and cfg.restore_test is not None


def sample_path(cfg: BackupConfig) -> str:
    """restore_test.sample without its leading /; ValueError for a path that leaves the snapshot."""
    assert cfg.restore_test is not None
    sample = cfg.restore_test.sample.strip().lstrip("/")
    if not sample or ".." in sample.split("/"):
        raise ValueError(f"restore_test.sample must be a path inside the snapshot, got {cfg.restore_test.sample!r}")
    return sample


def is_local_repo(repo: str) -> bool:
    # restic: "s3:", "sftp:", "rest:", "b2:" ...; borg: "ssh://", "user@host:path".
    return bool(repo) and (repo.startswith(("/", "~/", "./")) or not re.match(r"^[\w.+-]+:|^[^/]*@", repo))


async def timed_restore(remote: Remote, cfg: BackupConfig, body: str, now: float, *, scratch: bool = True,
                        ) -> tuple[Mapping[str, Section] | None, float, RestoreTest | None]:
    """Run a restore script under the restore test's own timeout. A timeout is a failed
    restore test (a restore that does not finish in its budget fails), not a host error;
    so is a restore that was killed or cut off, with how."""
    assert cfg.restore_test is not None
    limit = cfg.restore_test.timeout
    t = await remote.timed(body, timeout=limit, scratch=scratch)
    if t.why == "timeout":
        return None, t.duration_s, restore_failed(now, f"restore did not finish within {limit:g}s", t.duration_s)
    if t.why is not None:
        return None, t.duration_s, restore_failed(now, f"restore test failed: {t.message}", t.duration_s)
    return t.sections, t.duration_s, None


async def guarded(now: float, restore: Awaitable[RestoreTest]) -> RestoreTest:
    """Unreadable output or a bad sample path is a failed restore test, never a pass,
    and it keeps the freshness figures already gathered."""
    try:
        return await restore
    except (ParseError, ValueError) as e:
        return restore_failed(now, f"restore test could not be evaluated: {e}")


def check_restored_file(
    s: Mapping[str, Section], where: str, recorded_size: int | None, second: Section | None,
    fail: Callable[[str], RestoreTest], now: float, dur: float, *,
    verb: str, done: str, records: str, second_read: str, second_failed: str | None,
    passed: Callable[[int, str], str],
) -> RestoreTest:
    """The end of a file restore test: the restored file exists, has the size the backup
    recorded, and its sha256 equals that of a second, streamed read (which catches a
    restore that wrote short or wrong bytes to disk)."""
    if "restored_sha" not in s:
        return fail(f"{where}: {done} reported success but the file is missing")
    got_size = int(s["restored_size"].out.strip())
    if recorded_size is not None and got_size != recorded_size:
        return fail(f"{where}: restored {got_size} bytes, {records} records {recorded_size}")
    if second_failed is not None or second is None:
        return fail(second_failed or f"{where}: no {second_read} output")
    sha_file, sha_second = s["restored_sha"].out.strip(), second.out.strip()
    if not re.fullmatch(r"[0-9a-f]{64}", sha_file) or sha_file != sha_second:
        return fail(f"{where}: sha256 of {verb} file {sha_file[:16]} != {second_read} {sha_second[:16]}")
    return RestoreTest(True, now, dur, passed(got_size, sha_file[:16]), bytes=got_size, checksum_verified=True)
