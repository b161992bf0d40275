"""restic: freshness from ``restic snapshots --json``, a restore test of one file
(``restore --verify``, the size ``ls`` records, and sha256 against ``restic dump``)
and ``check --read-data-subset`` (plain ``check`` misses corrupt packs).

The password reaches restic as RESTIC_PASSWORD_FILE, never as a value.
"""

from __future__ import annotations

import re
import shlex

from ...model import BackupStatus, RestoreTest
from ...parsers import restic
from ._base import (HASH, BackupConfig, BackupKind, CheckOutcome, Key, Remote, Section, check_restored_file,
                    fail_text, guarded, is_local_repo, last_line, qpath, restore_failed, sample_path, status,
                    timed_restore, wants_restore)


def _reason(sec: Section) -> str:
    return restic.classify_error(fail_text(sec)) or last_line(fail_text(sec))


def _du_bytes(sec: Section | None) -> int | None:
    if sec is None or sec.rc != 0:
        return None
    m = re.match(r"^(\d+)\s", sec.out)
    return int(m.group(1)) * 1024 if m else None


class Restic(BackupKind):
    name = "restic"
    keys = (Key("repository", required=True, doc="RESTIC_REPOSITORY"),
            Key("password_file", doc="RESTIC_PASSWORD_FILE, a file on the host"))
    needs_sample = True
    check_runbook = "`restic check`"

    def env(self, cfg: BackupConfig) -> list[tuple[str, str]]:
        out = [("RESTIC_REPOSITORY", qpath(cfg.repository))]
        if cfg.password_file:
            out.append(("RESTIC_PASSWORD_FILE", qpath(cfg.password_file)))
        return out

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        body = "sec snapshots restic --no-lock snapshots --json\n"
        if is_local_repo(cfg.repository):
            # restic stats walks every snapshot; du on a local repo is the cheap size.
            body += f"sec du du -sk {qpath(cfg.repository)}\n"
        s = await remote.run(body)
        snaps_sec = s["snapshots"]
        if snaps_sec.rc != 0:
            reason = "restic: " + _reason(snaps_sec)
            rt = restore_failed(now, f"not run: {reason}") if wants_restore(cfg, run_restore) else None
            return status(cfg, now, None, None, None, rt, reason)
        snaps = restic.parse_snapshots_json(snaps_sec.out)
        size = _du_bytes(s.get("du"))
        last = snaps[-1] if snaps else None
        rt = None
        if wants_restore(cfg, run_restore):
            rt = (await guarded(now, self._restore(remote, cfg, last, now)) if last
                  else restore_failed(now, "no snapshots to restore from"))
        return status(cfg, now, last.time if last else None, len(snaps), size, rt)

    async def _restore(self, remote: Remote, cfg: BackupConfig, snap: restic.Snapshot, now: float) -> RestoreTest:
        sample = "/" + sample_path(cfg)  # restic lists absolute paths
        q_id, q_s = shlex.quote(snap.id), shlex.quote(sample)
        # --no-cache: read trees from the repository itself, so a damaged pack
        # cannot hide behind a healthy local cache.
        body = HASH + f"""
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
        s, dur, timed_out = await timed_restore(remote, cfg, body, now)
        if timed_out:
            return timed_out
        assert s is not None
        fail = lambda reason: restore_failed(now, reason, dur)  # noqa: E731
        where = f"{sample} from snapshot {snap.short_id}"
        if s["ls"].rc != 0:
            return fail(f"restic ls failed: {_reason(s['ls'])}")
        node = restic.parse_ls_node(s["ls"].out, sample)
        if node is None:
            return fail(f"{sample} is not in snapshot {snap.short_id}")
        res = s["restore"]
        outcome = restic.parse_restore_verify(res.out + "\n" + res.err, res.rc)
        if not outcome.ok:
            reason = outcome.errors[0] if outcome.errors else _reason(res)
            return fail(f"restore of {where} failed: {reason}")
        if "restored_kind" in s or node.get("type") != "file":
            # A directory sample: restic --verify covered every file; no single checksum to compare.
            return RestoreTest(True, now, dur,
                               f"restored {where} (directory), restic --verify passed ({outcome.verified_files} files)")
        dump = s.get("dump_sha")
        return check_restored_file(
            s, where, node.get("size"), dump, fail, now, dur,
            verb="restored", done="restore", records="snapshot", second_read="restic dump",
            second_failed=f"restic dump {where} failed: {last_line(dump.err)}" if dump and dump.rc else None,
            passed=lambda size, sha: f"restored {where}: {size} bytes, restic --verify passed, sha256 {sha} matches restic dump",
        )

    def check_script(self, cfg: BackupConfig) -> str:
        subset = cfg.check.subset if cfg.check else "1%"
        return f"sec check restic --no-cache check --read-data-subset={shlex.quote(subset)}\n"

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        ok, detail, data = restic.parse_check(sec.out + "\n" + sec.err, sec.rc)
        if not ok:
            detail = restic.classify_error(fail_text(sec)) or detail
        return CheckOutcome(ok, detail, data)


KIND = Restic()
