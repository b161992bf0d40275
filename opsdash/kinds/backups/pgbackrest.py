"""pgBackRest: freshness from ``pgbackrest info --output=json`` (the newest good
backup of the stanza). pgBackRest has no single-file restore; its "restore test"
is ``pgbackrest verify``, which checks every file's checksum in the repository,
and says so. ``verify`` is the repository check too.
"""

from __future__ import annotations

import shlex

from ...model import BackupStatus, RestoreTest
from ...parsers import pgbackrest
from ._base import (BackupConfig, BackupKind, CheckOutcome, Key, Remote, Section, fail_text, last_line, qpath,
                    restore_failed, status, timed_restore, wants_restore)


def _pgb(cfg: BackupConfig) -> str:
    return "pgbackrest" + (f" --stanza={shlex.quote(cfg.stanza)}" if cfg.stanza else "")


class PgBackRest(BackupKind):
    name = "pgbackrest"
    keys = (Key("stanza", required=True, doc="the pgBackRest stanza"),
            Key("repository", doc="PGBACKREST_REPO1_PATH; else pgbackrest.conf's"))
    check_runbook = "`pgbackrest verify`"

    def env(self, cfg: BackupConfig) -> list[tuple[str, str]]:
        return [("PGBACKREST_REPO1_PATH", qpath(cfg.repository))] if cfg.repository else []

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        s = await remote.run(f"sec info {_pgb(cfg)} --output=json info\n")
        if s["info"].rc != 0:
            reason = "pgbackrest: " + last_line(fail_text(s["info"]))
            rt = restore_failed(now, f"not run: {reason}") if wants_restore(cfg, run_restore) else None
            return status(cfg, now, None, None, None, rt, reason)
        info = pgbackrest.parse_info_json(s["info"].out, cfg.stanza or None)
        good = info.last_good
        error = None if info.ok else f"pgbackrest stanza {info.name}: {info.status_message} (code {info.status_code})"
        rt = None
        if wants_restore(cfg, run_restore):
            body = f"sec verify {_pgb(cfg)} --log-level-console=info verify\n"
            vs, dur, timed_out = await timed_restore(remote, cfg, body, now, scratch=False)
            if timed_out:
                rt = timed_out
            else:
                assert vs is not None
                v = vs["verify"]
                ok, detail = pgbackrest.parse_command_log(v.out, "verify", v.rc)
                rt = RestoreTest(ok, now, dur, f"pgbackrest verify (repository checksums, no restore): {detail}",
                                 checksum_verified=ok)
        return status(cfg, now, good.stop if good else None, len(info.backups),
                      good.repo_size if good else None, rt, error)

    def check_script(self, cfg: BackupConfig) -> str:
        return f"sec check {_pgb(cfg)} --log-level-console=info verify\n"

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        ok, detail = pgbackrest.parse_command_log(sec.out, "verify", sec.rc)
        return CheckOutcome(ok, detail, True)


KIND = PgBackRest()
