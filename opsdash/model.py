"""Typed records shared by every layer: probes produce them, the store keeps
them, the alert engine and the viewers read them.

Nothing here does I/O. ``to_json()`` methods give the shapes of the
``opsdash once --format json`` contract (docs/contracts.md).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

# Host states of the JSON contract.
HOST_OK = "ok"
HOST_TIMEOUT = "timeout"
HOST_UNREACHABLE = "unreachable"
HOST_AUTH_FAILED = "auth-failed"
HOST_KEY_UNKNOWN = "host-key-unknown"
HOST_KEY_MISMATCH = "host-key-mismatch"
HOST_ERROR = "error"
HOST_STATES = (
    HOST_OK,
    HOST_TIMEOUT,
    HOST_UNREACHABLE,
    HOST_AUTH_FAILED,
    HOST_KEY_UNKNOWN,
    HOST_KEY_MISMATCH,
    HOST_ERROR,
)


def iso(t: float | None) -> str | None:
    """Unix time as ISO-8601 UTC with a Z, or None."""
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any) -> float | None:
    """iso()'s text back to Unix time (a time without a zone is UTC); None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        d = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one metric for one target at one time (docs/contracts.md metric names)."""

    t: float
    target: str
    metric: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def series_key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.target, self.metric, tuple(sorted(self.labels.items())))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": self.t, "target": self.target, "metric": self.metric, "value": self.value}
        if self.labels:
            d["labels"] = dict(self.labels)
        return d


# --- host health ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Aggregate jiffies from the first line of /proc/stat."""

    busy: int
    total: int

    def percent_since(self, earlier: "CpuTimes") -> float | None:
        d_total = self.total - earlier.total
        if d_total <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * (self.busy - earlier.busy) / d_total))


@dataclass(frozen=True, slots=True)
class DiskUsage:
    mount: str
    percent: float
    free_bytes: int
    total_bytes: int = 0
    filesystem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"mount": self.mount, "percent": self.percent, "free_bytes": self.free_bytes}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DiskUsage | None":
        """None for an entry without a numeric percent (nothing to show or judge)."""
        pct = _num(d.get("percent"))
        if pct is None:
            return None
        return cls(str(d.get("mount", "")), pct, _whole(d.get("free_bytes")) or 0)


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _error(v: Any) -> str | None:
    """A stored error message as text (None: no error)."""
    return str(v) if v is not None else None


def _int(v: Any) -> int | None:
    """A JSON integer (a count of CPUs, a status code), or None: 2.0 or true is not one."""
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _whole(v: Any) -> int | None:
    """A finite JSON number as a whole number (bytes, package counts), or None."""
    n = _num(v)
    return int(n) if n is not None else None


def _num(v: Any) -> float | None:
    """A finite JSON number, or None (missing, null, a bool, text, NaN): a stored row read back."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def load_per_cpu(load1: Any, cpus: Any) -> float | None:
    """The 1-minute load per CPU (host.load1_per_cpu), from a Health or its JSON: None when
    either is unknown. The one place it is computed: the sample, the pane and `once`."""
    if isinstance(load1, bool) or not isinstance(load1, (int, float)) or not isinstance(cpus, int) or isinstance(cpus, bool):
        return None
    return load1 / max(1, cpus)


@dataclass(frozen=True, slots=True)
class Health:
    # None is "unknown" (a Prometheus gauge that is NaN or ±Inf): not shown, no sample.
    cpu_percent: float | None
    mem_percent: float | None
    swap_percent: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    cpus: int | None
    uptime_s: float | None
    disks: tuple[DiskUsage, ...] = ()

    @property
    def worst_disk(self) -> DiskUsage | None:
        return max(self.disks, key=lambda d: d.percent, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_percent": self.cpu_percent,
            "mem_percent": self.mem_percent,
            "swap_percent": self.swap_percent,
            "load1": self.load1,
            "load5": self.load5,
            "load15": self.load15,
            "cpus": self.cpus,
            "uptime_s": self.uptime_s,
            "disks": [d.to_json() for d in self.disks],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Health":
        """What to_json wrote; a figure that is missing or not a number is None (unknown)."""
        disks = (DiskUsage.from_json(x) for x in d.get("disks") or () if isinstance(x, Mapping))
        return cls(
            cpu_percent=_num(d.get("cpu_percent")), mem_percent=_num(d.get("mem_percent")),
            swap_percent=_num(d.get("swap_percent")), load1=_num(d.get("load1")), load5=_num(d.get("load5")),
            load15=_num(d.get("load15")), cpus=_int(d.get("cpus")),
            uptime_s=_num(d.get("uptime_s")), disks=tuple(x for x in disks if x is not None),
        )

    @property
    def load_per_cpu(self) -> float | None:
        return load_per_cpu(self.load1, self.cpus)

    def samples(self, t: float, target: str) -> list[Sample]:
        out = [Sample(t, target, "host.up", 1.0)]
        for metric, value in (("host.mem_percent", self.mem_percent), ("host.swap_percent", self.swap_percent),
                              ("host.load1_per_cpu", load_per_cpu(self.load1, self.cpus)), ("host.uptime_s", self.uptime_s),
                              ("host.cpu_percent", self.cpu_percent)):
            if value is not None:
                out.append(Sample(t, target, metric, value))
        out.extend(Sample(t, target, "host.disk_percent", d.percent, {"mount": d.mount}) for d in self.disks)
        return out


@dataclass(frozen=True, slots=True)
class HostRow:
    """A host's latest row (kind "host"): written by the collector and the Prometheus source,
    read by the Health pane, the drill-down and the escalation packet."""

    name: str
    state: str  # one of HOST_STATES
    error: str | None
    health: Health | None  # None when the host was not read (down, or not polled yet)
    t: float | None  # when it was polled
    interval: float | None
    tags: Mapping[str, str] = field(default_factory=dict)
    probes: tuple[str, ...] = ()
    # For the escalation packet's environment. No probe reads them yet: None, and left out.
    os: str | None = None
    kernel: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = {
            "name": self.name, "tags": dict(self.tags), "state": self.state, "error": self.error,
            "health": self.health.to_json() if self.health else None, "t": self.t,
            "interval": self.interval, "probes": list(self.probes),
        }
        return d | {k: v for k, v in (("os", self.os), ("kernel", self.kernel)) if v is not None}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "") -> "HostRow":
        """A stored row read back. A state that is not one of HOST_STATES is "error", so a row
        from a newer or broken writer never shows as up."""
        state = d.get("state")
        health = d.get("health")
        tags = d.get("tags")
        return cls(
            name=str(d.get("name") or name), state=state if state in HOST_STATES else HOST_ERROR,
            error=_error(d.get("error")),
            health=Health.from_json(health) if isinstance(health, Mapping) else None,
            t=_num(d.get("t")), interval=_num(d.get("interval")),
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
            probes=tuple(p for p in probes if isinstance(p, str)) if isinstance(probes := d.get("probes"), list) else (),
            os=_text(d.get("os")), kernel=_text(d.get("kernel")),
        )


# --- patches ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageUpdate:
    name: str
    current: str
    candidate: str
    security: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "PackageUpdate":
        return cls(str(d.get("name", "")), str(d.get("current", "")), str(d.get("candidate", "")),
                   d.get("security") is True)


@dataclass(frozen=True, slots=True)
class PatchStatus:
    manager: str
    pending: int
    security: int
    reboot_required: bool
    packages: tuple[PackageUpdate, ...] = ()
    services_restart: tuple[str, ...] = ()
    reboot_reason: str = ""
    last_update: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "pending": self.pending,
            "security": self.security,
            "reboot_required": self.reboot_required,
            "packages": [p.to_json() for p in self.packages],
            "services_restart": list(self.services_restart),
            "reboot_reason": self.reboot_reason,
            "last_update": iso(self.last_update),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "PatchStatus":
        """What to_json wrote; a count that is not a number is 0, as the pane always showed it."""
        svc = d.get("services_restart")
        return cls(
            manager=str(d.get("manager") or ""), pending=_whole(d.get("pending")) or 0, security=_whole(d.get("security")) or 0,
            reboot_required=d.get("reboot_required") is True,
            packages=tuple(PackageUpdate.from_json(x) for x in d.get("packages") or () if isinstance(x, Mapping)),
            services_restart=tuple(str(x) for x in svc) if isinstance(svc, list) else (),
            reboot_reason=str(d.get("reboot_reason") or ""), last_update=parse_iso(d.get("last_update")),
        )

    def samples(self, t: float, target: str) -> list[Sample]:
        return [
            Sample(t, target, "patches.pending", float(self.pending)),
            Sample(t, target, "patches.security", float(self.security)),
            Sample(t, target, "patches.reboot_required", 1.0 if self.reboot_required else 0.0),
        ]


@dataclass(frozen=True, slots=True)
class PatchesRow:
    """A host's latest patches row (kind "patches"): the status, or why it could not be read."""

    t: float | None
    interval: float | None
    patches: PatchStatus | None  # None: not read (the error says why)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "interval": self.interval,
                "patches": self.patches.to_json() if self.patches else None, "error": self.error}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "PatchesRow":
        p = d.get("patches")
        return cls(t=_num(d.get("t")), interval=_num(d.get("interval")),
                   patches=PatchStatus.from_json(p) if isinstance(p, Mapping) and p else None,
                   error=_error(d.get("error")))


# --- caches ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheCounters:
    """Lifetime counters as read from a cache; rates come from their deltas."""

    hits: int
    misses: int
    ops: int | None = None  # total operations (commands) where the cache reports them
    uptime_s: float | None = None  # lets a restart be told from a wrap


@dataclass(frozen=True, slots=True)
class CacheStats:
    name: str
    kind: str
    hit_rate: float | None  # 0..1
    hits: int
    misses: int
    window_s: float | None
    ops_per_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "hit_rate": self.hit_rate,
            "hits": self.hits,
            "misses": self.misses,
            "window_s": self.window_s,
            "ops_per_s": self.ops_per_s,
        }


@dataclass(frozen=True, slots=True)
class CacheRow:
    """A cache's latest row (kind "cache", one per host and cache): the rate over the
    tracker's window, or the probe's error. Flat in JSON, as it has always been stored."""

    name: str
    kind: str
    t: float | None
    interval: float | None
    stats: CacheStats | None  # None: the counters could not be read (error says why)
    error: str | None = None

    @property
    def hit_rate(self) -> float | None:
        return self.stats.hit_rate if self.stats else None

    def to_json(self) -> dict[str, Any]:
        base = self.stats.to_json() if self.stats else {"name": self.name, "kind": self.kind, "hit_rate": None}
        return {**base, "error": self.error, "t": self.t, "interval": self.interval}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "") -> "CacheRow":
        name, kind = str(d.get("name") or name), str(d.get("kind") or "")
        hits, misses = _num(d.get("hits")), _num(d.get("misses"))
        rate = _num(d.get("hit_rate"))
        stats = None
        if hits is not None or rate is not None:
            stats = CacheStats(name, kind, rate if rate is None or 0.0 <= rate <= 1.0 else None,
                               int(hits or 0), int(misses or 0), _num(d.get("window_s")), _num(d.get("ops_per_s")))
        return cls(name, kind, _num(d.get("t")), _num(d.get("interval")), stats,
                   _error(d.get("error")))


# --- backups -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreTest:
    ok: bool
    at: float
    duration_s: float
    detail: str = ""
    bytes: int | None = None
    checksum_verified: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "at": iso(self.at),
            "duration_s": self.duration_s,
            "detail": self.detail,
            "bytes": self.bytes,
            "checksum_verified": self.checksum_verified,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "RestoreTest | None":
        """None when the entry has no time it ran (nothing to age or judge)."""
        at = parse_iso(d.get("at"))
        if at is None:
            return None
        return cls(ok=d.get("ok") is True, at=at, duration_s=_num(d.get("duration_s")) or 0.0,
                   detail=str(d.get("detail") or ""), bytes=_whole(d.get("bytes")),
                   checksum_verified=d.get("checksum_verified") is True)


@dataclass(frozen=True, slots=True)
class BackupStatus:
    name: str
    kind: str
    last_backup: float | None
    age_s: float | None
    snapshots: int | None
    size_bytes: int | None = None
    restore_test: RestoreTest | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "last_backup": iso(self.last_backup),
            "age_s": self.age_s,
            "snapshots": self.snapshots,
            "size_bytes": self.size_bytes,
            "restore_test": self.restore_test.to_json() if self.restore_test else None,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "") -> "BackupStatus":
        rt = d.get("restore_test")
        return cls(
            name=str(d.get("name") or name), kind=str(d.get("kind") or ""),
            last_backup=parse_iso(d.get("last_backup")), age_s=_num(d.get("age_s")),
            snapshots=_int(d.get("snapshots")), size_bytes=_whole(d.get("size_bytes")),
            restore_test=RestoreTest.from_json(rt) if isinstance(rt, Mapping) else None,
            error=_error(d.get("error")),
        )


@dataclass(frozen=True, slots=True)
class BackupRow:
    """A backup job's latest row (kind "backup", one per host and job): what the last read
    found, flat in JSON with when it was read and the job's interval and max_age."""

    status: BackupStatus
    t: float | None
    interval: float | None
    max_age: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.status.to_json(), "t": self.t, "interval": self.interval, "max_age": self.max_age}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "") -> "BackupRow":
        return cls(BackupStatus.from_json(d, name), _num(d.get("t")), _num(d.get("interval")), _num(d.get("max_age")))


# --- endpoints -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phases:
    """Milliseconds from the start of the request, per phase (curl's time_* as ms)."""

    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    ttfb_ms: float | None
    total_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """An endpoint's latest row from one vantage (kind "endpoint"): the last request and the
    window's percentiles, written by the collector's HTTP probe and by a Prometheus source,
    read by the Latency pane. ``availability`` is a percent (99.5), ``error_rate`` a ratio."""

    name: str
    vantage: str
    state: str  # ok | timeout | unreachable | error | bad-status | no-data | unknown
    t: float | None
    interval: float | None
    url: str = ""
    status: int | None = None
    ttfb_ms: float | None = None
    phases: Phases | None = None
    samples: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    availability: float | None = None
    cache: str | None = None
    error: str | None = None
    slo_availability: float | None = None
    slo_ttfb_p95_ms: float | None = None
    tls: Mapping[str, Any] | None = None  # the certificate check's row (kinds/tls.py), https only
    source: str | None = None  # the Prometheus source that feeds it

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name, "url": self.url, "vantage": self.vantage, "state": self.state,
            "status": self.status, "ttfb_ms": self.ttfb_ms, "phases": self.phases.to_json() if self.phases else None,
            "samples": self.samples, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
            "error_rate": self.error_rate, "availability": self.availability, "cache": self.cache,
            "error": self.error, "t": self.t, "interval": self.interval,
            "slo": {"availability": self.slo_availability, "ttfb_p95_ms": self.slo_ttfb_p95_ms},
        }
        if self.tls is not None:
            d["tls"] = dict(self.tls)
        if self.source is not None:
            d["source"] = self.source
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "", vantage: str = "") -> "EndpointRow":
        ph, slo, tls = d.get("phases"), d.get("slo"), d.get("tls")
        slo = slo if isinstance(slo, Mapping) else {}
        return cls(
            name=str(d.get("name") or name), vantage=str(vantage or d.get("vantage") or "local"),
            state=str(d.get("state") or "error"), t=_num(d.get("t")), interval=_num(d.get("interval")),
            url=str(d.get("url") or ""), status=_int(d.get("status")),
            ttfb_ms=_num(d.get("ttfb_ms")),
            phases=Phases(*(_num(ph.get(k)) for k in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms")))
            if isinstance(ph, Mapping) else None,
            samples=_int(d.get("samples")),
            p50_ms=_num(d.get("p50_ms")), p95_ms=_num(d.get("p95_ms")), p99_ms=_num(d.get("p99_ms")),
            error_rate=_num(d.get("error_rate")), availability=_num(d.get("availability")),
            cache=_text(d.get("cache")), error=_error(d.get("error")),
            slo_availability=_num(slo.get("availability")), slo_ttfb_p95_ms=_num(slo.get("ttfb_p95_ms")),
            tls=tls if isinstance(tls, Mapping) else None, source=_text(d.get("source")),
        )


@dataclass(frozen=True, slots=True)
class HTTPResult:
    """One request to an endpoint from one vantage."""

    endpoint: str
    url: str
    vantage: str
    t: float
    ok: bool  # reached the server and got an expected status
    status: int | None
    phases: Phases | None
    cache: str | None = None  # HIT / MISS / ... from X-Cache, CF-Cache-Status, Age
    error: str | None = None
    state: str = "ok"  # ok | timeout | unreachable | error | bad-status

    @property
    def ttfb_ms(self) -> float | None:
        return self.phases.ttfb_ms if self.phases else None


# --- alerts -------------------------------------------------------------------


@dataclass(slots=True)
class Alert:
    """An alert as viewers see it (state lives in the store)."""

    id: str
    rule: str
    target: str
    severity: str  # warning | critical
    state: str  # pending | firing | resolved
    since: float
    value: float | None
    summary: str = ""
    runbook: str = ""
    tier: str = "L1"
    acked: bool = False
    ack_note: str | None = None
    ack_by: str | None = None
    silenced: bool = False
    flapping: bool = False
    inhibited: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "opsdash"
    # Why it is held back though firing (a maintenance window, a parent down): like a silence,
    # it is not paged while set, and is paged when this clears and it still fires.
    suppressed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "target": self.target,
            "severity": self.severity,
            "state": self.state,
            "since": iso(self.since),
            "value": self.value,
            "summary": self.summary,
            "runbook": self.runbook,
            "tier": self.tier,
            "acked": self.acked,
            "ack_note": self.ack_note,
            "silenced": self.silenced,
            "flapping": self.flapping,
            "inhibited": self.inhibited,
            "suppressed_by": self.suppressed_by,
            "source": self.source,
        }
