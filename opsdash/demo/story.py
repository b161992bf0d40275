"""The demo fleet and its story: pure functions of story time ``t`` (seconds).

Nothing here reads a clock or does I/O; the fleet process passes its elapsed
time in. The story repeats every ``CYCLE`` seconds (a bad ten minutes, then
recovery); counters (CPU jiffies, cache hits) are integrals over the whole
elapsed time, so they only ever grow (except across a reboot).

Within the first ten minutes:
  60-480 s   checkout TTFB creeps from 150 ms to 650 ms: p95 passes 400 ms
 120-300 s   a deploy changes cache keys: cache-1's redis hit rate (and the
             X-Cache HIT share of shop-home) falls from 96 % to 55 %
   0-540 s   db-2's /var/lib/postgresql fills from 70 % to 98 %
 240-330 s   web-3 is down (its SSH connections close), then reboots
 330 s-      backup-1's restore test of db-dump fails (a corrupt pack)
   always    status-page fails one 5 s slot in six: flapping, kept quiet
             by the demo rules' `for` and flap detection
     450 s   unattended-upgrades patches web-1 (pending drops to 0)
Recovery: latency back by 700 s, cache by 720 s, disk cleaned at 670 s,
restore fixed at 760 s.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

CYCLE = 900.0
REGIONS = ("eu-west", "us-east")

DOWN_HOST, DOWN_FROM, DOWN_UNTIL = "web-3", 240.0, 330.0
DISK_HOST, DISK_MOUNT = "db-2", "/var/lib/postgresql"
RESTORE_HOST, RESTORE_JOB, RESTORE_FAIL_FROM, RESTORE_FAIL_UNTIL = "backup-1", "db-dump", 330.0, 760.0
SLOW_ENDPOINT = "checkout"
FLAPPING_ENDPOINT = "status-page"
CACHE_HOST, CACHE_NAME = "cache-1", "sessions"
PATCHED_HOST, PATCH_AT = "web-1", 450.0
REBOOT_HOST = "db-1"
# The one place remote text carries Rich markup and an escape sequence, so the
# UI's escaping is exercised: a package name on web-2.
MARKUP_HOST = "web-2"
MARKUP_PACKAGE = "[red]libpwn[/red][link=https://evil.example/]x[/link]\x1b[31m"

# Piecewise-linear curves over one cycle: (story seconds, value).
CHECKOUT_MS = ((0, 150), (60, 150), (480, 650), (640, 650), (700, 160), (900, 150))
REDIS_HIT_RATIO = ((0, 0.96), (120, 0.96), (300, 0.55), (640, 0.55), (720, 0.95), (900, 0.96))
DISK_FILL = ((0, 70.0), (540, 98.0), (668, 98.0), (672, 61.0), (900, 70.0))


# --- small helpers -------------------------------------------------------------------


def rand(*keys: object) -> float:
    """A deterministic number in [0, 1) for ``keys``."""
    h = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def curve(points: tuple[tuple[float, float], ...], t: float) -> float:
    """The value of a periodic piecewise-linear curve at story time ``t``."""
    s = t % CYCLE
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if s <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (s - t0) / (t1 - t0)
    return points[-1][1]


def _area(points: tuple[tuple[float, float], ...], s: float) -> float:
    total = 0.0
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if s <= t0:
            break
        e = min(s, t1)
        ve = v0 if t1 == t0 else v0 + (v1 - v0) * (e - t0) / (t1 - t0)
        total += (v0 + ve) / 2 * (e - t0)
    return total


def integral(points: tuple[tuple[float, float], ...], t: float) -> float:
    """The integral of the periodic curve from 0 to ``t`` (t >= 0)."""
    cycles, s = divmod(max(0.0, t), CYCLE)
    return cycles * _area(points, CYCLE) + _area(points, s)


# --- the fleet -----------------------------------------------------------------------


@dataclass(frozen=True)
class Disk:
    mount: str
    filesystem: str
    size_kb: int
    percent: float  # at rest; the story moves DISK_MOUNT on DISK_HOST


@dataclass(frozen=True)
class Cache:
    name: str
    kind: str  # redis | memcached
    address: str
    lookups_per_s: float
    hit_ratio: float  # at rest; cache-1's follows REDIS_HIT_RATIO


@dataclass(frozen=True)
class Backup:
    name: str
    repository: str
    sample: str  # as the snapshot lists it, without the leading /
    sample_size: int
    every: float  # a new snapshot this often (story seconds)


@dataclass(frozen=True)
class Host:
    name: str
    role: str  # web | db | cache | backup
    region: str
    index: int
    cpus: int
    mem_kb: int
    disks: tuple[Disk, ...]
    caches: tuple[Cache, ...] = ()
    backups: tuple[Backup, ...] = ()

    @property
    def core(self) -> bool:
        """One of the twelve hosts the story is about (the rest are load)."""
        return self.index < len(_CORE)


_CORE = (
    ("web-1", "web"), ("web-2", "web"), ("web-3", "web"), ("web-4", "web"),
    ("api-1", "web"), ("api-2", "web"), ("db-1", "db"), ("db-2", "db"),
    ("cache-1", "cache"), ("cache-2", "cache"), ("backup-1", "backup"), ("backup-2", "backup"),
)
_SHAPE = {  # cpus, memory (GiB), extra disk
    "web": (2, 4, None),
    "db": (8, 32, Disk("/var/lib/postgresql", "/dev/vdb1", 200 * 1024 * 1024, 58.0)),
    "cache": (4, 16, None),
    "backup": (2, 8, Disk("/srv/backup", "/dev/vdb1", 1024 * 1024 * 1024, 41.0)),
}
_CACHES = {
    "cache-1": (Cache("sessions", "redis", "127.0.0.1:6379", 900.0, 0.96),),
    "cache-2": (Cache("fragments", "memcached", "127.0.0.1:11211", 400.0, 0.91),),
}
_BACKUPS = {
    "backup-1": (Backup("db-dump", "/srv/backup/restic-db", "srv/dumps/shop.sql.gz", 48_213_377, 120.0),),
    "backup-2": (Backup("etc", "/srv/backup/restic-etc", "etc/hostname", 9, 180.0),),
    "db-1": (Backup("wal-archive", "/srv/backup/restic-wal", "var/lib/postgresql/15/main/PG_VERSION", 3, 60.0),),
}


def _host(index: int, name: str, role: str) -> Host:
    cpus, mem_gib, extra = _SHAPE[role]
    root = Disk("/", "/dev/vda1", 40 * 1024 * 1024, round(22 + 30 * rand(name, "root"), 1))
    disks = (root,) + ((extra,) if extra else ())
    caches = _CACHES.get(name, ())
    if not caches and role == "cache":  # load-test hosts
        caches = (Cache("objects", "memcached", "127.0.0.1:11211", 200.0, 0.8 + 0.15 * rand(name, "hit")),)
    return Host(name, role, REGIONS[index % 2], index, cpus, mem_gib * 1024 * 1024, disks, caches,
                _BACKUPS.get(name, ()))


def fleet(n: int = 12) -> list[Host]:
    """The first ``n`` hosts: the twelve of the story, then node-0013... for load tests."""
    out = [_host(i, name, role) for i, (name, role) in enumerate(_CORE[:n])]
    roles = ("web", "web", "db", "cache")
    out += [_host(i, f"node-{i + 1:04d}", roles[i % 4]) for i in range(len(_CORE), n)]
    return out


# --- hosts over time -------------------------------------------------------------------

BOOTED_BEFORE = 3 * 86400.0  # story t=0 is this long after the hosts booted


def host_up(name: str, t: float) -> bool:
    return not (name == DOWN_HOST and DOWN_FROM <= t % CYCLE < DOWN_UNTIL)


def boot_time(name: str, t: float) -> float:
    """Story time of the host's last boot (negative: before the story began)."""
    first = -BOOTED_BEFORE - 3600.0 * (rand(name, "boot") * 48)
    if name != DOWN_HOST:
        return first
    k, s = divmod(t, CYCLE)
    if s >= DOWN_UNTIL:
        return k * CYCLE + DOWN_UNTIL
    return (k - 1) * CYCLE + DOWN_UNTIL if k >= 1 else first


def _cpu_shape(h: Host) -> tuple[float, float, float, float]:
    base = {"web": 0.22, "db": 0.35, "cache": 0.12, "backup": 0.08}[h.role] + 0.1 * rand(h.name, "cpu")
    return base, 0.6 * base, 120.0 + 60.0 * rand(h.name, "period"), 2 * math.pi * rand(h.name, "phase")


def cpu_fraction(h: Host, t: float) -> float:
    base, amp, period, phase = _cpu_shape(h)
    return base + amp * math.sin(2 * math.pi * t / period + phase)


def cpu_busy_s(h: Host, t: float) -> float:
    """CPU-seconds (per CPU) busy from story time 0 to ``t`` (t may be negative)."""
    base, amp, period, phase = _cpu_shape(h)
    w = 2 * math.pi / period
    return base * t + amp / w * (math.cos(phase) - math.cos(w * t + phase))


def mem_fraction(h: Host, t: float) -> float:
    base = {"web": 0.45, "db": 0.7, "cache": 0.62, "backup": 0.3}[h.role] + 0.1 * rand(h.name, "mem")
    return base + 0.03 * math.sin(t / 97.0 + 7 * rand(h.name, "memph"))


def disk_percent(h: Host, d: Disk, t: float) -> float:
    if h.name == DISK_HOST and d.mount == DISK_MOUNT:
        return curve(DISK_FILL, t)
    return d.percent + 0.5 * math.sin(t / 300.0 + rand(h.name, d.mount))


# --- caches ---------------------------------------------------------------------------

CACHE_STARTED_BEFORE = 2 * 86400.0


def cache_counters(h: Host, c: Cache, t: float) -> tuple[int, int, int, int]:
    """(hits, misses, lookups, uptime_s) since the cache started."""
    before = CACHE_STARTED_BEFORE
    if h.name == CACHE_HOST and c.name == CACHE_NAME:
        hit_s = REDIS_HIT_RATIO[0][1] * before + integral(REDIS_HIT_RATIO, t)
    else:
        hit_s = c.hit_ratio * (before + t)
    lookups = c.lookups_per_s * (before + t)
    hits = c.lookups_per_s * hit_s
    return int(hits), int(lookups - hits), int(lookups), int(before + t)


# --- patches --------------------------------------------------------------------------

# (name, installed, candidate, security, roles)
PACKAGES = (
    ("openssl", "3.0.15-1~deb12u1", "3.0.17-1~deb12u2", True, "*"),
    ("libssl3", "3.0.15-1~deb12u1", "3.0.17-1~deb12u2", True, "*"),
    ("curl", "7.88.1-10+deb12u8", "7.88.1-10+deb12u12", True, "*"),
    ("libcurl4", "7.88.1-10+deb12u8", "7.88.1-10+deb12u12", True, "*"),
    ("openssh-client", "1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u6", True, "*"),
    ("openssh-server", "1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u6", True, "*"),
    ("libxml2", "2.9.14+dfsg-1.3~deb12u1", "2.9.14+dfsg-1.3~deb12u2", True, "*"),
    ("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", False, "*"),
    ("base-files", "12.4+deb12u7", "12.4+deb12u11", False, "*"),
    ("bash", "5.2.15-2+b7", "5.2.15-2+b8", False, "*"),
    ("systemd", "252.30-1~deb12u2", "252.38-1~deb12u1", False, "*"),
    ("libsystemd0", "252.30-1~deb12u2", "252.38-1~deb12u1", False, "*"),
    ("python3.11", "3.11.2-6+deb12u3", "3.11.2-6+deb12u6", False, "*"),
    ("nginx", "1.22.1-9", "1.22.1-9+deb12u2", True, "web"),
    ("postgresql-15", "15.8-0+deb12u1", "15.13-0+deb12u1", True, "db"),
    ("redis-server", "5:7.0.15-1~deb12u1", "5:7.0.15-1~deb12u4", True, "cache"),
    ("restic", "0.14.0-1+b5", "0.14.0-1+b6", False, "backup"),
)
RUNNING_KERNEL = "6.1.0-37-amd64"
NEWER_KERNEL = "6.1.0-38-amd64"
LAST_PATCHED_BEFORE = 9 * 86400.0


@dataclass(frozen=True)
class Patches:
    packages: tuple[tuple[str, str, str, bool], ...]  # name, installed, candidate, security
    reboot_required: bool
    last_update: float  # story time
    kernels: tuple[str, ...]  # in /boot


def patches(h: Host, t: float) -> Patches:
    if h.name == PATCHED_HOST and t % CYCLE >= PATCH_AT:
        return Patches((), False, t - t % CYCLE + PATCH_AT, (RUNNING_KERNEL,))
    pkgs = tuple(
        (name, cur, cand, sec)
        for name, cur, cand, sec, roles in PACKAGES
        if (roles == "*" and rand(h.name, name) < 0.45) or roles == h.role
    )
    if h.name == MARKUP_HOST:
        pkgs += ((MARKUP_PACKAGE, "1.0-1", "1.0-2", False),)
    reboot = h.name == REBOOT_HOST
    kernels = (RUNNING_KERNEL, NEWER_KERNEL) if reboot else (RUNNING_KERNEL,)
    return Patches(pkgs, reboot, -LAST_PATCHED_BEFORE - 86400.0 * rand(h.name, "patched") * 20, kernels)


# --- backups --------------------------------------------------------------------------


def snapshots(h: Host, b: Backup, t: float, keep: int = 12) -> list[float]:
    """Story times of the job's snapshots, oldest first: one every ``b.every`` seconds."""
    phase = b.every * rand(h.name, b.name)
    last = math.floor((t - phase) / b.every)
    return [k * b.every + phase for k in range(last - keep + 1, last + 1)]


def restore_ok(h: Host, b: Backup, t: float) -> bool:
    return not (h.name == RESTORE_HOST and b.name == RESTORE_JOB
                and RESTORE_FAIL_FROM <= t % CYCLE < RESTORE_FAIL_UNTIL)


# --- endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    region: str
    slo_p95_ms: float | None
    slo_availability: float | None
    cached: bool  # answers with X-Cache HIT/MISS
    vantage: tuple[str, ...] = ("local",)


ENDPOINTS = (
    Endpoint("shop-home", "eu-west", 400, 99.9, True, ("local", "web-1")),
    Endpoint("checkout", "eu-west", 400, 99.9, False),
    Endpoint("api-search", "us-east", 400, 99.5, True, ("local", "api-2")),
    Endpoint("images", "eu-west", 200, 99.9, True),
    Endpoint("login", "us-east", 400, 99.9, False),
    Endpoint("status-page", "us-east", None, None, True),  # flapping: no SLO, watched by endpoint-down
)


# --- DNS and the checkout journey (demo/checks.py serves them) ----------------------

# Names the demo's DNS server knows, and what they resolve to at rest.
DNS_RECORDS = {"shop.demo": ("203.0.113.10",), "api.demo": ("203.0.113.20",)}
# After a "migration" the api record is served stale for a while: dns-wrong-answer.
STALE_NAME, STALE_VALUE, STALE_FROM, STALE_UNTIL = "api.demo", "198.51.100.7", 60.0, 150.0
# The payment backend is down inside the slow-checkout stretch: step 3 of the journey fails.
CHECKOUT_BROKEN_FROM, CHECKOUT_BROKEN_UNTIL = 560.0, 620.0


def dns_answer(name: str, t: float) -> tuple[str, ...] | None:
    """The A records ``name`` has at ``t``; None for a name that does not exist (NXDOMAIN)."""
    if name == STALE_NAME and STALE_FROM <= t % CYCLE < STALE_UNTIL:
        return (STALE_VALUE,)
    return DNS_RECORDS.get(name)


def checkout_broken(t: float) -> bool:
    return CHECKOUT_BROKEN_FROM <= t % CYCLE < CHECKOUT_BROKEN_UNTIL


def endpoint_status(name: str, t: float) -> int:
    if name == FLAPPING_ENDPOINT and math.floor(t / 5.0) % 6 == 2:
        return 503
    return 200


def cache_hit(name: str, t: float) -> bool:
    """Whether the request at ``t`` is answered from the edge cache."""
    ratio = {"shop-home": curve(REDIS_HIT_RATIO, t) - 0.04, "api-search": 0.35, "images": 0.97, "status-page": 0.99}
    return rand(name, "hit", round(t, 3)) < ratio.get(name, 0.0)


def endpoint_latency_ms(name: str, t: float) -> float:
    """Server time before the response head (the TTFB the probe sees, minus loopback)."""
    u = rand(name, "lat", round(t, 3))
    if name == "checkout":
        return curve(CHECKOUT_MS, t) * (0.85 + 0.3 * u)
    if name == "shop-home":
        return 25 + 20 * u + (0 if cache_hit(name, t) else 90)
    if name == "api-search":
        return 80 + 60 * u + (260 if rand(name, "tail", round(t, 3)) > 0.97 else 0)
    if name == "images":
        return 8 + 8 * u
    if name == "login":
        return 70 + 40 * u
    return 12 + 8 * u
