"""borg: freshness from ``borg list --json`` (times in the host's local time, so
``date +%z`` comes along), size from ``borg info`` (the local cache), a restore
test of one file (extract, the size the archive records, sha256 against
``extract --stdout``; borg checks each chunk's MAC/ID while reading) and
``borg check`` (segment CRCs + archives).

The password reaches borg as BORG_PASSCOMMAND="cat FILE", never as a value.
"""

from __future__ import annotations

import re
import shlex

from ...errors import ParseError
from ...model import BackupStatus, RestoreTest
from ...parsers import borg
from ._base import (HASH, BackupConfig, BackupKind, CheckOutcome, Key, Remote, Section, check_restored_file,
                    fail_text, guarded, last_line, qpath, restore_failed, sample_path, status, timed_restore,
                    wants_restore)


def _reason(sec: Section) -> str:
    return borg.classify_error(fail_text(sec)) or last_line(fail_text(sec))


def utc_offset(sec: Section) -> int:
    """``date +%z`` -> seconds east of UTC."""
    # Hours 00-23, minutes 00-59: datetime.timezone refuses a day or more (ValueError).
    m = re.fullmatch(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])", sec.out.strip())
    if not m:
        raise ParseError("date +%z: unexpected output", sec.out.strip())
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs


class Borg(BackupKind):
    name = "borg"
    keys = (Key("repository", required=True, doc="BORG_REPO"),
            Key("password_file", doc='BORG_PASSCOMMAND="cat FILE", a file on the host'))
    needs_sample = True
    check_runbook = "`borg check`"
    # Answer "no" instead of prompting (stdin is closed) if the repo moved or is
    # unencrypted; the user's ``env`` may say yes on purpose.
    env_defaults = (("BORG_RELOCATED_REPO_ACCESS_IS_OK", "no"), ("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "no"))

    def env(self, cfg: BackupConfig) -> list[tuple[str, str]]:
        out = [("BORG_REPO", qpath(cfg.repository))]
        if cfg.password_file:
            # borg shlex-splits this value and runs it without a shell, so the path is
            # quoted inside it; a ~/ path needs a shell to expand $HOME.
            pf = cfg.password_file
            passcmd = ("sh -c " + shlex.quote('cat "$HOME"/' + shlex.quote(pf[2:]))) if pf.startswith("~/") else (
                "cat " + shlex.quote(pf))
            out.append(("BORG_PASSCOMMAND", shlex.quote(passcmd)))
        return out

    async def probe(self, cfg: BackupConfig, remote: Remote, *, now: float, run_restore: bool) -> BackupStatus:
        # borg info reads the local cache: the cheap way to the repository size.
        s = await remote.run("sec tz date +%z\nsec list borg list --json\nsec info borg info --json\n")
        lst = s["list"]
        if lst.rc != 0:
            reason = "borg: " + _reason(lst)
            rt = restore_failed(now, f"not run: {reason}") if wants_restore(cfg, run_restore) else None
            return status(cfg, now, None, None, None, rt, reason)
        archives = borg.parse_list_json(lst.out, utc_offset(s["tz"]))
        size = borg.parse_info_json(s["info"].out) if s["info"].rc == 0 else None
        last = archives[-1] if archives else None
        rt = None
        if wants_restore(cfg, run_restore):
            rt = (await guarded(now, self._restore(remote, cfg, last, now)) if last
                  else restore_failed(now, "no archives to restore from"))
        return status(cfg, now, last.time if last else None, len(archives), size, rt)

    async def _restore(self, remote: Remote, cfg: BackupConfig, arch: borg.Archive, now: float) -> RestoreTest:
        sample = sample_path(cfg)  # borg stores paths without the leading /
        q_a, q_s = shlex.quote("::" + arch.name), shlex.quote(sample)
        body = HASH + f"""
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
        s, dur, timed_out = await timed_restore(remote, cfg, body, now)
        if timed_out:
            return timed_out
        assert s is not None
        fail = lambda reason: restore_failed(now, reason, dur)  # noqa: E731
        where = f"{sample} from archive {arch.name}"
        item_sec = s["item"]
        if item_sec.rc != 0:
            return fail(f"borg list failed: {_reason(item_sec)}")
        items = [i for i in borg.parse_list_lines(item_sec.out) if i["path"] == sample]
        if not items:
            return fail(f"{sample} is not in archive {arch.name}")
        ex = s["extract"]
        if ex.rc != 0:
            return fail(f"extract of {where} failed: {_reason(ex)}")
        if items[0].get("type") == "d":
            return RestoreTest(True, now, dur, f"extracted {where} (directory); borg verified every chunk while reading")
        st = s.get("stream_sha")
        return check_restored_file(
            s, where, items[0].get("size"), st, fail, now, dur,
            verb="extracted", done="extract", records="archive", second_read="borg extract --stdout",
            second_failed=(f"borg extract --stdout {where} failed: {borg.classify_error(st.err) or last_line(st.err)}"
                           if st and st.rc else None),
            passed=lambda size, sha: (f"extracted {where}: {size} bytes, chunks verified by borg, "
                                      f"sha256 {sha} matches a second read"),
        )

    def check_script(self, cfg: BackupConfig) -> str:
        return "sec check borg check\n"

    def read_check(self, cfg: BackupConfig, sec: Section) -> CheckOutcome:
        ok, detail = borg.parse_check(sec.err + "\n" + sec.out, sec.rc)
        return CheckOutcome(ok, detail, False)


KIND = Borg()
