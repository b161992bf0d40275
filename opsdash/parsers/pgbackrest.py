"""pgBackRest: ``pgbackrest --output=json info`` and command logs (check, verify).

``info`` exits 0 even for a missing stanza; the stanza's ``status.code`` is
what tells (0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza
data, 4 different cipher, 5 database mismatch, 6 backup in progress ...).
Times are epoch seconds.

``verify`` (2.45) exits 0 and ends "completed successfully" even when it found
damage: it reports it at INFO, as ``invalid checksum 'FILE'`` lines and a
summary whose lines after the first are indented continuations
(``status: error``, ``checksum invalid: 1``). Both count as a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["PgBackup", "StanzaInfo", "parse_command_log", "parse_info_json"]


@dataclass(frozen=True, slots=True)
class PgBackup:
    label: str
    type: str  # full | diff | incr
    start: float
    stop: float
    error: bool
    size: int | None  # database size
    repo_size: int | None  # backup set size in the repository


@dataclass(frozen=True, slots=True)
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backups: tuple[PgBackup, ...]  # oldest first

    @property
    def ok(self) -> bool:
        # 6 = "backup/expire running": the existing backups are still valid.
        return self.status_code in (0, 6)

    @property
    def last_good(self) -> PgBackup | None:
        good = [b for b in self.backups if not b.error]
        return good[-1] if good else None


def parse_info_json(text: str, stanza: str | None = None) -> StanzaInfo:
    """Parse ``pgbackrest --output=json info``; pick ``stanza`` (or the only one)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"pgbackrest info: not JSON ({e.msg})", text[:120], e.lineno) from None
    except (ValueError, RecursionError) as e:  # a 4300+ digit number, or nesting too deep
        raise ParseError(f"pgbackrest info: not JSON we can read ({type(e).__name__})", text[:120]) from None
    if not isinstance(data, list):
        raise ParseError("pgbackrest info: expected a JSON list of stanzas", text[:120])
    if stanza:
        data = [s for s in data if isinstance(s, dict) and s.get("name") == stanza]
        if not data:
            raise ParseError(f"pgbackrest info: no stanza {stanza!r} in the output", text[:120])
    if len(data) != 1:
        raise ParseError(f"pgbackrest info: {len(data)} stanzas; set 'stanza' in the config", text[:120])
    s = data[0]
    try:
        backups = tuple(
            sorted(
                (
                    PgBackup(
                        b["label"],
                        b["type"],
                        float(b["timestamp"]["start"]),
                        float(b["timestamp"]["stop"]),
                        bool(b.get("error", False)),
                        b.get("info", {}).get("size"),
                        b.get("info", {}).get("repository", {}).get("size"),
                    )
                    for b in s.get("backup", [])
                ),
                key=lambda b: b.stop,
            )
        )
        return StanzaInfo(s["name"], int(s["status"]["code"]), str(s["status"].get("message", "")), backups)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
        raise ParseError(f"pgbackrest info: missing or bad field {e}", json.dumps(s)[:120]) from None


_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} P\d+ +([A-Z]+): (.*)$")


# verify's findings, logged at INFO (pgBackRest src/command/verify/verify.c).
_VERIFY_PROBLEM = re.compile(r"^(invalid (checksum|size|result)|file missing|unable to )|status: (error|invalid)")


def _entries(text: str, command: str) -> list[tuple[str, str]]:
    """(level, message) per log entry; an indented line continues the entry before it."""
    out: list[tuple[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LOG.match(line)
        if m:
            out.append((m.group(1), m.group(2)))
        elif line.startswith(("ERROR:", "WARN:")):  # --log-level-console without timestamps
            level, _, msg = line.strip().partition(": ")
            out.append((level, msg))
        elif line[:1].isspace() and out:
            level, msg = out[-1]
            out[-1] = (level, msg + "; " + line.strip())
        else:
            raise ParseError(f"pgbackrest {command}: unexpected line", line, n)
    return out


def parse_command_log(text: str, command: str, rc: int) -> tuple[bool, str]:
    """Console log of ``pgbackrest check|verify|backup`` -> (ok, detail).

    Passing needs rc 0, "<command> command end: completed successfully", no ERROR
    and, for verify, none of the damage it reports at INFO.
    """
    errors: list[str] = []
    damage: list[str] = []
    done = False
    for level, msg in _entries(text, command):
        if level in ("ERROR", "WARN"):
            errors.append(f"{level}: {msg}")
        elif command == "verify" and level == "INFO" and _VERIFY_PROBLEM.search(msg):
            damage.append(msg)
        if msg.startswith(f"{command} command end: completed successfully"):
            done = True
    if damage:
        # The finding with the file in it first, then the summary's counts.
        return False, "; ".join(damage)[:300]
    if rc == 0 and done and not [e for e in errors if e.startswith("ERROR")]:
        return True, "completed successfully" + (f" ({errors[0][:200]})" if errors else "")
    return False, (errors[0] if errors else f"pgbackrest {command} exited {rc} without completing")[:300]
