"""Host health from one round trip: /proc/loadavg, /proc/uptime, the cpu lines
of /proc/stat, /proc/meminfo and ``df -P -k``, delimited by ``=== name ===``
lines and closed by ``=== end rc=N ===`` (see collect/health.py for the script,
tests/fixtures/host-health-oneshot.txt for a real capture).
"""

from __future__ import annotations

import re

from ..errors import ParseError
from ..model import CpuTimes, DiskUsage

_SECTION = re.compile(r"^=== (\S+)(?: (.*))? ===$")


def split_sections(text: str) -> dict[str, list[str]]:
    """``=== name ===`` delimited text into {name: lines}. The ``end`` line's attributes go to "end".

    The reply is found by its markers, not by where the output starts: text
    before the first section is not ours (a login banner, a ``~/.bashrc`` that
    echoes, a motd) and is skipped; the raw output, banner and all, is kept
    for the drill-down by the caller. A section seen twice keeps its last
    copy, so a banner that happens to print ``=== df ===`` cannot stand in
    for the real one that follows it.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.rstrip("\r")
        m = _SECTION.match(line)
        if m:
            current = sections[m.group(1)] = []
            if m.group(2):
                current.append(m.group(2))
        elif current is not None:
            current.append(line)
    return sections


def parse_loadavg(lines: list[str]) -> tuple[float, float, float]:
    if not lines:
        raise ParseError("empty /proc/loadavg")
    parts = lines[0].split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise ParseError("unexpected /proc/loadavg", lines[0]) from None


def parse_uptime(lines: list[str]) -> float:
    try:
        return float(lines[0].split()[0])
    except (IndexError, ValueError):
        raise ParseError("unexpected /proc/uptime", lines[0] if lines else "") from None


def parse_cpu(lines: list[str]) -> tuple[CpuTimes, int]:
    """Aggregate busy/total jiffies and the number of CPUs from the cpu lines of /proc/stat."""
    total_line = None
    cpus = 0
    for line in lines:
        if line.startswith("cpu "):
            total_line = line
        elif re.match(r"^cpu\d+ ", line):
            cpus += 1
    if total_line is None:
        raise ParseError("no aggregate cpu line in /proc/stat", lines[0] if lines else "")
    try:
        fields = [int(x) for x in total_line.split()[1:]]
    except ValueError:
        raise ParseError("unexpected cpu line in /proc/stat", total_line) from None
    if len(fields) < 4:
        raise ParseError("too few fields in /proc/stat cpu line", total_line)
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is
    # already counted in user, so only the first eight add up to the total.
    base = fields[:8]
    idle = base[3] + (base[4] if len(base) > 4 else 0)
    total = sum(base)
    return CpuTimes(busy=total - idle, total=total), max(cpus, 1)


def parse_meminfo(lines: list[str]) -> tuple[float, float]:
    """(mem %, swap %) used. Memory used = MemTotal - MemAvailable, as `free` reports it."""
    kv: dict[str, int] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and re.fullmatch(r"[0-9]{1,20}", parts[0]):  # not isdigit(): int("²") fails
            kv[key.strip()] = int(parts[0])
    if "MemTotal" not in kv or kv["MemTotal"] <= 0:
        raise ParseError("no MemTotal in /proc/meminfo", lines[0] if lines else "")
    total = kv["MemTotal"]
    avail = kv.get("MemAvailable")
    if avail is None:  # kernels before 3.14
        avail = kv.get("MemFree", 0) + kv.get("Buffers", 0) + kv.get("Cached", 0)
    mem = 100.0 * (total - avail) / total
    swap_total = kv.get("SwapTotal", 0)
    swap = 100.0 * (swap_total - kv.get("SwapFree", 0)) / swap_total if swap_total > 0 else 0.0
    return round(mem, 2), round(swap, 2)


def parse_df(lines: list[str], block_size: int = 1024) -> tuple[DiskUsage, ...]:
    """``df -P`` output. Mount points may contain spaces: split at most 5 times."""
    out = []
    header_seen = False
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not header_seen:
            if not line.startswith("Filesystem"):
                raise ParseError("df output without its header", line, n)
            header_seen = True
            continue
        parts = line.split(None, 5)
        if len(parts) < 6:
            raise ParseError("unexpected df line", line, n)
        fs, size, used, avail, _cap, mount = parts
        try:
            size_i, used_i, avail_i = int(size), int(used), int(avail)
        except ValueError:
            raise ParseError("unexpected df numbers", line, n) from None
        if size_i == 0:
            continue  # pseudo filesystems
        # Percent as df computes it: used / (used + available), rounded up.
        denom = used_i + avail_i
        pct = 100.0 * used_i / denom if denom else 0.0
        out.append(DiskUsage(mount=mount, percent=round(pct, 2), free_bytes=avail_i * block_size,
                             total_bytes=size_i * block_size, filesystem=fs))
    return tuple(out)
