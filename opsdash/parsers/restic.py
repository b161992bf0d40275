"""restic: snapshots, stats, ls, restore --verify and check output.

restic 0.14 exits 0 from a plain ``check`` on a repository with a corrupt pack;
only ``--read-data``/``--read-data-subset`` reads the data. ``check_result``
says which kind of check produced a pass.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError

__all__ = [
    "Snapshot",
    "classify_error",
    "parse_check",
    "parse_ls_node",
    "parse_restore_verify",
    "parse_snapshots_json",
    "parse_stats_json",
    "parse_time",
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    short_id: str
    time: float
    paths: tuple[str, ...]
    hostname: str
    tags: tuple[str, ...]


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(s: str) -> float:
    """RFC 3339 with up to nanoseconds ("2026-11-22T06:50:53.261508539Z") -> Unix time."""
    m = _TIME.match(s)
    if not m:
        raise ValueError(s)
    base, frac, tz = m.groups()
    t = _dt.datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz)).timestamp()
    return t + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        line = lines[e.lineno - 1] if 0 < e.lineno <= len(lines) else text[:120]
        raise ParseError(f"{what}: not JSON ({e.msg})", line, e.lineno) from None
    except (ValueError, RecursionError) as e:  # a 4300+ digit number, or nesting too deep
        raise ParseError(f"{what}: not JSON we can read ({type(e).__name__})", text[:120]) from None


def parse_snapshots_json(text: str) -> tuple[Snapshot, ...]:
    """``restic snapshots --json`` -> snapshots sorted oldest first."""
    data = _json(text, "restic snapshots")
    if not isinstance(data, list):
        raise ParseError("restic snapshots: expected a JSON list", text[:120])
    out = []
    for i, s in enumerate(data):
        try:
            out.append(
                Snapshot(
                    s["id"],
                    s.get("short_id", s["id"][:8]),
                    parse_time(s["time"]),
                    tuple(s.get("paths", ())),
                    s.get("hostname", ""),
                    tuple(s.get("tags") or ()),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ParseError(f"restic snapshots: snapshot #{i} lacks or has a bad {e}", json.dumps(s)[:120]) from None
    return tuple(sorted(out, key=lambda s: s.time))


def parse_stats_json(text: str) -> tuple[int, int | None, int | None]:
    """``restic stats --json`` (any mode) -> (total_size, total_file_count, snapshots_count)."""
    data = _json(text, "restic stats")
    if not isinstance(data, dict) or not isinstance(data.get("total_size"), int):
        raise ParseError("restic stats: no integer total_size", text.strip()[:120])
    return data["total_size"], data.get("total_file_count"), data.get("snapshots_count")


def parse_ls_node(text: str, path: str) -> dict[str, Any] | None:
    """``restic ls --json SNAP PATH``: the node whose path is ``path``, or None.

    restic 0.14 prints a snapshot object, then one node object per line.
    """
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        obj = _json(line, "restic ls")
        if isinstance(obj, dict) and obj.get("struct_type") == "node" and obj.get("path") == path:
            return obj
        if not isinstance(obj, dict) or obj.get("struct_type") not in ("node", "snapshot"):
            raise ParseError("restic ls: unexpected JSON line", line, n)
    return None


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    ok: bool
    verified_files: int | None
    errors: tuple[str, ...]


def parse_restore_verify(text: str, rc: int) -> RestoreOutcome:
    """``restic restore --verify`` (stdout and stderr together; they are not JSON).

    Passing needs rc 0, no "ignoring error" lines and a "finished verifying N
    files" line: without it --verify did not run and nothing was checked.
    """
    errors = tuple(
        ln.strip() for ln in text.splitlines() if ln.startswith(("ignoring error", "Fatal:", "error:"))
    )
    m = re.search(r"^finished verifying (\d{1,18}) files", text, re.M)
    verified = int(m.group(1)) if m else None
    return RestoreOutcome(rc == 0 and not errors and verified is not None, verified, errors)


def parse_check(text: str, rc: int) -> tuple[bool, str, bool]:
    """``restic check [--read-data[-subset]]`` -> (ok, detail, data_read).

    ``data_read`` is False for a plain check, whose pass says nothing about the
    pack contents (see restic-check-corrupt.txt).
    """
    data_read = bool(re.search(r"^read .*data", text, re.M))
    if rc == 0 and re.search(r"^no errors were found$", text, re.M):
        return True, "no errors were found", data_read
    problems = [
        ln.strip()
        for ln in text.splitlines()
        if re.search(r"does not match|error|Fatal|invalid|missing|damaged|not found", ln, re.I)
        and not ln.startswith("using temporary cache")
    ]
    if rc == 0:
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        raise ParseError("restic check: rc 0 without 'no errors were found'", last)
    return False, "; ".join(problems[:3]) or classify_error(text) or f"restic check exited {rc}", data_read


# Well-known failures, reworded once for the dashboard. Never includes a secret:
# restic prints none, and we only keep the matched phrase.
_ERRORS = (
    (r"wrong password or no key found", "wrong password or no key found (check password_file)"),
    (r"Is there a repository at the following location\?|repository does not exist|unable to open config file",
     "no restic repository at the configured location"),
    (r"repository is already locked|unable to create lock", "repository is locked by another process"),
    (r"Resolving password failed|Please specify password|reading password from file", "password file not readable"),
    (r"restic: (command )?not found|restic: No such file", "restic is not installed on the host"),
)


def classify_error(text: str) -> str:
    """A one-line reason for a failed restic command, or "" if not recognised."""
    for rx, msg in _ERRORS:
        if re.search(rx, text):
            return msg
    fatal = [ln.strip() for ln in text.splitlines() if ln.startswith("Fatal:")]
    return fatal[-1][:200] if fatal else ""
