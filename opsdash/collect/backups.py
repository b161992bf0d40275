"""Backup freshness, restore tests and repository checks for restic, borg,
pgBackRest and user commands, run on the host that holds the credentials.

Secrets stay on the host: the password reaches restic as RESTIC_PASSWORD_FILE
and borg as BORG_PASSCOMMAND="cat FILE". Scripts travel on stdin (see
``patches.run_script``), so neither paths nor ``env`` values from the config
appear in a remote command line; every config value is shlex-quoted.

Restore test (restic, borg): restore ``restore_test.sample`` from the newest
snapshot into a ``mktemp -d`` directory (removed by a trap, also when the
runner stops the script with SIGTERM; the only thing a probe writes on a
host), then require
  1. the tool's own verification: ``restic restore --verify`` re-reads the
     restored file and checks every blob's SHA-256 against the snapshot tree;
     borg checks each chunk's MAC/ID while extracting;
  2. the restored size to equal the size recorded in the snapshot metadata
     (``restic ls --json`` / ``borg list --json-lines``), which is read
     independently of the data path;
  3. sha256 of the restored file to equal sha256 of a second, streamed read
     (``restic dump`` / ``borg extract --stdout``), which catches a restore
     that wrote short or wrong bytes to disk.
pgBackRest has no single-file restore; its "restore test" is ``pgbackrest
verify``, which checks every file's checksum in the repository, and says so.
"""

from __future__ import annotations

import re
from typing import Callable
import shlex
import time
from dataclasses import dataclass

from ..config import BackupConfig
from ..errors import ParseError, ProbeError
from ..model import BackupStatus, RestoreTest
from ..parsers import borg, pgbackrest, restic
from .patches import RESTORE_DIR, ScriptEndedEarly, Section, run_script
from .remote import OutputTooLarge
from .runner import Runner

__all__ = ["CheckResult", "probe_backup", "run_check"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A repository check (restic check --read-data-subset, borg check, pgbackrest verify)."""

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


def _qpath(p: str) -> str:
    """Quote a path for sh, keeping a leading ~/ meaning the remote user's home."""
    if p.startswith("~/"):
        return '"$HOME"/' + shlex.quote(p[2:])
    return shlex.quote(p)


def _env(cfg: BackupConfig) -> str:
    lines = []
    if cfg.kind == "borg":
        # Answer "no" instead of prompting (stdin is closed) if the repo moved or is
        # unencrypted; ``env`` below may say yes on purpose.
        lines.append("BORG_RELOCATED_REPO_ACCESS_IS_OK=no BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no")
        lines.append("export BORG_RELOCATED_REPO_ACCESS_IS_OK BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK")
    for k, v in cfg.env.items():
        if not k.isidentifier():
            raise ProbeError(f"backup {cfg.name}: env key {k!r} is not a valid variable name")
        lines.append(f"{k}={shlex.quote(v)}; export {k}")
    if cfg.kind == "restic":
        lines.append(f"RESTIC_REPOSITORY={_qpath(cfg.repository)}; export RESTIC_REPOSITORY")
        if cfg.password_file:
            lines.append(f"RESTIC_PASSWORD_FILE={_qpath(cfg.password_file)}; export RESTIC_PASSWORD_FILE")
    elif cfg.kind == "borg":
        lines.append(f"BORG_REPO={_qpath(cfg.repository)}; export BORG_REPO")
        if cfg.password_file:
            # borg shlex-splits this value and runs it without a shell, so the path is
            # quoted inside it; a ~/ path needs a shell to expand $HOME.
            pf = cfg.password_file
            passcmd = ("sh -c " + shlex.quote('cat "$HOME"/' + shlex.quote(pf[2:]))) if pf.startswith("~/") else (
                "cat " + shlex.quote(pf))
            lines.append(f"BORG_PASSCOMMAND={shlex.quote(passcmd)}; export BORG_PASSCOMMAND")
    elif cfg.kind == "pgbackrest" and cfg.repository:
        lines.append(f"PGBACKREST_REPO1_PATH={_qpath(cfg.repository)}; export PGBACKREST_REPO1_PATH")
    return "\n".join(lines) + "\n"


# sha256 of stdin, GNU or BSD; prints only the hex digest. ``streamed CMD...``:
# sha256 of CMD's stdout, returning CMD's exit status (POSIX sh has no pipefail:
# the status comes back through a command substitution on fd 5, no temp file).
_HASH = """
h() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1; }
hf() { h <"$1"; }
fsize() { wc -c <"$1" | tr -d ' '; }
streamed() { { _s=$( { { "$@" 5>&- 6>&-; echo "$?" >&5; } | h >&6 5>&-; } 5>&1 ); } 6>&1; return "${_s:-1}"; }
"""


def _fail_text(sec: Section) -> str:
    return (sec.err + "\n" + sec.out).strip()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


async def probe_backup(
    runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float
) -> BackupStatus:
    """Freshness of one backup job and, when ``run_restore`` and configured, a restore test.

    Failures of the backup tool (wrong password, missing repository, corrupt
    data) are reported in the status; transport failures (SSH, timeouts of
    the freshness probe) raise ProbeError for the caller's host state.
    """
    try:
        if cfg.kind == "restic":
            return await _restic(runner, cfg, now=now, run_restore=run_restore, timeout=timeout)
        if cfg.kind == "borg":
            return await _borg(runner, cfg, now=now, run_restore=run_restore, timeout=timeout)
        if cfg.kind == "pgbackrest":
            return await _pgbackrest(runner, cfg, now=now, run_restore=run_restore, timeout=timeout)
        if cfg.kind == "command":
            return await _command(runner, cfg, now=now, run_restore=run_restore, timeout=timeout)
    except ParseError as e:
        return BackupStatus(cfg.name, cfg.kind, None, None, None, error=_redact(cfg, str(e)))
    raise ProbeError(f"backup {cfg.name}: unknown kind {cfg.kind!r}")


def _status(cfg: BackupConfig, now: float, last: float | None, count: int | None, size: int | None,
            restore: RestoreTest | None = None, error: str | None = None) -> BackupStatus:
    age = max(0.0, now - last) if last is not None else None
    return BackupStatus(cfg.name, cfg.kind, last, age, count, size, restore, _redact(cfg, error) if error else None)


def _restore_failed(cfg: BackupConfig, now: float, reason: str, duration: float = 0.0) -> RestoreTest:
    return RestoreTest(False, now, duration, _redact(cfg, reason))


async def _timed_restore(runner: Runner, cfg: BackupConfig, body: str, now: float) -> tuple[dict[str, Section] | None, float, RestoreTest | None]:
    """Run a restore script under the restore test's own timeout. A timeout is a
    failed restore test (a restore that does not finish in its budget fails), not a host error."""
    assert cfg.restore_test is not None
    t0 = time.monotonic()
    try:
        s = await run_script(runner, body, timeout=cfg.restore_test.timeout)
    except (ScriptEndedEarly, OutputTooLarge) as e:
        # The restore ran and went wrong (killed, cut off): a failed test, with how.
        dur = time.monotonic() - t0
        return None, dur, _restore_failed(cfg, now, f"restore test failed: {e}", dur)
    except ProbeError as e:
        if e.state != "timeout":
            raise
        dur = time.monotonic() - t0
        return None, dur, _restore_failed(cfg, now, f"restore did not finish within {cfg.restore_test.timeout:g}s", dur)
    return s, time.monotonic() - t0, None


async def _guarded(cfg: BackupConfig, now: float, restore) -> RestoreTest:
    """Unreadable output or a bad sample path is a failed restore test, never a pass,
    and it keeps the freshness figures already gathered."""
    try:
        return await restore
    except (ParseError, ValueError) as e:
        return _restore_failed(cfg, now, f"restore test could not be evaluated: {e}")


def _wants_restore(cfg: BackupConfig, run_restore: bool) -> bool:
    return run_restore and cfg.restore_test is not None


def _sample(cfg: BackupConfig) -> str:
    assert cfg.restore_test is not None
    sample = cfg.restore_test.sample.strip().lstrip("/")
    if not sample or ".." in sample.split("/"):
        raise ValueError(f"restore_test.sample must be a path inside the snapshot, got {cfg.restore_test.sample!r}")
    return sample


def _is_local_repo(repo: str) -> bool:
    # restic: "s3:", "sftp:", "rest:", "b2:" ...; borg: "ssh://", "user@host:path".
    return bool(repo) and (repo.startswith(("/", "~/", "./")) or not re.match(r"^[\w.+-]+:|^[^/]*@", repo))


# --- restic ----------------------------------------------------------------------


async def _restic(runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float) -> BackupStatus:
    body = _env(cfg) + "sec snapshots restic --no-lock snapshots --json\n"
    if _is_local_repo(cfg.repository):
        # restic stats walks every snapshot; du on a local repo is the cheap size.
        body += f"sec du du -sk {_qpath(cfg.repository)}\n"
    s = await run_script(runner, body, timeout=timeout)
    snaps_sec = s["snapshots"]
    if snaps_sec.rc != 0:
        reason = "restic: " + (restic.classify_error(_fail_text(snaps_sec)) or _last_line(_fail_text(snaps_sec)))
        rt = _restore_failed(cfg, now, f"not run: {reason}") if _wants_restore(cfg, run_restore) else None
        return _status(cfg, now, None, None, None, rt, reason)
    snaps = restic.parse_snapshots_json(snaps_sec.out)
    size = _du_bytes(s.get("du"))
    last = snaps[-1] if snaps else None
    rt = None
    if _wants_restore(cfg, run_restore):
        rt = await _guarded(cfg, now, _restic_restore(runner, cfg, last, now)) if last else _restore_failed(cfg, now, "no snapshots to restore from")
    return _status(cfg, now, last.time if last else None, len(snaps), size, rt)


def _du_bytes(sec: Section | None) -> int | None:
    if sec is None or sec.rc != 0:
        return None
    m = re.match(r"^(\d+)\s", sec.out)
    return int(m.group(1)) * 1024 if m else None


async def _restic_restore(runner: Runner, cfg: BackupConfig, snap: restic.Snapshot, now: float) -> RestoreTest:
    sample = "/" + _sample(cfg)  # restic lists absolute paths
    q_id, q_s = shlex.quote(snap.id), shlex.quote(sample)
    # --no-cache: read trees from the repository itself, so a damaged pack
    # cannot hide behind a healthy local cache.
    body = _env(cfg) + RESTORE_DIR + _HASH + f"""
sec ls restic --no-cache ls --json {q_id} {q_s}
mkdir "$_t/r"
sec restore restic --no-cache restore {q_id} --target "$_t/r" --include {q_s} --verify
f="$_t/r"{q_s}
# After a failed restore a second read only repeats the failure (and restic's retries).
if [ "$_rc" -eq 0 ] && [ -f "$f" ]; then
  sec restored_size fsize "$f"
  sec restored_sha hf "$f"
  dumpsha() {{ streamed restic --no-cache dump {q_id} {q_s}; }}
  sec dump_sha dumpsha
elif [ "$_rc" -eq 0 ] && [ -e "$f" ]; then
  sec restored_kind echo notfile
fi
"""
    s, dur, timed_out = await _timed_restore(runner, cfg, body, now)
    if timed_out:
        return timed_out
    assert s is not None
    fail = lambda reason: _restore_failed(cfg, now, reason, dur)  # noqa: E731
    where = f"{sample} from snapshot {snap.short_id}"
    if s["ls"].rc != 0:
        return fail(f"restic ls failed: {restic.classify_error(_fail_text(s['ls'])) or _last_line(_fail_text(s['ls']))}")
    node = restic.parse_ls_node(s["ls"].out, sample)
    if node is None:
        return fail(f"{sample} is not in snapshot {snap.short_id}")
    res = s["restore"]
    outcome = restic.parse_restore_verify(res.out + "\n" + res.err, res.rc)
    if not outcome.ok:
        reason = outcome.errors[0] if outcome.errors else (restic.classify_error(_fail_text(res)) or _last_line(_fail_text(res)))
        return fail(f"restore of {where} failed: {reason}")
    if "restored_kind" in s or node.get("type") != "file":
        # A directory sample: restic --verify covered every file; no single checksum to compare.
        return RestoreTest(True, now, dur, f"restored {where} (directory), restic --verify passed ({outcome.verified_files} files)")
    dump = s.get("dump_sha")
    return _check_restored_file(
        s, where, node.get("size"), dump, fail, now, dur,
        verb="restored", done="restore", records="snapshot", second_read="restic dump",
        second_failed=f"restic dump {where} failed: {_last_line(dump.err)}" if dump and dump.rc else None,
        passed=lambda size, sha: f"restored {where}: {size} bytes, restic --verify passed, sha256 {sha} matches restic dump",
    )


# --- borg ------------------------------------------------------------------------


def _check_restored_file(
    s: dict[str, Section], where: str, recorded_size: int | None, second: Section | None,
    fail: Callable[[str], RestoreTest], now: float, dur: float, *,
    verb: str, done: str, records: str, second_read: str, second_failed: str | None,
    passed: Callable[[int, str], str],
) -> RestoreTest:
    """The end of a restic or borg restore test: the restored file exists, has the size
    the backup recorded, and its sha256 equals that of a second, streamed read."""
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
    return RestoreTest(True, now, dur, passed(got_size, sha_file[:16]),
                       bytes=got_size, checksum_verified=True)


async def _borg(runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float) -> BackupStatus:
    # borg info reads the local cache: the cheap way to the repository size.
    body = _env(cfg) + "sec tz date +%z\nsec list borg list --json\nsec info borg info --json\n"
    s = await run_script(runner, body, timeout=timeout)
    lst = s["list"]
    if lst.rc != 0:
        reason = "borg: " + (borg.classify_error(_fail_text(lst)) or _last_line(_fail_text(lst)))
        rt = _restore_failed(cfg, now, f"not run: {reason}") if _wants_restore(cfg, run_restore) else None
        return _status(cfg, now, None, None, None, rt, reason)
    archives = borg.parse_list_json(lst.out, _utc_offset(s["tz"]))
    size = borg.parse_info_json(s["info"].out) if s["info"].rc == 0 else None
    last = archives[-1] if archives else None
    rt = None
    if _wants_restore(cfg, run_restore):
        rt = await _guarded(cfg, now, _borg_restore(runner, cfg, last, now)) if last else _restore_failed(cfg, now, "no archives to restore from")
    return _status(cfg, now, last.time if last else None, len(archives), size, rt)


async def _borg_restore(runner: Runner, cfg: BackupConfig, arch: borg.Archive, now: float) -> RestoreTest:
    sample = _sample(cfg)  # borg stores paths without the leading /
    q_a, q_s = shlex.quote("::" + arch.name), shlex.quote(sample)
    body = _env(cfg) + RESTORE_DIR + _HASH + f"""
sec item borg list --json-lines {q_a} {q_s}
mkdir "$_t/r"
ext() ( cd "$_t/r" && borg extract {q_a} {q_s} )
sec extract ext
f="$_t/r"/{q_s}
if [ "$_rc" -eq 0 ] && [ -f "$f" ]; then
  sec restored_size fsize "$f"
  sec restored_sha hf "$f"
  streamsha() {{ streamed borg extract --stdout {q_a} {q_s}; }}
  sec stream_sha streamsha
fi
"""
    s, dur, timed_out = await _timed_restore(runner, cfg, body, now)
    if timed_out:
        return timed_out
    assert s is not None
    fail = lambda reason: _restore_failed(cfg, now, reason, dur)  # noqa: E731
    where = f"{sample} from archive {arch.name}"
    item_sec = s["item"]
    if item_sec.rc != 0:
        return fail(f"borg list failed: {borg.classify_error(_fail_text(item_sec)) or _last_line(_fail_text(item_sec))}")
    items = [i for i in borg.parse_list_lines(item_sec.out) if i["path"] == sample]
    if not items:
        return fail(f"{sample} is not in archive {arch.name}")
    ex = s["extract"]
    if ex.rc != 0:
        return fail(f"extract of {where} failed: {borg.classify_error(_fail_text(ex)) or _last_line(_fail_text(ex))}")
    if items[0].get("type") == "d":
        return RestoreTest(True, now, dur, f"extracted {where} (directory); borg verified every chunk while reading")
    st = s.get("stream_sha")
    return _check_restored_file(
        s, where, items[0].get("size"), st, fail, now, dur,
        verb="extracted", done="extract", records="archive", second_read="borg extract --stdout",
        second_failed=(f"borg extract --stdout {where} failed: {borg.classify_error(st.err) or _last_line(st.err)}"
                       if st and st.rc else None),
        passed=lambda size, sha: (f"extracted {where}: {size} bytes, chunks verified by borg, "
                                  f"sha256 {sha} matches a second read"),
    )


def _utc_offset(sec: Section) -> int:
    # Hours 00-23, minutes 00-59: datetime.timezone refuses a day or more (ValueError).
    m = re.fullmatch(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])", sec.out.strip())
    if not m:
        raise ParseError("date +%z: unexpected output", sec.out.strip())
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs


# --- pgBackRest --------------------------------------------------------------------


def _pgb(cfg: BackupConfig) -> str:
    return "pgbackrest" + (f" --stanza={shlex.quote(cfg.stanza)}" if cfg.stanza else "")


async def _pgbackrest(runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float) -> BackupStatus:
    s = await run_script(runner, _env(cfg) + f"sec info {_pgb(cfg)} --output=json info\n", timeout=timeout)
    if s["info"].rc != 0:
        reason = "pgbackrest: " + _last_line(_fail_text(s["info"]))
        rt = _restore_failed(cfg, now, f"not run: {reason}") if _wants_restore(cfg, run_restore) else None
        return _status(cfg, now, None, None, None, rt, reason)
    info = pgbackrest.parse_info_json(s["info"].out, cfg.stanza or None)
    good = info.last_good
    error = None if info.ok else f"pgbackrest stanza {info.name}: {info.status_message} (code {info.status_code})"
    rt = None
    if _wants_restore(cfg, run_restore):
        body = _env(cfg) + f"sec verify {_pgb(cfg)} --log-level-console=info verify\n"
        vs, dur, timed_out = await _timed_restore(runner, cfg, body, now)
        if timed_out:
            rt = timed_out
        else:
            assert vs is not None
            v = vs["verify"]
            ok, detail = pgbackrest.parse_command_log(v.out, "verify", v.rc)
            rt = RestoreTest(ok, now, dur, _redact(cfg, f"pgbackrest verify (repository checksums, no restore): {detail}"),
                             checksum_verified=ok)
    return _status(cfg, now, good.stop if good else None, len(info.backups),
                   good.repo_size if good else None, rt, error)


# --- user command --------------------------------------------------------------------


async def _command(runner: Runner, cfg: BackupConfig, *, now: float, run_restore: bool, timeout: float) -> BackupStatus:
    """kind = "command": the user's shell command, run as written. Exit 0 = pass;
    its last stdout line is the summary. The command is the restore test (it is
    expected to be one): with ``run_restore``, or when no separate ``restore_test``
    is configured, its result is recorded as the restore test too.

    However it fails (a non-zero exit, an ``exit`` that ended the whole script, a
    syntax error, output over the cap, the timeout), the result says how, with
    the command's own last words: a failed test and an error, never silence."""
    as_test = _wants_restore(cfg, run_restore) or cfg.restore_test is None
    limit = cfg.restore_test.timeout if _wants_restore(cfg, run_restore) else timeout
    t0 = time.monotonic()
    try:
        s = await run_script(runner, _env(cfg) + f"usercmd() {{\n{cfg.command}\n}}\nsec cmd usercmd\n", timeout=limit)
    except ScriptEndedEarly as e:
        reason = f"command ended the probe script (rc {e.rc}): {e.reason}"
        return _command_result(cfg, now, as_test, False, time.monotonic() - t0, reason)
    except OutputTooLarge as e:
        return _command_result(cfg, now, as_test, False, time.monotonic() - t0, f"command: {e}")
    except ProbeError as e:
        if e.state != "timeout":
            raise  # the host, not the command: the caller's host state says so
        return _command_result(cfg, now, as_test, False, time.monotonic() - t0,
                               f"command did not finish within {limit:g}s (stopped)")
    c = s["cmd"]
    if c.rc == 0:
        detail = _last_line(c.out) if c.out.strip() else "exit 0"
    else:
        # The reason is on stderr when there is one; else the last thing it printed.
        detail = f"command exited {c.rc}: " + (_last_line(c.err) if c.err.strip() else _last_line(c.out))
    return _command_result(cfg, now, as_test, c.rc == 0, time.monotonic() - t0, detail)


def _command_result(cfg: BackupConfig, now: float, as_test: bool, ok: bool, dur: float, detail: str) -> BackupStatus:
    detail = _redact(cfg, detail)
    rt = RestoreTest(ok, now, dur, detail) if as_test else None
    return _status(cfg, now, None, None, None, rt, None if ok else detail)


# --- checks ----------------------------------------------------------------------


async def run_check(runner: Runner, cfg: BackupConfig, timeout: float) -> CheckResult:
    """Repository check: restic ``check --read-data-subset`` (plain ``check`` misses
    corrupt packs), ``borg check`` (segment CRCs + archives), ``pgbackrest verify``."""
    at, t0 = time.time(), time.monotonic()
    subset = cfg.check.subset if cfg.check else "1%"
    if cfg.kind == "restic":
        cmd = f"restic --no-cache check --read-data-subset={shlex.quote(subset)}"
    elif cfg.kind == "borg":
        cmd = "borg check"
    elif cfg.kind == "pgbackrest":
        cmd = f"{_pgb(cfg)} --log-level-console=info verify"
    elif cfg.kind == "command":
        cmd = f"usercmd() {{\n{cfg.command}\n}}\nsec check usercmd"
    else:
        raise ProbeError(f"backup {cfg.name}: unknown kind {cfg.kind!r}")
    if not cmd.endswith("usercmd"):
        cmd = f"sec check {cmd}"
    s = await run_script(runner, _env(cfg) + cmd + "\n", timeout=timeout)
    c, dur = s["check"], time.monotonic() - t0
    try:
        if cfg.kind == "restic":
            ok, detail, data = restic.parse_check(c.out + "\n" + c.err, c.rc)
            if not ok:
                detail = restic.classify_error(_fail_text(c)) or detail
        elif cfg.kind == "borg":
            (ok, detail), data = borg.parse_check(c.err + "\n" + c.out, c.rc), False
        elif cfg.kind == "pgbackrest":
            (ok, detail), data = pgbackrest.parse_command_log(c.out, "verify", c.rc), True
        else:
            ok, detail, data = c.rc == 0, _last_line(c.out or c.err), False
    except ParseError as e:
        ok, detail, data = False, str(e), False
    return CheckResult(ok, at, dur, _redact(cfg, detail), data and ok)
