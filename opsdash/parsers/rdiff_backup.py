"""rdiff-backup 2.2: ``--parsable-output list increments --size`` and ``verify``.

``list increments --size`` prints YAML, oldest first; the last entry is the
current mirror, and an entry's ``total_size`` counts it with every increment
after it, so the first entry's is the repository's size. Times are epoch
seconds. ``verify`` re-reads every mirror file (or one path in the repository)
and compares its SHA1 with the digest recorded at backup time: rc 0 and "All
files verified successfully", else rc 2 and a WARNING per file. ``restore``
of a path the backup does not hold exits 0 and restores nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["Increment", "classify_error", "parse_increments", "parse_verify"]


@dataclass(frozen=True, slots=True)
class Increment:
    time: float
    size: int  # this increment's own bytes (the mirror's for the last)
    total_size: int  # this one and every later one


_ENTRY = re.compile(r"^(?:- |  )(size|time|total_size): (\d+)$")


def parse_increments(text: str) -> tuple[Increment, ...]:
    """``rdiff-backup --parsable-output list increments --size PATH`` -> increments, oldest first."""
    entries: list[dict[str, int]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() in ("", "---", "..."):
            continue
        m = _ENTRY.match(line)
        if not m:
            raise ParseError("rdiff-backup list increments: unexpected line", line, n)
        if line.startswith("- "):
            entries.append({})
        elif not entries:
            raise ParseError("rdiff-backup list increments: a field before the first entry", line, n)
        entries[-1][m.group(1)] = int(m.group(2))
    try:
        out = tuple(Increment(float(e["time"]), e["size"], e["total_size"]) for e in entries)
    except KeyError as e:
        raise ParseError(f"rdiff-backup list increments: an entry without {e}", text[:120]) from None
    return tuple(sorted(out, key=lambda i: i.time))


def parse_verify(text: str, rc: int) -> tuple[bool, str]:
    """``rdiff-backup verify`` stdout + stderr and rc -> (ok, detail)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if rc == 0 and any(ln == "NOTE: All files verified successfully" for ln in lines):
        return True, "all files verified successfully (SHA1 against the recorded digests)"
    bad = [ln for ln in lines if "doesn't match recorded digest" in ln]
    summary = next((ln for ln in lines if ln.startswith("ERROR: Verification found")), None)
    if bad:
        m = re.search(r"SHA1 digest of file (.*?) '[0-9a-f]+' doesn't match", bad[0])
        # verify of one path in the repository names it "."
        name = m.group(1) if m and m.group(1) != "." else "the file"
        what = f"SHA1 of {name} does not match the recorded digest" if m else bad[0][:200]
        return False, "; ".join(x for x in (what, summary and summary.removeprefix("ERROR: ")) if x)[:300]
    if rc == 0:
        raise ParseError("rdiff-backup verify: rc 0 without 'All files verified successfully'", lines[-1] if lines else "")
    return False, classify_error(text) or f"rdiff-backup verify exited {rc}"


def classify_error(text: str) -> str:
    """The one line worth showing from a failed rdiff-backup command ("" when none is known)."""
    if "couldn't be identified as being within an existing backup repository" in text:
        return "not an rdiff-backup repository (or not reachable)"
    if re.search(r"^KeyError: 'size'$", text, re.M):
        return "path not in the backup"
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR: ")]
    return errors[0][:200] if errors else ""
