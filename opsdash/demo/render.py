"""What a demo host prints, in the formats of the real tools, from the story.

Every function is pure: story time ``t`` in, text out. ``wall`` turns a story
time into Unix time for the outputs that carry dates (apt history, restic).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from typing import Callable

from . import story
from .story import Backup, Cache, Host

HZ = 100  # USER_HZ: /proc/stat counts in 1/100 s
Wall = Callable[[float], float]


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hex(*keys: object, n: int = 64) -> str:
    return hashlib.sha256(repr(keys).encode()).hexdigest()[:n]


# --- health ---------------------------------------------------------------------------


def health(h: Host, t: float) -> str:
    """The health script's output: loadavg, uptime, cpu lines, meminfo, df."""
    boot = story.boot_time(h.name, t)
    up = max(1.0, t - boot)
    busy = max(0.0, story.cpu_busy_s(h, t) - story.cpu_busy_s(h, boot))
    frac = story.cpu_fraction(h, t)
    load1 = h.cpus * frac * (0.9 + 0.2 * story.rand(h.name, "load", round(t)))
    load5 = h.cpus * story.cpu_fraction(h, t - 120)
    load15 = h.cpus * story.cpu_fraction(h, t - 400)
    out = ["=== loadavg ===", f"{load1:.2f} {load5:.2f} {load15:.2f} {1 + int(3 * frac)}/{180 + h.index % 50} {int(up) % 32000 + 300}"]
    out += ["=== uptime ===", f"{up:.2f} {up * h.cpus * (1 - frac):.2f}"]
    out.append("=== stat ===")
    per = []
    for c in range(h.cpus):
        share = 1.0 + 0.04 * (c - h.cpus / 2) / h.cpus  # CPUs are not all equally busy
        b, tot = busy * share * HZ, up * HZ
        user, system = int(b * 0.72), int(b * 0.28)
        idle = int(tot) - user - system
        iowait = int(idle * 0.004)
        per.append((user, 0, system, idle - iowait, iowait, 0, int(b * 0.003), 0, 0, 0))
    agg = [sum(col) for col in zip(*per)]
    out.append("cpu  " + " ".join(map(str, agg)))
    out += [f"cpu{c} " + " ".join(map(str, row)) for c, row in enumerate(per)]
    out.append("=== meminfo ===")
    out += _meminfo(h, t)
    out.append("=== df ===")
    out.append("Filesystem     1024-blocks      Used Available Capacity Mounted on")
    for d in h.disks:
        pct = min(99.9, max(0.0, story.disk_percent(h, d, t)))
        used = int(d.size_kb * pct / 100)
        avail = d.size_kb - used
        out.append(f"{d.filesystem:<14} {d.size_kb:>11} {used:>9} {avail:>9} {math.ceil(pct):>7}% {d.mount}")
    return "\n".join(out) + "\n"


def _meminfo(h: Host, t: float) -> list[str]:
    total = h.mem_kb
    avail = int(total * (1 - story.mem_fraction(h, t)))
    swap_total = 1024 * 1024
    swap_free = swap_total - int(swap_total * 0.03 * story.rand(h.name, "swap"))
    rows = (
        ("MemTotal", total), ("MemFree", int(avail * 0.35)), ("MemAvailable", avail),
        ("Buffers", int(total * 0.02)), ("Cached", int(avail * 0.55)), ("SwapCached", 0),
        ("Active", int((total - avail) * 0.6)), ("Inactive", int(avail * 0.4)),
        ("SwapTotal", swap_total), ("SwapFree", swap_free), ("Dirty", 1280 + h.index % 400),
    )
    return [f"{k + ':':<16}{v:>8} kB" for k, v in rows]


# --- patches (apt) -----------------------------------------------------------------------

_ORIGIN = "Debian:12.11/oldstable"
_SECURITY = "Debian:12.11/oldstable, Debian-Security:12/oldstable-security"


def apt_simulate(h: Host, t: float) -> str:
    """``apt-get -s -o Debug::NoLocking=1 dist-upgrade`` as a non-root user sees it."""
    p = story.patches(h, t)
    lines = [
        "NOTE: This is only a simulation!",
        "      apt-get needs root privileges for real execution.",
        "      Keep also in mind that locking is deactivated,",
        "      so don't depend on the relevance to the real current situation!",
        "Reading package lists...", "Building dependency tree...", "Reading state information...",
        "Calculating upgrade...",
    ]
    if p.packages:
        lines.append("The following packages will be upgraded:")
        names = [name for name, *_ in p.packages]
        lines += ["  " + " ".join(names[i:i + 8]) for i in range(0, len(names), 8)]
    lines.append(f"{len(p.packages)} upgraded, 0 newly installed, 0 to remove and 0 not upgraded.")
    for name, cur, cand, sec in p.packages:
        lines.append(f"Inst {name} [{cur}] ({cand} {_SECURITY if sec else _ORIGIN} [amd64])")
    for name, cur, cand, sec in p.packages:
        lines.append(f"Conf {name} ({cand} {_SECURITY if sec else _ORIGIN} [amd64])")
    return "\n".join(lines) + "\n"


def apt_history(h: Host, t: float, wall: Wall) -> str:
    """The Start-Date/Upgrade/End-Date lines of /var/log/apt/history.log (UTC host)."""
    end = wall(story.patches(h, t).last_update)
    fmt = lambda ts: _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d  %H:%M:%S")  # noqa: E731
    return (f"Start-Date: {fmt(end - 42)}\nUpgrade: libc6:amd64 (2.36-9+deb12u9, 2.36-9+deb12u10)\n"
            f"End-Date: {fmt(end)}\n")


def boot_listing(h: Host, t: float) -> str:
    out = []
    for k in story.patches(h, t).kernels:
        out += [f"System.map-{k}", f"config-{k}", f"initrd.img-{k}", f"vmlinuz-{k}"]
    return "\n".join(sorted(out)) + "\n"


# --- caches ---------------------------------------------------------------------------


def redis_info(h: Host, c: Cache, t: float) -> str:
    """``redis-cli INFO server`` then ``INFO stats`` (CRLF, as redis-cli prints when piped)."""
    hits, misses, lookups, uptime = story.cache_counters(h, c, t)
    server = ["# Server", "redis_version:7.0.15", "redis_mode:standalone", "os:Linux 6.1.0-37-amd64 x86_64",
              "process_id:812", "tcp_port:6379", f"uptime_in_seconds:{uptime}", f"uptime_in_days:{uptime // 86400}"]
    stats = ["# Stats", f"total_connections_received:{1200 + uptime // 60}",
             f"total_commands_processed:{int(lookups * 1.3)}", "instantaneous_ops_per_sec:0",
             "rejected_connections:0", "expired_keys:0", f"evicted_keys:{int(misses * 0.1)}",
             f"keyspace_hits:{hits}", f"keyspace_misses:{misses}"]
    return "\r\n".join(server) + "\r\n\r\n" + "\r\n".join(stats) + "\r\n\r\n"


def memcached_stats(h: Host, c: Cache, t: float) -> str:
    hits, misses, lookups, uptime = story.cache_counters(h, c, t)
    rows = (("pid", 1124), ("uptime", uptime), ("time", 0), ("version", "1.6.18"), ("curr_connections", 7),
            ("cmd_get", lookups), ("cmd_set", misses), ("get_hits", hits), ("get_misses", misses),
            ("evictions", 0))
    return "".join(f"STAT {k} {v}\r\n" for k, v in rows) + "END\r\n"


# --- backups (restic) -----------------------------------------------------------------


def _snapshot(h: Host, b: Backup, st: float, wall: Wall) -> dict:
    sid = _hex(h.name, b.name, st)
    return {"time": _iso(wall(st)), "tree": _hex("tree", h.name, b.name, st), "paths": ["/" + b.sample.split("/")[0]],
            "hostname": h.name, "username": "root", "tags": ["demo"], "id": sid, "short_id": sid[:8]}


def restic_snapshots(h: Host, b: Backup, t: float, wall: Wall) -> str:
    return json.dumps([_snapshot(h, b, st, wall) for st in story.snapshots(h, b, t)]) + "\n"


def find_snapshot(h: Host, b: Backup, snap_id: str, t: float) -> float | None:
    for st in story.snapshots(h, b, t):
        if _hex(h.name, b.name, st).startswith(snap_id):
            return st
    return None


def restic_ls(h: Host, b: Backup, st: float, wall: Wall) -> str:
    snap = {**_snapshot(h, b, st, wall), "struct_type": "snapshot"}
    lines = [json.dumps(snap)]
    parts = b.sample.split("/")
    mtime = _iso(wall(st) - 600)
    for i in range(1, len(parts) + 1):
        last = i == len(parts)
        node = {"name": parts[i - 1], "type": "file" if last else "dir", "path": "/" + "/".join(parts[:i]),
                "uid": 0, "gid": 0, "mode": 420 if last else 2147484141, "mtime": mtime, "atime": mtime,
                "ctime": mtime, "struct_type": "node"}
        if last:
            node["size"] = b.sample_size
        lines.append(json.dumps(node))
    return "\n".join(lines) + "\n"


def restic_restore(h: Host, b: Backup, st: float, t: float, wall: Wall) -> tuple[int, str, str]:
    """``restic restore --verify`` of the sample: (rc, stdout, stderr)."""
    snap = _snapshot(h, b, st, wall)
    when = _dt.datetime.fromtimestamp(wall(st), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f000 +0000 UTC")
    target = f"/tmp/tmp.{_hex(t, n=10)}/r"
    head = f"restoring <Snapshot {snap['short_id']} of [{' '.join(snap['paths'])}] at {when} by root@{h.name}> to {target}\n"
    if story.restore_ok(h, b, t):
        took = 2 + int(b.sample_size / 4e6)
        return 0, head + f"verifying files in {target}\nfinished verifying 1 files in {target} (took {took}ms)\n", ""
    err = (f"ignoring error for /{b.sample}: ciphertext verification failed\n"
           "Fatal: There were 1 errors\n")
    return 1, head, err


def sample_sha256(h: Host, b: Backup) -> str:
    return _hex("content", h.name, b.name)
