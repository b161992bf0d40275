"""kind = "command": the user's shell command, run as written. Exit 0 = pass; its
last stdout line is the summary. The command is the restore test (it is expected
to be one): with ``run_restore``, or when no separate ``restore_test`` is
configured, its result is recorded as the restore test too.

However it fails (a non-zero exit, an ``exit`` that ended the whole script, a
syntax error, output over the cap, the timeout), the result says how, with the
command's own last words: a failed test and an error, never silence.
"""

from __future__ import annotations

from ...model import BackupStatus, RestoreTest
from ._base import BackupConfig, BackupKind, CheckOutcome, Key, Remote, Section, last_line, status, wants_restore


def _wrap(cfg: BackupConfig, section: str) -> str:
    # A function, so an ``exit`` in the command ends the function's subshell (sec), not the script.
    return f"usercmd() {{\n{cfg.command}\n}}\nsec {section} usercmd\n"


class Command(BackupKind):
    name = "command"
    keys = (Key("command", required=True, doc="a shell command; exit 0 = pass, its last stdout line = summary"),)
    probe_is_restore_test = True

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        as_test = wants_restore(cfg, run_restore) or cfg.restore_test is None
        limit = cfg.restore_test.timeout if wants_restore(cfg, run_restore) and cfg.restore_test else remote.timeout
        t = await remote.timed(_wrap(cfg, "cmd"), timeout=limit)
        if t.why == "ended":
            return _result(cfg, now, as_test, False, t.duration_s,
                           f"command ended the probe script (rc {t.rc}): {t.reason}")
        if t.why == "too-large":
            return _result(cfg, now, as_test, False, t.duration_s, f"command: {t.message}")
        if t.why == "timeout":
            return _result(cfg, now, as_test, False, t.duration_s, f"command did not finish within {limit:g}s (stopped)")
        assert t.sections is not None
        c = t.sections["cmd"]
        if c.rc == 0:
            detail = last_line(c.out) if c.out.strip() else "exit 0"
        else:
            # The reason is on stderr when there is one; else the last thing it printed.
            detail = f"command exited {c.rc}: " + (last_line(c.err) if c.err.strip() else last_line(c.out))
        return _result(cfg, now, as_test, c.rc == 0, t.duration_s, detail)

    def check_script(self, cfg: BackupConfig) -> str:
        return _wrap(cfg, "check")

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        return CheckOutcome(sec.rc == 0, last_line(sec.out or sec.err), False)


def _result(cfg: BackupConfig, now: float, as_test: bool, ok: bool, dur: float, detail: str) -> BackupStatus:
    rt = RestoreTest(ok, now, dur, detail) if as_test else None
    return status(cfg, now, None, None, None, rt, None if ok else detail)


KIND = Command()
