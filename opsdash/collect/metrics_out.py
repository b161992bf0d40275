"""``opsdash collect --metrics-listen ADDR``: what only opsdash knows, for Prometheus.

A tiny asyncio HTTP/1.1 server (no dependency) that answers ``GET /metrics``
with the Prometheus text exposition format 0.0.4, rendered from the running
collector's in-memory state at each scrape:

=============================================  =========  ==================================
metric                                         type       labels
=============================================  =========  ==================================
opsdash_host_up                                gauge      host
opsdash_patches_pending                        gauge      host
opsdash_patches_security_pending               gauge      host
opsdash_reboot_required                        gauge      host
opsdash_backup_age_seconds                     gauge      host, backup
opsdash_backup_last_success_timestamp_seconds  gauge      host, backup
opsdash_backup_restore_success                 gauge      host, backup (1 passed, 0 failed)
opsdash_backup_restore_age_seconds             gauge      host, backup
opsdash_backup_restore_duration_seconds        gauge      host, backup
opsdash_backup_restore_timestamp_seconds       gauge      host, backup
opsdash_http_ttfb_seconds                      histogram  endpoint, vantage
opsdash_endpoint_up                            gauge      endpoint, vantage
opsdash_cache_hit_ratio                        gauge      host, cache (0..1)
opsdash_source_up                              gauge      source, kind
opsdash_polls_total                            counter    kind
opsdash_polls_failed_total                     counter    kind
opsdash_polls_late_total                       counter    kind
opsdash_collector_start_time_seconds           gauge      (none)
opsdash_<kind>_<figure>                        gauge      check, vantage (+ the kind's labels)
=============================================  =========  ==================================

The last row is every registered probe kind's metrics (kinds/base.Metric), named
``opsdash_`` + the metric with dots as underscores: ``dns.resolve_p95_ms`` is
``opsdash_dns_resolve_p95_ms``, with the kind's help text.

Base units (seconds, ratios 0..1), ``_total`` on counters, HELP and TYPE for
every family, label values escaped (``\\``, ``"``, newline) as the format
requires. Host, backup and endpoint names come from the config; nothing from
a remote host ends up in a label.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Iterable

from ..model import Sample
from ..kinds.registry import host_kind, host_kinds, kinds, metric as declared_metric
from .sources import source_rows

__all__ = ["TTFB_BUCKETS", "TTFBHistograms", "escape_label", "parse_addr", "render", "serve_metrics"]

TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class TTFBHistograms:
    """Cumulative TTFB histograms per (endpoint, vantage), fed by the collector's samples."""

    def __init__(self, buckets: Iterable[float] = TTFB_BUCKETS):
        self.buckets = tuple(sorted(buckets))
        self.data: dict[tuple[str, str], list[float]] = {}  # counts per bucket..., then sum, count

    def observe(self, endpoint: str, vantage: str, seconds: float) -> None:
        h = self.data.get((endpoint, vantage))
        if h is None:
            h = self.data[(endpoint, vantage)] = [0.0] * (len(self.buckets) + 2)
        for i, b in enumerate(self.buckets):
            if seconds <= b:
                h[i] += 1
        h[-2] += seconds
        h[-1] += 1

    def listener(self, samples: list[Sample]) -> None:
        for s in samples:
            if s.metric == "endpoint.ttfb_ms":
                self.observe(s.target, s.labels.get("vantage", "local"), s.value / 1000.0)


class _Family:
    def __init__(self, name: str, kind: str, help_: str):
        self.name, self.kind, self.help = name, kind, help_
        self.lines: list[str] = []

    def add(self, value: float | None, suffix: str = "", **labels: str) -> None:
        if value is None:
            return
        lab = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in labels.items())
        self.lines.append(f"{self.name}{suffix}{{{lab}}} {fmt(float(value))}" if lab else
                          f"{self.name}{suffix} {fmt(float(value))}")

    def text(self) -> str:
        if not self.lines:
            return ""
        return (f"# HELP {self.name} {_escape_help(self.help)}\n# TYPE {self.name} {self.kind}\n"
                + "\n".join(self.lines) + "\n")


def render(collector: Any, ttfb: TTFBHistograms | None = None, now: float | None = None,
           started: float | None = None) -> str:
    """The exposition text for the collector's current state."""
    now = collector.clock() if now is None else now
    F = _Family
    def declared(metric: str) -> _Family:  # the name and help its kind declares (kinds/registry.py)
        m = declared_metric(metric)
        return F(m.prom_name, "gauge", m.help)

    host_up = declared("host.up")
    # Every host kind's gauges, in its declared order (kinds/base.HostKind.exports).
    fams_by_name = {prom: F(prom, "gauge", help) for k in host_kinds() for prom, help in k.exports}
    for name, hs in collector.hosts.items():
        if hs.t is not None and hs.state != "unknown":
            host_up.add(1.0 if hs.state == "ok" else 0.0, host=name)
        for (kind, _), row in hs.rows.items():  # the host kinds' last rows
            hk = host_kind(kind)
            for prom, value, labels in hk.export(row, now) if hk is not None else ():
                fams_by_name[prom].add(value, host=name, **labels)
    fams = [host_up, *fams_by_name.values()]

    ep_up = declared("endpoint.up")
    for (ep, vantage), w in collector.endpoints.items():
        if w.last is not None:
            ep_up.add(1.0 if w.last.ok else 0.0, endpoint=ep, vantage=vantage)
    fams.append(ep_up)

    if ttfb is not None and ttfb.data:
        h = F("opsdash_http_ttfb_seconds", "histogram", "Time to first byte of endpoint requests, per vantage.")
        for (ep, vantage), counts in sorted(ttfb.data.items()):
            for i, b in enumerate(ttfb.buckets):
                h.add(counts[i], "_bucket", endpoint=ep, vantage=vantage, le=fmt(b))
            h.add(counts[-1], "_bucket", endpoint=ep, vantage=vantage, le="+Inf")
            h.add(counts[-2], "_sum", endpoint=ep, vantage=vantage)
            h.add(counts[-1], "_count", endpoint=ep, vantage=vantage)
        fams.append(h)

    # Every registered probe kind's metrics (kinds/base.Metric: name, help), per check and vantage.
    checks = collector.checks
    for kind in kinds():
        fam = {m.name: F(m.prom_name, "gauge", m.help or m.label) for m in kind.metrics}
        for (kname, target, _v), samples in sorted(checks.samples.items()):
            if kname != kind.name:
                continue
            for smp in samples:
                f = fam.get(smp.metric)
                if f is not None and smp.value == smp.value:
                    f.add(smp.value, check=target, **smp.labels)
        fams.extend(fam.values())

    src = F("opsdash_source_up", "gauge", "1 when the last poll of a Prometheus/Alertmanager source succeeded.")
    for r in source_rows(collector):
        if r["ok"] or r["error"]:
            src.add(1.0 if r["ok"] else 0.0, source=r["name"], kind=r["kind"])
    fams.append(src)

    polls = F("opsdash_polls_total", "counter", "Probe runs since the collector started, by probe kind.")
    failed = F("opsdash_polls_failed_total", "counter", "Probe runs that failed, by probe kind.")
    late = F("opsdash_polls_late_total", "counter", "Probe runs that started more than one interval late.")
    by_kind: dict[str, list[int]] = {}
    for j in collector.jobs:
        k = by_kind.setdefault(j.kind, [0, 0, 0])
        k[0] += j.polls
        k[1] += j.polls_failed
        k[2] += j.polls_late
    for kind, (n, nf, nl) in sorted(by_kind.items()):
        polls.add(n, kind=kind)
        failed.add(nf, kind=kind)
        late.add(nl, kind=kind)
    start = F("opsdash_collector_start_time_seconds", "gauge", "Unix time the collector started.")
    start.add(started)
    fams += [polls, failed, late, start]
    return "".join(f.text() for f in fams)


def parse_addr(addr: str) -> tuple[str, int]:
    """``127.0.0.1:9464``, ``[::1]:9464``, ``:9464`` (all interfaces) -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics-listen: expected host:port, like 127.0.0.1:9464, got {addr!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


async def serve_metrics(collector: Any, addr: str) -> asyncio.AbstractServer:
    """Start serving ``/metrics`` for ``collector`` on ``addr``; returns the server
    (``server.close(); await server.wait_closed()`` stops it)."""
    host, port = parse_addr(addr)
    ttfb = TTFBHistograms()
    collector.listeners.append(ttfb.listener)
    started = time.time()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            path = path.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, ctype, body = "405 Method Not Allowed", "text/plain; charset=utf-8", b"GET only\n"
            elif path == "/metrics":
                try:
                    text = render(collector, ttfb, started=started)
                    status, ctype, body = "200 OK", CONTENT_TYPE, text.encode()
                except Exception as e:  # a rendering bug must not kill the collector
                    status, ctype, body = "500 Internal Server Error", "text/plain; charset=utf-8", \
                        f"opsdash: cannot render metrics: {type(e).__name__}\n".encode()
            elif path == "/":
                status, ctype = "200 OK", "text/html; charset=utf-8"
                body = b'<html><body><a href="/metrics">opsdash metrics</a></body></html>\n'
            else:
                status, ctype, body = "404 Not Found", "text/plain; charset=utf-8", b"not found: try /metrics\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + (b"" if method == "HEAD" else body)
            )
            await asyncio.wait_for(writer.drain(), 10.0)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    return await asyncio.start_server(handle, host, port, reuse_address=True)
