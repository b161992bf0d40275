"""Failed SSH logins in an auth log or the journal, per hour.

Accepts the three time stamps sshd's lines come with: the journal's
``short-iso`` (``2026-12-02T05:42:13+0000``), rsyslog's RFC 3339
(``2026-12-02T05:42:13.123456+00:00``) and the traditional syslog
``Dec  2 05:42:13`` (host local time, no year: the year that puts it not in the
future). Lines without a time stamp or a ``sshd[PID]`` tag are skipped.

What counts as one failed login: each "Failed <method> for" line; a connection
(its client "ADDR port N", else the sshd PID) that shows a failure sign (an invalid user, "authenticating user"
closing, too many attempts) but no "Failed" line counts once; so "Invalid user
x" followed by "Failed password for invalid user x" is one, not two.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["failed_logins"]

_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?([+-]\d\d:?\d\d|Z)?\s")
_SYSLOG = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_PID = re.compile(r"\bsshd(?:-session)?\[(\d+)\]:")
_FAILED = re.compile(r"\bFailed (?:password|publickey|keyboard-interactive\S*|none|hostbased) for ")
_CONN = re.compile(r"\b(\S+) port (\d+)\b")
_SIGN = re.compile(r"\b(?:Invalid user |authenticating user |invalid user |maximum authentication attempts exceeded)")


def _stamp(line: str, now: float, utc_offset_s: int) -> float | None:
    m = _ISO.match(line)
    if m:
        tz = m.group(2)
        if tz is None:
            zone = timezone(timedelta(seconds=utc_offset_s))
        elif tz == "Z":
            zone = timezone.utc
        else:
            sign = -1 if tz[0] == "-" else 1
            hh, mm = int(tz[1:3]), int(tz[-2:])
            zone = timezone(sign * timedelta(hours=hh, minutes=mm))
        return datetime.fromisoformat(m.group(1)).replace(tzinfo=zone).timestamp()
    m = _SYSLOG.match(line)
    if m and m.group(1) in _MONTHS:
        zone = timezone(timedelta(seconds=utc_offset_s))
        year = datetime.fromtimestamp(now, zone).year
        for y in (year, year - 1):
            try:
                t = datetime(y, _MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)),
                             int(m.group(5)), tzinfo=zone).timestamp()
            except ValueError:  # Feb 29 of a year without it
                continue
            if t <= now + 300:
                return t
    return None


def failed_logins(text: str, *, now: float, utc_offset_s: int = 0, window_s: float = 3600.0) -> int:
    """Failed SSH logins in the ``window_s`` before ``now`` (host clock)."""
    failed: dict[str, int] = {}
    signs: set[str] = set()
    for line in text.splitlines():
        pm = _PID.search(line)
        if not pm:
            continue
        t = _stamp(line, now, utc_offset_s)
        if t is None or not now - window_s <= t <= now + 300:
            continue
        cm = _CONN.search(line, pm.end())
        pid = f"{cm.group(1)}:{cm.group(2)}" if cm else pm.group(1)
        if _FAILED.search(line):
            failed[pid] = failed.get(pid, 0) + 1
        elif _SIGN.search(line):
            signs.add(pid)
    return sum(failed.values()) + len(signs - set(failed))
