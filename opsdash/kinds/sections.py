"""Probe scripts of ``sec NAME CMD`` sections, run through the one remote runner.

A probe that asks a host several things (patches, backups, security, the DNS
and database kinds) sends one POSIX ``sh`` script on stdin. Each command's
stdout, stderr and exit status come back in sections delimited by
``=== NONCE name rc=N ===``, streamed over the channel (nothing is written to
the host's disk); the random nonce keeps a line of command output from ever
passing for a delimiter. The runner is any ``kinds.base.CommandRunner``
(an SSH host, the local runner), so kinds use this without importing collect/.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ..errors import ParseError, ScriptEndedEarly
from .base import CommandRunner

__all__ = ["RESTORE_DIR", "SECTION_STDERR_BYTES", "ScriptEndedEarly", "Section", "run_script", "section_prelude",
           "split_sections"]


@dataclass(frozen=True, slots=True)
class Section:
    rc: int
    out: str
    err: str


# Section headers: "\n=== NONCE name rc=N ===\n". A command's stdout streams right
# after its header, so the exit status cannot be in it (-1 there); it follows in
# a "name.rc" trailer. Its stderr (at most 4 KiB) comes as a "name.stderr"
# section just before the trailer.
SECTION_STDERR_BYTES = 4096


def section_prelude(nonce: str) -> str:
    """Shell that defines ``sec NAME CMD...``: runs CMD with stdin closed, its stdout
    streamed straight to ours after a header, and its stderr (first 4 KiB; the rest is
    read and dropped, so CMD never dies of SIGPIPE) printed after it as a section of
    its own. No temp files: stderr waits in a shell variable, the exit status comes
    back through a command substitution on fd 5. CMD runs in a subshell, so an
    ``exit`` in a function (a user's backup command) ends CMD, not the script.
    fd 4 is the script's stdout."""
    return f"""
LC_ALL=C; LANG=C; export LC_ALL LANG
PATH="$PATH:/usr/sbin:/sbin"; export PATH
exec 4>&1
_lim() {{ _b=$(head -c {SECTION_STDERR_BYTES}; echo .); cat >/dev/null; printf '\\n=== {nonce} %s.stderr rc=%d ===\\n%s' "$1" -1 "${{_b%.}}"; }}
sec() {{
  _n=$1; shift
  printf '\\n=== {nonce} %s rc=%d ===\\n' "$_n" -1
  _rc=$( {{ {{ ( "$@" ) </dev/null 2>&1 >&4 4>&- 5>&-; echo "$?" >&5; }} | _lim "$_n" >&4 5>&-; }} 5>&1 )
  _rc=${{_rc:--1}}
  printf '\\n=== {nonce} %s.rc rc=%d ===\\n' "$_n" "$_rc"
}}
"""


# A restore test restores into a directory: the one thing a probe writes on a host.
# The trap removes it on exit, and on the SIGTERM the runner sends a stopped command.
RESTORE_DIR = """
_t=$(mktemp -d) || exit 70
trap 'rm -rf "$_t"' EXIT
trap 'exit 129' HUP INT TERM
"""


def split_sections(text: str, nonce: str, *, partial: bool = False) -> dict[str, Section]:
    """Inverse of ``sec``. Raises ParseError if the final ``end`` marker is missing
    (output cut short), so a truncated run never reads as "nothing found";
    ``partial`` returns what did arrive instead (to say where a script died)."""
    parts = re.split(rf"\n=== {re.escape(nonce)} (\S+) rc=(-?\d+) ===\n", text)
    outs: dict[str, tuple[int, str]] = {}
    for i in range(1, len(parts) - 2, 3):
        outs[parts[i]] = (int(parts[i + 1]), parts[i + 2])
    if "end" not in outs and not partial:
        raise ParseError("probe script output has no end marker (truncated or the script failed)")
    sections: dict[str, Section] = {}
    for name, (rc, out) in outs.items():
        if name.endswith((".stderr", ".rc")):
            continue
        # The status from the trailer; a reply without one (older scripts) has it in the header.
        rc = outs[f"{name}.rc"][0] if f"{name}.rc" in outs else rc
        sections[name] = Section(rc, out, outs.get(f"{name}.stderr", (rc, ""))[1])
    return sections


async def run_script(runner: CommandRunner, body: str, *, timeout: float) -> dict[str, Section]:
    """Run ``body`` (which uses ``sec``) as one remote ``sh`` and return its sections.

    The script travels on stdin, so nothing in it (paths, env values) shows in
    the remote process list, and it does not depend on the login shell's quoting.
    The body is wrapped in ``{ ... }`` so sh parses all of it before running any
    command. A script that stops before its end marker raises ScriptEndedEarly
    with its exit status and last stderr line.
    """
    nonce = secrets.token_hex(6)
    script = "{\n" + section_prelude(nonce) + body + f"\nprintf '\\n=== {nonce} end rc=0 ===\\n'\n}}\n"
    res = await runner.run("sh -s", timeout=timeout, input=script, env={"LC_ALL": "C"})
    try:
        return split_sections(res.stdout, nonce)
    except ParseError:
        pass
    # Where it died: the last section that started, and the last words of its command
    # (else of the script itself: a syntax error, "Killed").
    started = split_sections(res.stdout, nonce, partial=True)
    last = list(started)[-1] if started else None
    words = [ln.strip() for ln in (started[last].err if last else "").splitlines() if ln.strip()]
    words = words or [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    reason = words[-1][:200] if words else "no error message"
    where = f" in {last}" if last else ""
    raise ScriptEndedEarly(f"probe script ended early{where} (rc {res.rc}): {reason}", res.rc, reason)
