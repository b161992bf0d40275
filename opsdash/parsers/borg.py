"""borg 1.2: list/info JSON and check output.

borg writes JSON to stdout and logs to stderr; times in its JSON are naive
*local* time of the host, so callers pass the host's UTC offset. ``borg
check`` prints nothing on success without ``-v`` and exits 1 (its "warning"
code) when it finds corruption, 2 on errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError

__all__ = ["Archive", "classify_error", "parse_check", "parse_info_json", "parse_list_json", "parse_list_lines"]


@dataclass(frozen=True, slots=True)
class Archive:
    name: str
    id: str
    time: float


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        line = lines[e.lineno - 1] if 0 < e.lineno <= len(lines) else text[:120]
        raise ParseError(f"{what}: not JSON ({e.msg})", line, e.lineno) from None
    except (ValueError, RecursionError) as e:  # a 4300+ digit number, or nesting too deep
        raise ParseError(f"{what}: not JSON we can read ({type(e).__name__})", text[:120]) from None


def _local_time(s: str, utc_offset_s: int) -> float:
    naive = _dt.datetime.fromisoformat(s)
    if naive.tzinfo is not None:  # borg 2 adds an offset; honour it
        return naive.timestamp()
    return naive.replace(tzinfo=_dt.timezone(_dt.timedelta(seconds=utc_offset_s))).timestamp()


def parse_list_json(text: str, utc_offset_s: int) -> tuple[Archive, ...]:
    """``borg list --json REPO`` -> archives sorted oldest first."""
    data = _json(text, "borg list")
    if not isinstance(data, dict) or not isinstance(data.get("archives"), list):
        raise ParseError("borg list: no 'archives' list in the JSON", text.strip()[:120])
    out = []
    for i, a in enumerate(data["archives"]):
        try:
            out.append(Archive(a["name"], a["id"], _local_time(a.get("time") or a["start"], utc_offset_s)))
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
            raise ParseError(f"borg list: archive #{i} lacks or has a bad {e}", json.dumps(a)[:120]) from None
    return tuple(sorted(out, key=lambda a: a.time))


def parse_info_json(text: str) -> int:
    """``borg info --json REPO`` -> bytes the repository uses on disk (unique, compressed)."""
    data = _json(text, "borg info")
    try:
        size = data["cache"]["stats"]["unique_csize"]
    except (KeyError, TypeError):
        raise ParseError("borg info: no cache.stats.unique_csize", text.strip()[:120]) from None
    if not isinstance(size, int):
        raise ParseError("borg info: unique_csize is not an integer", str(size))
    return size


def parse_list_lines(text: str) -> list[dict[str, Any]]:
    """``borg list --json-lines REPO::ARCHIVE [PATH]`` -> one dict per item."""
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        obj = _json(line, "borg list --json-lines")
        if not isinstance(obj, dict) or "path" not in obj:
            raise ParseError("borg list --json-lines: item without a path", line, n)
        items.append(obj)
    return items


_PROBLEM = re.compile(r"error|mismatch|missing|corrupt|damaged|not found|Index object count", re.I)


def parse_check(text: str, rc: int) -> tuple[bool, str]:
    """``borg check [-v] [--verify-data] [--log-json]`` stderr + rc -> (ok, detail).

    rc decides (0 ok, 1 problems found, 2 error); the text supplies the reason.
    ``--log-json`` lines are unwrapped to their message.
    """
    messages = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                line = str(obj.get("message", ""))
            except (ValueError, RecursionError):  # not JSON (or not JSON we can read): keep the line
                pass
        if line.strip():
            messages.append(line.strip())
    if rc == 0:
        if any("errors found" in m for m in messages):
            raise ParseError("borg check: rc 0 but the output reports errors", next(m for m in messages if "errors found" in m))
        return True, "no problems found"
    if rc not in (1, 2):
        return False, f"borg check exited {rc}: " + (messages[-1][:200] if messages else "no output")
    problems = [m for m in messages if _PROBLEM.search(m) and not m.startswith("ID: ")]
    reason = classify_error(text) or "; ".join(problems[:3]) or (messages[-1] if messages else "no output")
    return False, reason[:300]


_ERRORS = (
    (r"passphrase supplied in BORG_PASSPHRASE.*is incorrect|passphrase .* is incorrect",
     "wrong passphrase (check password_file)"),
    (r"Repository .* does not exist|is not a valid repository", "no borg repository at the configured location"),
    (r"Failed to create/acquire the lock|lock.*timeout", "repository is locked by another process"),
    (r"borg: (command )?not found|borg: No such file", "borg is not installed on the host"),
    (r"was previously located at",
     "repository moved since last access; set env BORG_RELOCATED_REPO_ACCESS_IS_OK=yes if that is intended"),
    (r"previously unknown unencrypted repository",
     "unencrypted repository never seen before; set env BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes if intended"),
    (r"Data integrity error|IntegrityError|Segment entry checksum mismatch", "corrupt repository"),
)


def classify_error(text: str) -> str:
    """A one-line reason for a failed borg command (with the first matching line), or ""."""
    for rx, msg in _ERRORS:
        m = re.search(rx, text)
        if m:
            line = next((ln.strip() for ln in text.splitlines() if re.search(rx, ln)), "")
            # The passphrase line only names the variables, never a secret; keep it short.
            return f"{msg}: {line[:200]}" if msg == "corrupt repository" or msg.startswith("no borg") else msg
    # A crash prints a traceback and then a platform block; the reason is the
    # last "SomeError: ..." line of the traceback.
    if "Traceback (most recent call last)" in text:
        exc = [ln.strip() for ln in text.splitlines() if re.match(r"^[A-Za-z_.]+(Error|Exception)\b.*", ln)]
        if exc:
            return f"borg failed: {exc[-1][:200]}"
    return ""
