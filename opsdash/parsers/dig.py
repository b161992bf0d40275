"""dig's and getent's answers to one DNS query: text in, typed record out.

``parse_dig`` reads dig's default output (BIND 9.11-9.20): the header's
``status:`` (NOERROR, NXDOMAIN, SERVFAIL, REFUSED ...), the ANSWER SECTION's
records, ``;; Query time: N msec`` and ``;; SERVER:``. When no answer came
(``communications error ... timed out``, ``connection refused``, ``no servers
could be reached``) it returns a reply with ``error`` set and no status.
``parse_getent`` reads ``getent ahosts NAME`` (address, socket type, name per
line). Text that is neither raises ParseError naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["DigRecord", "DigReply", "parse_dig", "parse_getent"]


@dataclass(frozen=True)
class DigRecord:
    name: str
    ttl: int
    rtype: str
    data: str  # the record's data as dig prints it: "203.0.113.10", "10 mail.example.com."


@dataclass(frozen=True)
class DigReply:
    status: str | None  # the response code; None when no response came (then ``error`` says why)
    records: tuple[DigRecord, ...] = ()
    query_ms: float | None = None
    server: str | None = None  # "127.0.0.1#5353" as dig names it
    error: str | None = None  # "timed out" | "connection refused" | "no servers could be reached" | ...

    @property
    def timed_out(self) -> bool:
        return self.status is None and self.error is not None and "timed out" in self.error


_STATUS = re.compile(r"^;; ->>HEADER<<- opcode: \S+, status: ([A-Z0-9]+), id: \d+$")
_QTIME = re.compile(r"^;; Query time: (\d+(?:\.\d+)?) (msec|usec|sec)$")
_SERVER = re.compile(r"^;; SERVER: (\S+?)(?:\(.*\))?(?: \((?:UDP|TCP|TLS|HTTPS)\))?$")
# ";; communications error to 127.0.0.1#53: timed out", ";; connection timed out; no servers could be reached"
_COMM = re.compile(r"^;; (?:communications error to (\S+): (.+)|connection (timed out); no servers could be reached"
                   r"|(no servers could be reached))$")
_RR = re.compile(r"^(\S+)\s+(\d{1,10})\s+(?:IN|CH|HS|CLASS\d+)\s+([A-Z][A-Z0-9]*)\s+(.*)$")
_TO_MS = {"msec": 1.0, "usec": 0.001, "sec": 1000.0}


def parse_dig(text: str) -> DigReply:
    """One query's reply from dig's output (stdout, then stderr)."""
    status: str | None = None
    records: list[DigRecord] = []
    query_ms: float | None = None
    server: str | None = None
    errors: list[str] = []
    section: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line:
            section = None
            continue
        if m := _STATUS.match(line):
            status = m.group(1)
        elif line.startswith(";; ") and line.endswith(" SECTION:"):
            section = line[3:-len(" SECTION:")]
        elif m := _QTIME.match(line):
            query_ms = float(m.group(1)) * _TO_MS[m.group(2)]
        elif m := _SERVER.match(line):
            server = m.group(1)
        elif m := _COMM.match(line):
            errors.append(m.group(2) or m.group(3) or m.group(4))
            if server is None and m.group(1):
                server = m.group(1)
        elif section == "ANSWER" and not line.startswith(";"):
            m = _RR.match(line)
            if m is None:
                raise ParseError("dig: not a resource record in the answer section", line, lineno)
            records.append(DigRecord(m.group(1), int(m.group(2)), m.group(3), m.group(4).strip()))
        elif line.startswith("dig: ") or line.startswith(";; ERROR"):  # "dig: couldn't get address for ..."
            errors.append(line.removeprefix("dig: ").removeprefix(";; ").strip()[:200])
    if status is None:
        if errors:
            # "timed out" wins: it is why the others were said
            why = next((e for e in errors if "timed out" in e), errors[0])
            return DigReply(None, (), query_ms, server, why)
        raise ParseError("dig: no reply header (status) and no error in the output")
    return DigReply(status, tuple(records), query_ms, server, None)


_GETENT = re.compile(r"^(\S+)\s+(STREAM|DGRAM|RAW)(?:\s+(\S+))?$")


def parse_getent(text: str) -> tuple[str, ...]:
    """The distinct addresses of ``getent ahosts`` output, in its order."""
    out: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _GETENT.match(line)
        if m is None:
            raise ParseError("getent ahosts: not an address line", line, lineno)
        if m.group(1) not in out:
            out.append(m.group(1))
    return tuple(out)
