"""rdiff-backup (2.2): a mirror of the newest version plus reverse increments.

Freshness from ``--parsable-output list increments --size`` (the last entry is
the current mirror; the first's total is the repository's size). The restore
test restores ``restore_test.sample`` ``--at now`` into a scratch directory and
requires
  1. ``rdiff-backup verify`` of that path: the mirror's SHA1 equals the digest
     recorded at backup time (``restore`` itself checks nothing, and exits 0
     for a path the backup does not hold);
  2. the restored size to equal the size the repository lists for the path;
  3. sha256 of the restored file to equal sha256 of the mirror file, read
     directly (a second read that does not go through the restore).
The repository check is ``rdiff-backup verify`` of the whole mirror.
"""

from __future__ import annotations

import shlex

from ...model import BackupStatus, RestoreTest
from ...parsers import rdiff_backup
from ._base import (HASH, BackupConfig, BackupKind, CheckOutcome, Key, Remote, Section, check_restored_file,
                    fail_text, guarded, last_line, qpath, restore_failed, sample_path, status, timed_restore,
                    wants_restore)

_LIST = "rdiff-backup --parsable-output list increments --size"


def _reason(sec: Section) -> str:
    return rdiff_backup.classify_error(fail_text(sec)) or last_line(fail_text(sec))


class RdiffBackup(BackupKind):
    name = "rdiff-backup"
    keys = (Key("repository", required=True, doc="the backup's destination directory on the host"),)
    needs_sample = True
    check_runbook = "`rdiff-backup verify`"

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        s = await remote.run(f"sec list {_LIST} {qpath(cfg.repository)}\n")
        lst = s["list"]
        if lst.rc != 0:
            reason = "rdiff-backup: " + _reason(lst)
            rt = restore_failed(now, f"not run: {reason}") if wants_restore(cfg, run_restore) else None
            return status(cfg, now, None, None, None, rt, reason)
        incs = rdiff_backup.parse_increments(lst.out)
        rt = None
        if wants_restore(cfg, run_restore):
            rt = (await guarded(now, self._restore(remote, cfg, now)) if incs
                  else restore_failed(now, "no backups to restore from"))
        return status(cfg, now, incs[-1].time if incs else None, len(incs), incs[0].total_size if incs else None, rt)

    async def _restore(self, remote: Remote, cfg: BackupConfig, now: float) -> RestoreTest:
        sample = sample_path(cfg)  # relative to the backed-up directory
        p = qpath(cfg.repository) + "/" + shlex.quote(sample)
        body = HASH + f"""
sec item {_LIST} {p}
sec restore rdiff-backup restore --at now {p} "$_t/r"
f="$_t/r"
if [ "$_rc" -eq 0 ] && [ -f "$f" ]; then
  sec restored_size fsize "$f"
  sec restored_sha hf "$f"
  sec mirror_sha hf {p}
elif [ "$_rc" -eq 0 ] && [ -d "$f" ]; then
  sec restored_kind echo notfile
fi
sec verify rdiff-backup verify {p}
"""
        s, dur, timed_out = await timed_restore(remote, cfg, body, now)
        if timed_out:
            return timed_out
        assert s is not None
        fail = lambda reason: restore_failed(now, reason, dur)  # noqa: E731
        where = f"{sample} (current mirror)"
        if s["item"].rc != 0:
            return fail(f"{sample} is not in the backup: {_reason(s['item'])}")
        item = rdiff_backup.parse_increments(s["item"].out)
        res = s["restore"]
        if res.rc != 0:
            return fail(f"restore of {where} failed: {_reason(res)}")
        v = s["verify"]
        ok, detail = rdiff_backup.parse_verify(v.out + "\n" + v.err, v.rc)
        if not ok:
            return fail(f"rdiff-backup verify {sample}: {detail}")
        if "restored_kind" in s:
            return RestoreTest(True, now, dur, f"restored {where} (directory), rdiff-backup verify passed")
        return check_restored_file(
            s, where, item[-1].size if item else None, s.get("mirror_sha"), fail, now, dur,
            verb="restored", done="restore", records="the repository", second_read="the mirror file",
            second_failed=None,
            passed=lambda size, sha: (f"restored {where}: {size} bytes, rdiff-backup verify passed (SHA1), "
                                      f"sha256 {sha} matches the mirror file"),
        )

    def check_script(self, cfg: BackupConfig) -> str:
        return f"sec check rdiff-backup verify {qpath(cfg.repository)}\n"

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        ok, detail = rdiff_backup.parse_verify(sec.out + "\n" + sec.err, sec.rc)
        return CheckOutcome(ok, detail, True)


KIND = RdiffBackup()
