"""Prometheus as a source: its HTTP API feeds the Health, Latency and Cache panes.

Two halves:

- **Pure functions** (no I/O, tested against captured API replies in
  tests/fixtures): ``parse_response`` checks ``status`` then ``resultType``
  and turns the *string* values ("NaN", "+Inf" included) into floats;
  ``node_health`` builds a :class:`~opsdash.model.Health` per node_exporter
  instance; ``instance_host`` and ``match_host`` decide which configured host
  an instance is.
- **The poll** (``poll_prometheus``): one instant query per figure, run
  concurrently under the source's timeout, results written through the
  collector's :class:`~opsdash.collect.jobs.Sink` (``emit``), like every other
  probe's; the poll never imports the collector.

Host identity (one row per host)
    A Prometheus instance is a *configured* ``[[hosts]]`` entry when the host
    part of its ``instance`` label (``10.0.4.11`` of ``10.0.4.11:9100``,
    ``::1`` of ``[::1]:9100``) equals that host's ``address`` or ``name``, or
    node_exporter's ``nodename`` equals the host's ``name`` (all compared
    case-insensitively). Then:

    - if the host has an SSH ``health`` (or ``local``) probe, that probe owns
      the Health row and Prometheus adds nothing to it (no second, disagreeing
      row, no duplicate samples);
    - otherwise Prometheus fills that host's Health row, with the Prometheus
      target labels merged into its tags (the config's tags win).

    An instance that matches no configured host becomes a host of its own,
    named by the host part of ``instance``, or by the whole ``instance`` when
    two instances of the source share a host part. Its tags are the target's
    labels (``job``, ``instance`` and whatever relabelling added).

A source that cannot be reached is a visible state: a ``latest`` row of kind
``source`` with ``state``/``error``, and the hosts it feeds turn to state
``error`` ("source prom: ...") instead of keeping a frozen "ok". No
``host.up = 0`` samples are written for them: a Prometheus restart is not a
fleet outage.

Every request goes through ``source_http`` (streamed, capped at the source's
``max_reply``; "reply over 32 MiB; dropped" past it), which also holds the
client and its secrets handling. Sample values ``NaN``/``+Inf``/``-Inf`` parse
as floats; ``node_health`` turns each non-finite figure into None (unknown),
never an exception, and keeps the host's other figures.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

import httpx

from ..config import HostConfig, SourceConfig
from ..textsafe import redact_url
from ..errors import ParseError, ProbeError
from ..model import HOST_ERROR, HOST_OK, HOST_UNREACHABLE, CacheRow, CacheStats, DiskUsage, EndpointRow, Health, Sample
from .jobs import LatestRow, Sink
from .source_http import ReplyTooLarge, SourceDown, http_client, request_json, safe_url

__all__ = [
    "PromQueryError",
    "ReplyTooLarge",
    "SourceDown",
    "Vector",
    "cache_queries",
    "endpoint_queries",
    "http_client",
    "instance_host",
    "label_selector",
    "match_host",
    "node_health",
    "parse_response",
    "parse_scalar",
    "parse_vector",
    "poll_prometheus",
    "query",
    "safe_url",
]

# Filesystems that are not disks (df -x in the SSH health script, plus kernel pseudo fs).
PSEUDO_FS = r"tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|autofs|proc|sysfs|cgroup2?|fuse\\..*"  # PromQL-escaped
CPU_WINDOW = "1m"
CACHE_WINDOW_S = 300


class PromQueryError(ProbeError):
    """Prometheus answered, with an error (bad PromQL, timeout of the query ...)."""


Vector = list[tuple[dict[str, str], float]]


# --- pure: API replies ------------------------------------------------------------------


def _num(s: Any) -> float:
    """Prometheus sample values are strings: "1", "0.5", "NaN", "+Inf", "-Inf", "1e+00"."""
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return float(s)
    if not isinstance(s, str):
        raise ParseError(f"expected a sample value string, got {type(s).__name__}")
    try:
        return float(s)  # float() reads NaN, +Inf, -Inf and exponents
    except ValueError:
        raise ParseError(f"not a sample value: {s[:40]!r}") from None


def parse_response(doc: Any, http_status: int = 200) -> tuple[str, Any]:
    """Check ``status`` then ``resultType``; return (resultType, result).

    An error reply (HTTP 400/422/503 still carry JSON) raises PromQueryError
    with Prometheus' own ``errorType: error``."""
    if not isinstance(doc, dict) or "status" not in doc:
        raise ParseError(f"not a Prometheus API reply (HTTP {http_status})")
    if doc["status"] != "success":
        et, err = str(doc.get("errorType") or "error"), str(doc.get("error") or "no detail")
        raise PromQueryError(f"{et}: {err[:300]}")
    data = doc.get("data")
    if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
        raise ParseError("Prometheus reply without data.resultType/result")
    return str(data["resultType"]), data["result"]


def parse_vector(doc: Any, http_status: int = 200) -> Vector:
    """An instant vector as [(labels, value)]; a scalar becomes one series with no labels."""
    rtype, result = parse_response(doc, http_status)
    if rtype == "scalar":
        return [({}, _num(result[1]))]
    if rtype != "vector":
        raise ParseError(f"expected an instant vector, got resultType {rtype!r}")
    out: Vector = []
    for item in result:
        try:
            labels, value = item["metric"], item["value"]
            out.append(({str(k): str(v) for k, v in labels.items()}, _num(value[1])))
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ParseError("vector element without metric/value") from None
    return out


def parse_matrix(doc: Any, http_status: int = 200) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """A range vector (query_range) as [(labels, [(t, value)])]."""
    rtype, result = parse_response(doc, http_status)
    if rtype != "matrix":
        raise ParseError(f"expected a range vector, got resultType {rtype!r}")
    out = []
    for item in result:
        try:
            out.append((dict(item["metric"]), [(float(t), _num(v)) for t, v in item["values"]]))
        except (KeyError, TypeError, ValueError):
            raise ParseError("matrix element without metric/values") from None
    return out


def parse_scalar(doc: Any, http_status: int = 200) -> float:
    rtype, result = parse_response(doc, http_status)
    if rtype == "scalar":
        return _num(result[1])
    if rtype == "vector" and len(result) == 1:
        return _num(result[0]["value"][1])
    raise ParseError(f"expected a scalar, got {rtype} with {len(result)} series")


def finite(v: float | None) -> float | None:
    """NaN and infinities (histogram_quantile with no traffic) are "no value"."""
    return v if v is not None and math.isfinite(v) else None


# --- pure: identity ---------------------------------------------------------------------


def instance_host(instance: str) -> str:
    """The host part of an ``instance`` label: ``web-1:9100`` -> ``web-1``, ``[::1]:9100`` -> ``::1``."""
    s = instance.strip()
    if "://" in s:
        s = s.split("://", 1)[1].split("/", 1)[0]
    if s.startswith("["):
        end = s.find("]")
        return s[1:end] if end > 0 else s
    if s.count(":") == 1:
        return s.split(":", 1)[0]
    return s  # no port, or a bare IPv6 address


def match_host(hosts: Iterable[HostConfig], instance: str, nodename: str | None = None) -> HostConfig | None:
    """The configured host this instance is (the module docstring's rule), or None."""
    hp = instance_host(instance).lower()
    nn = (nodename or "").lower()
    for h in hosts:
        if hp and hp in (h.address.lower(), h.name.lower()):
            return h
    if nn:
        for h in hosts:
            if nn == h.name.lower():
                return h
    return None


def label_selector(match: Mapping[str, str], extra: str = "") -> str:
    """``{job="node",env="prod"}`` from a match table (values escaped for PromQL)."""
    parts = [f'{k}="{_esc(v)}"' for k, v in sorted(match.items())]
    if extra:
        parts.append(extra)
    return ",".join(parts)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --- pure: node_exporter -> Health ----------------------------------------------------------


def host_queries(match: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The instant queries behind the Health pane. ``[[sources]] queries`` may replace any by key."""
    sel = label_selector(match)
    c = "," if sel else ""
    q = {
        "up": f"up{{{sel}}}",
        "uname": f"node_uname_info{{{sel}}}",
        "gauges": (
            '{__name__=~"node_memory_(MemTotal|MemAvailable|SwapTotal|SwapFree)_bytes'
            f'|node_load(1|5|15)|node_boot_time_seconds|node_time_seconds"{c}{sel}}}'
        ),
        "fs": (
            '{__name__=~"node_filesystem_(size|free|avail)_bytes",'
            f'fstype!~"{PSEUDO_FS}"{c}{sel}}}'
        ),
        # Busy as /proc/stat reads it: everything but idle and iowait.
        "cpu": (
            f'100 * sum by (instance) (rate(node_cpu_seconds_total{{mode!~"idle|iowait"{c}{sel}}}[{CPU_WINDOW}]))'
            f" / sum by (instance) (rate(node_cpu_seconds_total{{{sel}}}[{CPU_WINDOW}]))"
        ),
        "cpus": f'count by (instance) (node_cpu_seconds_total{{mode="idle"{c}{sel}}})',
    }
    for k, v in (overrides or {}).items():
        if k in q:
            q[k] = v
    return q


@dataclass(frozen=True)
class NodeReading:
    instance: str
    labels: dict[str, str]  # target labels (of `up`), without __name__
    up: bool
    nodename: str | None
    health: Health | None
    error: str | None = None


def _by_instance(v: Vector) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for labels, value in v:
        inst = labels.get("instance")
        if inst is not None:
            out.setdefault(inst, []).append((labels, value))
    return out


def node_health(
    up: Vector, uname: Vector, gauges: Vector, fs: Vector, cpu: Vector, cpus: Vector,
    *, known: Iterable[str] = (),
) -> list[NodeReading]:
    """One reading per node_exporter instance.

    Instances are those with ``node_uname_info`` now, plus ``known`` ones (seen
    before) whose target is down now: a down exporter has no fresh series but
    must show as down, not vanish."""
    ups = {labels.get("instance"): (labels, value) for labels, value in up if labels.get("instance")}
    unames = {labels["instance"]: labels for labels, _ in uname if "instance" in labels}
    g, f = _by_instance(gauges), _by_instance(fs)
    cpu_of = {labels.get("instance"): value for labels, value in cpu}
    cpus_of = {labels.get("instance"): value for labels, value in cpus}
    instances = sorted(set(unames) | ({i for i in known if i in ups}))
    out: list[NodeReading] = []
    for inst in instances:
        up_labels, up_value = ups.get(inst, (unames.get(inst, {"instance": inst}), 1.0))
        target_labels = {k: v for k, v in up_labels.items() if k != "__name__"}
        if up_labels is unames.get(inst):  # no `up` series: keep only job/instance of the info metric
            target_labels = {k: v for k, v in up_labels.items() if k in ("job", "instance")}
        nodename = unames.get(inst, {}).get("nodename")
        if up_value != 1.0 and math.isfinite(up_value):  # NaN `up` is unknown, not down: the figures decide
            out.append(NodeReading(inst, target_labels, False, nodename, None,
                                   f"node_exporter target {inst} is down (up == 0)"))
            continue
        vals: dict[str, float] = {}
        for labels, value in g.get(inst, []):
            vals[labels.get("__name__", "")] = value
        if not vals.get("node_memory_MemTotal_bytes") or "node_memory_MemAvailable_bytes" not in vals:
            out.append(NodeReading(inst, target_labels, True, nodename, None,
                                   "no node_memory_MemTotal_bytes/MemAvailable_bytes for this instance"))
            continue
        try:
            health = _health(vals, finite(cpu_of.get(inst)), cpus_of.get(inst), f.get(inst, []))
        except (ValueError, ArithmeticError, TypeError) as e:  # a figure we did not foresee: say so, on this host
            out.append(NodeReading(inst, target_labels, True, nodename, None,
                                   f"cannot read this instance's node_exporter figures: {type(e).__name__}: {e}"))
            continue
        out.append(NodeReading(inst, target_labels, True, nodename, health))
    return out


def _fig(vals: Mapping[str, float], name: str, absent: float | None) -> float | None:
    """A gauge's value; ``absent`` when it has no series; None (unknown) when it is NaN or ±Inf."""
    return finite(vals[name]) if name in vals else absent


def _ratio_percent(used: float | None, total: float | None) -> float | None:
    if used is None or total is None or total <= 0:
        return None
    return finite(round(100.0 * used / total, 2))


def _health(vals: Mapping[str, float], cpu: float | None, n_cpu: float | None,
            fs: Sequence[tuple[dict[str, str], float]]) -> Health:
    """Every figure on its own: a NaN or ±Inf one is None (unknown), the others are shown."""
    total, avail = _fig(vals, "node_memory_MemTotal_bytes", None), _fig(vals, "node_memory_MemAvailable_bytes", None)
    swap_total = _fig(vals, "node_memory_SwapTotal_bytes", 0.0)
    swap_free = _fig(vals, "node_memory_SwapFree_bytes", 0.0)
    has_clock = "node_boot_time_seconds" in vals and "node_time_seconds" in vals
    boot, now = _fig(vals, "node_boot_time_seconds", None), _fig(vals, "node_time_seconds", None)
    if n_cpu is None or n_cpu == 0:
        cpus: int | None = 1  # no count: one CPU, as before (load per CPU stays the load)
    else:
        cpus = max(1, int(n_cpu)) if math.isfinite(n_cpu) else None
    if not has_clock:
        uptime: float | None = 0.0
    else:
        uptime = finite(round(max(0.0, now - boot), 1)) if boot is not None and now is not None else None
    return Health(
        cpu_percent=_round(cpu),
        mem_percent=_ratio_percent(total - avail if total is not None and avail is not None else None, total),
        swap_percent=(0.0 if swap_total == 0.0 else  # no swap (or no swap series): 0 %, as before
                      _ratio_percent(swap_total - swap_free if None not in (swap_total, swap_free) else None,
                                     swap_total)),
        load1=_fig(vals, "node_load1", 0.0),
        load5=_fig(vals, "node_load5", 0.0),
        load15=_fig(vals, "node_load15", 0.0),
        cpus=cpus,
        uptime_s=uptime,
        disks=_disks(fs),
    )


def _round(v: float | None) -> float | None:
    return round(max(0.0, min(100.0, v)), 2) if v is not None else None


def _disks(series: Sequence[tuple[dict[str, str], float]]) -> tuple[DiskUsage, ...]:
    by_mount: dict[str, dict[str, Any]] = {}
    for labels, value in series:
        mount = labels.get("mountpoint")
        name = labels.get("__name__", "")
        if mount is None or not name.startswith("node_filesystem_"):
            continue
        d = by_mount.setdefault(mount, {"device": labels.get("device", "")})
        d[name[len("node_filesystem_"):-len("_bytes")]] = value
    out = []
    for mount, d in sorted(by_mount.items()):
        size, free, avail = d.get("size"), d.get("free"), d.get("avail")
        if not size or free is None or avail is None or not all(map(math.isfinite, (size, free, avail))):
            continue  # a mount with a missing, NaN or infinite figure has no known percent: not shown
        used = size - free
        denom = used + avail
        pct = 100.0 * used / denom if denom > 0 else 0.0
        out.append(DiskUsage(mount=mount, percent=round(pct, 2), free_bytes=int(avail), total_bytes=int(size),
                             filesystem=d["device"]))
    return tuple(out)


# --- pure: endpoints and caches ------------------------------------------------------------


def _window(seconds: float) -> str:
    return f"{max(1, int(round(seconds)))}s"


def endpoint_queries(queries: Mapping[str, str], window_s: float) -> dict[str, str]:
    """An endpoint's PromQL: ``p50``/``p95``/``p99`` (seconds) and ``error_rate`` (0..1) as given,
    or built from ``histogram = 'metric_seconds{label="x"}'`` (a histogram's base name and selector):
    ``histogram_quantile(0.95, sum by (le) (rate(metric_seconds_bucket{label="x"}[window])))``."""
    out: dict[str, str] = {}
    hist = queries.get("histogram")
    if hist:
        name, _, sel = hist.strip().partition("{")
        sel = "{" + sel if sel else ""
        for key, q in (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")):
            out[key] = f"histogram_quantile({q}, sum by (le) (rate({name.strip()}_bucket{sel}[{_window(window_s)}])))"
    for key in ("p50", "p95", "p99", "error_rate"):
        if queries.get(key):
            out[key] = queries[key]
    return out


def cache_queries(queries: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``cache.<name>.hits`` / ``cache.<name>.misses`` counter selectors ->
    {name: {"hits": sum(increase(sel[5m])), "misses": ...}}."""
    out: dict[str, dict[str, str]] = {}
    for key, sel in queries.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "cache" and parts[2] in ("hits", "misses") and parts[1]:
            out.setdefault(parts[1], {})[parts[2]] = f"sum(increase({sel}[{CACHE_WINDOW_S}s]))"
    return {k: v for k, v in out.items() if len(v) == 2}


def cache_stats(name: str, hits: float | None, misses: float | None, window_s: float = CACHE_WINDOW_S) -> CacheStats:
    hits, misses = finite(hits), finite(misses)
    if hits is None or misses is None:
        return CacheStats(name, "prometheus", None, 0, 0, None, None)
    total = hits + misses
    return CacheStats(name, "prometheus", round(hits / total, 6) if total > 0 else None, int(round(hits)),
                      int(round(misses)), float(window_s), round(total / window_s, 3))


def worst(v: Vector) -> float | None:
    """The largest finite value of a vector (several series for one figure: show the worst)."""
    vals = [x for _, x in v if math.isfinite(x)]
    return max(vals) if vals else None


# --- HTTP (every request through source_http: streamed, capped at max_reply) ---------------


async def query(client: httpx.AsyncClient, cfg: SourceConfig, promql: str, t: float | None = None) -> Vector:
    """GET /api/v1/query. Transport problems raise SourceDown; a bad query raises PromQueryError."""
    params = {"query": promql}
    if t is not None:
        params["time"] = f"{t:.3f}"
    status, doc = await request_json(client, cfg, "GET", "/api/v1/query", params=params)
    return parse_vector(doc, status)


async def query_range(client: httpx.AsyncClient, cfg: SourceConfig, promql: str, start: float, end: float,
                      step: float) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """GET /api/v1/query_range (backfills a sparkline when a viewer asks for history)."""
    status, doc = await request_json(client, cfg, "GET", "/api/v1/query_range", params={
        "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    return parse_matrix(doc, status)


# --- the poll --------------------------------------------------------------------------------


def source_row(cfg: SourceConfig, t: float, state: str, error: str | None, **extra: Any) -> dict[str, Any]:
    return {"name": cfg.name, "kind": cfg.kind, "url": safe_url(cfg.url), "state": state, "error": error,
            "t": t, "interval": cfg.interval, **extra}


async def poll_prometheus(sink: Sink, cfg: SourceConfig, state: Any) -> None:
    """One poll of a Prometheus source: hosts, endpoints and caches it feeds.

    ``state`` is this source's :class:`opsdash.collect.sources.PromState`."""
    t = sink.clock()
    t0 = time.monotonic()
    try:
        async with http_client(cfg) as client:
            results = await asyncio.wait_for(_run_queries(client, cfg, sink), cfg.timeout + 1)
    except asyncio.TimeoutError:
        err: ProbeError = SourceDown(f"prometheus {cfg.name} ({safe_url(cfg.url)}): no reply within {cfg.timeout:g}s",
                                     state="timeout")
        _source_failed(sink, cfg, state, t, err)
        raise err from None
    except ProbeError as e:
        _source_failed(sink, cfg, state, t, e)
        raise
    samples: list[Sample] = []
    latest: list[LatestRow] = []
    errors: list[str] = []
    host_q = results["hosts"]
    if isinstance(host_q, Exception):
        errors.append(f"hosts: {host_q}")
    else:
        _hosts(sink, cfg, state, t, host_q, samples, latest)
    for ep, res in results["endpoints"]:
        row, ep_samples = _endpoint(cfg, ep, t, res)
        state.endpoints[ep.name] = row
        if row.error:
            errors.append(f"endpoint {ep.name}: {row.error}")
        samples.extend(ep_samples)
        latest.append(("endpoint", ep.name, cfg.name, t, row.to_json(), None))
    for name, res in results["caches"]:
        if isinstance(res, Exception):
            errors.append(f"cache {name}: {res}")
            row = CacheRow(name, "prometheus", t, cfg.interval, None, str(res))
        else:
            stats = cache_stats(name, *res)
            row = CacheRow(name, "prometheus", t, cfg.interval, stats)
            labels = {"cache": name}
            if stats.hit_rate is not None:
                samples.append(Sample(t, cfg.name, "cache.hit_rate", stats.hit_rate, labels))
            if stats.ops_per_s is not None:
                samples.append(Sample(t, cfg.name, "cache.ops_per_s", stats.ops_per_s, labels))
        state.caches[name] = row
        latest.append(("cache", cfg.name, name, t, row.to_json(), None))
    state.ok, state.error, state.last_ok = True, None, t
    latest.append(("source", cfg.name, "", t, source_row(
        cfg, t, "degraded" if errors else "ok", "; ".join(errors)[:1000] or None, hosts=sorted(state.hosts),
        duration_s=round(time.monotonic() - t0, 3), last_ok=t), None))
    sink.emit(samples, latest)


async def _gather_dict(coros: Mapping[str, Any]) -> dict[str, Any]:
    keys = list(coros)
    vals = await asyncio.gather(*coros.values(), return_exceptions=True)
    return dict(zip(keys, vals))


async def _run_queries(client: httpx.AsyncClient, cfg: SourceConfig, sink: Sink) -> dict[str, Any]:
    hq = host_queries(cfg.match, cfg.queries)
    host_coros = {k: query(client, cfg, q) for k, q in hq.items()}
    eps = [e for e in sink.config.endpoints if e.source == cfg.name]
    ep_coros = {f"{e.name}\x00{k}": query(client, cfg, q) for e in eps
                for k, q in endpoint_queries(e.queries, e.window).items()}
    cq = cache_queries(cfg.queries)
    cache_coros = {f"{n}\x00{k}": query(client, cfg, q) for n, qs in cq.items() for k, q in qs.items()}
    res = await _gather_dict({**{"h\x00" + k: c for k, c in host_coros.items()},
                              **{"e\x00" + k: c for k, c in ep_coros.items()},
                              **{"c\x00" + k: c for k, c in cache_coros.items()}})
    # The source itself is down when a transport error hit every query (or its auth failed).
    downs = [v for v in res.values() if isinstance(v, SourceDown)]
    if downs and (len(downs) == len(res) or any(d.state == "auth-failed" for d in downs)):
        raise downs[0]
    for v in res.values():
        if isinstance(v, BaseException) and not isinstance(v, (ProbeError, httpx.HTTPError)):
            raise v  # a bug: let the collector count it
    host_res = {k[2:]: v for k, v in res.items() if k.startswith("h\x00")}
    host_err = next((v for v in host_res.values() if isinstance(v, Exception)), None)
    out: dict[str, Any] = {"hosts": host_err or host_res, "endpoints": [], "caches": []}
    for e in eps:
        out["endpoints"].append((e, {k: res[f"e\x00{e.name}\x00{k}"] for k in endpoint_queries(e.queries, e.window)}))
    for n in cq:
        h, m = res[f"c\x00{n}\x00hits"], res[f"c\x00{n}\x00misses"]
        err = next((x for x in (h, m) if isinstance(x, Exception)), None)
        out["caches"].append((n, err if err else (worst(h), worst(m))))
    return out


def _synthetic_host(name: str, address: str, tags: dict[str, str], cfg: SourceConfig) -> HostConfig:
    return HostConfig(
        name=name, address=address, port=None, user=None, identity_file=None, jump=None, tags=tags,
        probes=("prometheus",), interval=cfg.interval, timeout=cfg.timeout, host_key_policy="strict",
        known_hosts="", ssh_config="", patches_interval=86400.0,
    )


def _hosts(sink: Sink, cfg: SourceConfig, state: Any, t: float, res: dict[str, Vector],
           samples: list[Sample], latest: list[LatestRow]) -> None:
    readings = node_health(res["up"], res["uname"], res["gauges"], res["fs"], res["cpu"], res["cpus"],
                           known=state.instances)
    configured = sink.config.hosts
    host_parts: dict[str, int] = {}
    for r in readings:
        hp = instance_host(r.instance)
        host_parts[hp] = host_parts.get(hp, 0) + 1
    for r in readings:
        state.instances.add(r.instance)
        cfg_host = match_host(configured, r.instance, r.nodename)
        if cfg_host is not None:
            if "health" in cfg_host.probes or "local" in cfg_host.probes:
                state.shadowed[r.instance] = cfg_host.name  # SSH owns this host's Health row
                continue
            name = cfg_host.name
            hs = sink.host(name)
            assert hs is not None, name  # every [[hosts]] entry has its row from the start
            if "prometheus" not in hs.cfg.probes:
                hs.cfg = replace(hs.cfg, probes=(*hs.cfg.probes, "prometheus"), tags={**r.labels, **cfg_host.tags})
        else:
            hp = instance_host(r.instance)
            name = hp if host_parts[hp] == 1 else r.instance
            hs = sink.host(name)
            if hs is None or "prometheus" not in hs.cfg.probes:
                hs = sink.add_host(_synthetic_host(name, hp, r.labels, cfg))
            elif hs.cfg.tags != r.labels:
                hs.cfg = replace(hs.cfg, tags=dict(r.labels))
        state.hosts[name] = r.instance
        hs.t = t
        if not r.up:
            hs.state, hs.error = HOST_UNREACHABLE, r.error
            samples.append(Sample(t, name, "host.up", 0.0))
        elif r.health is None:
            hs.state, hs.error = HOST_ERROR, r.error
        else:
            hs.state, hs.error, hs.health = HOST_OK, None, r.health
            samples.extend(r.health.samples(t, name))
        latest.append(("host", name, "", t, sink.host_row(hs), None))


def _endpoint(cfg: SourceConfig, ep: Any, t: float, res: Mapping[str, Any]) -> tuple[EndpointRow, list[Sample]]:
    vals: dict[str, float | None] = {}
    errors = []
    for k, v in res.items():
        if isinstance(v, Exception):
            errors.append(f"{k}: {v}")
            vals[k] = None
        else:
            vals[k] = worst(v)
    ms = {k: round(vals[k] * 1000.0, 3) if vals.get(k) is not None else None for k in ("p50", "p95", "p99")}  # type: ignore[operator]
    err_rate = vals.get("error_rate")
    if not res:
        errors.append('no queries: set queries.histogram or queries.p50/p95/p99/error_rate')
    no_data = not errors and all(v is None for v in vals.values())
    state_ = "error" if errors else ("no-data" if no_data else "ok")
    row = EndpointRow(
        name=ep.name, vantage=cfg.name, state=state_, t=t, interval=cfg.interval, url=redact_url(ep.url),
        ttfb_ms=ms["p50"], p50_ms=ms["p50"], p95_ms=ms["p95"], p99_ms=ms["p99"],
        error_rate=round(err_rate, 6) if err_rate is not None else None,
        availability=round(100.0 * (1 - err_rate), 3) if err_rate is not None else None,
        error="; ".join(errors)[:500] or ("no traffic in the window (NaN)" if no_data else None),
        slo_availability=ep.slo.availability, slo_ttfb_p95_ms=ep.slo.ttfb_p95_ms, source=cfg.name,
    )
    labels = {"vantage": cfg.name}
    samples = []
    for value, metric in ((row.p50_ms, "endpoint.ttfb_p50_ms"), (row.p95_ms, "endpoint.ttfb_p95_ms"),
                          (row.p99_ms, "endpoint.ttfb_p99_ms"), (row.error_rate, "endpoint.error_rate"),
                          (row.availability, "endpoint.availability")):
        if value is not None:
            samples.append(Sample(t, ep.name, metric, value, labels))
    return row, samples


def _source_failed(sink: Sink, cfg: SourceConfig, state: Any, t: float, e: ProbeError) -> None:
    """The source is down: say so on its row and on every row it feeds (no host.up samples)."""
    state.ok, state.error = False, str(e)
    latest: list[LatestRow] = [("source", cfg.name, "", t, source_row(cfg, t, e.state, str(e), hosts=sorted(state.hosts),
                                                                 last_ok=state.last_ok), None)]
    for name in state.hosts:
        hs = sink.host(name)
        if hs is None:
            continue
        hs.state, hs.error, hs.t = HOST_ERROR, f"source {cfg.name}: {e}", t
        latest.append(("host", name, "", t, sink.host_row(hs), None))
    for ep_name, row in state.endpoints.items():
        row = replace(row, state="error", error=f"source {cfg.name}: {e}", t=t)
        state.endpoints[ep_name] = row
        latest.append(("endpoint", ep_name, cfg.name, t, row.to_json(), None))
    for name, row in state.caches.items():
        row = CacheRow(row.name, row.kind, t, row.interval, None, f"source {cfg.name}: {e}")
        state.caches[name] = row
        latest.append(("cache", cfg.name, name, t, row.to_json(), None))
    sink.emit([], latest)
