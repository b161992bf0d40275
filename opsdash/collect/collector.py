"""The collector: schedules every probe, keeps the latest readings, writes the store.

One asyncio task per job (a probe of one target). A job sleeps until it is
due, runs under its own timeout, and schedules its next run only after this
one finished, so polls of one target never overlap and a slow or hung host
delays nobody else. A failing job backs off exponentially with jitter.
Results go to a writer task that batches them into one store transaction
every half second, in a thread, so SQLite never blocks the event loop.
The alert engine's changes ride in the same transaction (``AlertWrites``);
a batch the store refuses (locked, disk full) is kept and written with the
next one, and the collector logs the outage once and the recovery once.

``run()`` first takes the store's collector lock (collector_lock.py): one
collector per store; a second one gets CollectorBusy naming the first's PID.

``Collector.run()`` runs until stopped (``opsdash collect``, the TUI's
embedded collector); ``Collector.snapshot_once()`` runs each probe once
(``opsdash once``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import resource
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from .. import gcpolicy
from ..collector_lock import CollectorLock
from ..config import Config, EndpointConfig, HostConfig
from ..errors import OpsdashError, ProbeError
from ..model import (
    HOST_ERROR,
    HOST_OK,
    HOST_TIMEOUT,
    CpuTimes,
    EndpointRow,
    Health,
    HostRow,
    HTTPResult,
    Sample,
)
from ..stats import percentile
from ..store import Store
from ..textsafe import redact_url
from ..parsers.curl import curl_command, parse_curl
from ..sla import burn_trackers
from ..kinds import tls as tls_kind
from ..kinds.registry import by_name as kind_by_name
from ..kinds.registry import host_kind, host_kinds
from ..kinds.sections import run_script
from .checks import CheckState, check_jobs, host_jobs
from .health import HealthReading, health_script, local_health, parse_health_output
from .http import EndpointWindow, HTTPProbe, http_result
from .jobs import HostRecord, Job, LatestRow
from . import resolve
from .runner import LocalRunner
from .sources import source_jobs
from .ssh import SSHHost

MAX_BACKOFF = 300.0
FLUSH_PERIOD = 0.5  # the writer commits a batch this often
WAKE_TICK = 1.0  # jobs (but HTTP probes) wake on a grid of loop time this fine at most, together (_sleep_until)
WAKE_BATCH = 16  # of them started per loop pass
MAX_HELD_SAMPLES = 500_000  # kept in memory while the store cannot be written (about 100 MB at most)

log = logging.getLogger("opsdash.collect")
logging.getLogger("opsdash").addHandler(logging.NullHandler())  # silent unless a command sets up logging


@dataclass
class HostStatus:
    """What we know of one host right now (the contract's host object)."""

    cfg: HostConfig
    state: str = "unknown"
    error: str | None = None
    health: Health | None = None
    cpu: CpuTimes | None = None
    t: float | None = None
    raw: str | None = None
    # The host kinds' last typed rows, by (kind, name): (cache, "sessions"), (patches, "").
    rows: dict[tuple[str, str], Any] = field(default_factory=dict)

    def row(self, kind: str, name: str = "") -> Any | None:
        """A host kind's last typed row here: row("backup", "nightly").status, row("patches").patches."""
        return self.rows.get((kind, name))

    def to_json(self, probes: set[str] | None = None) -> dict[str, Any]:
        cfg = self.cfg
        want = (lambda p: probes is None or p in probes)
        # "prometheus" is added at run time to hosts a Prometheus source feeds (collect/prom.py).
        has_health = any(p in cfg.probes for p in ("health", "local", "prometheus"))
        d: dict[str, Any] = {
            "name": cfg.name,
            "tags": dict(cfg.tags),
            "state": self.state,
            "error": self.error,
            "health": (self.health.to_json() if self.health else _NULL_HEALTH) if has_health and want("health") else None,
            "patches": None,
            "caches": None,
            "backups": None,
        }
        for kind in host_kinds():  # the host object's keys are the contract's (docs/contracts.md)
            if kind.word in d and want(kind.word):
                d[kind.word] = kind.once(cfg, {n: r for (k, n), r in self.rows.items() if k == kind.name})
        return d


_NULL_HEALTH = {k: None for k in ("cpu_percent", "mem_percent", "swap_percent", "load1", "load5", "load15", "cpus", "uptime_s", "disks")}


@dataclass
class PollStats:
    started: float = field(default_factory=time.monotonic)
    cpu_start: float = field(default_factory=lambda: time.process_time())
    lag_ms: list[float] = field(default_factory=list)

    def to_json(self, jobs: Iterable[Job], hosts: int) -> dict[str, Any]:
        jobs = list(jobs)
        lag = sorted(self.lag_ms)
        return {
            "duration_s": round(time.monotonic() - self.started, 3),
            "hosts": hosts,
            "polls": sum(j.polls for j in jobs),
            "polls_failed": sum(j.polls_failed for j in jobs),
            "polls_late": sum(j.polls_late for j in jobs),
            "loop_lag_ms": {
                "p50": round(percentile(lag, 50) or 0.0, 3),
                "p95": round(percentile(lag, 95) or 0.0, 3),
                "max": round(lag[-1] if lag else 0.0, 3),
            },
            "cpu_s": round(time.process_time() - self.cpu_start, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


class Collector:
    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.time,
        run_restore_tests: bool = True,
        alert_engine: Any = None,
        lock: CollectorLock | None = None,
        notifier: Any = None,
    ):
        self.config = config
        # notify.Notifier, from the caller like the engine: reconcile() after each write, run() as a task.
        self.notifier = notifier
        self.store = store
        self.lock = lock  # held by the caller (the TUI's thread); else run() takes its own
        self.clock = clock
        self.run_restore_tests = run_restore_tests
        self.engine = alert_engine
        if alert_engine is not None:
            alert_engine.use_tags(self.target_tags)  # rule `match` sees Prometheus labels too
            alert_engine.use_details(self.failure_detail)  # a failed restore test's summary says why
        if alert_engine is not None and store is not None:
            alert_engine.write_through = False  # its changes go with our batches, from the writer thread
        self._store_down_since: float | None = None  # monotonic; when writes started failing
        self._store_error_logged: str | None = None
        self._dropped = 0
        self.hosts: dict[str, HostStatus] = {h.name: HostStatus(h) for h in config.hosts}
        self._endpoint_tags = {e.name: e.tags for e in config.endpoints}
        self.endpoints: dict[tuple[str, str], EndpointWindow] = {
            (e.name, v): EndpointWindow(e.window) for e in config.endpoints for v in e.vantage
        }
        self._tls: dict[tuple[str, str], tls_kind.TLSStatus] = {}  # the last certificate check per (endpoint, vantage)
        self._burn = burn_trackers(config)  # endpoints with an availability SLO: burn-rate metrics (sla.py)
        self._ssh: dict[str, SSHHost] = {}
        self._http: HTTPProbe | None = None
        self.jobs: list[Job] = []
        self.stats = PollStats()
        self._pending: list[Sample] = []
        self._pending_latest: list[LatestRow] = []
        self._refresh: asyncio.Event | None = None
        self._slots: dict[float, list[asyncio.Future[bool]]] = {}  # wake-up time -> jobs waiting for it
        self._churn = gcpolicy.Churn()  # every SSHHost's connections: when to freeze them (gcpolicy.Settler)
        self._stop: asyncio.Event | None = None
        self.extra_jobs: list[Callable[["Collector"], list[Job]]] = []  # sources (Prometheus ...) plug in here
        if config.sources:
            self.extra_jobs.append(source_jobs)  # each gets this collector as its jobs.Sink
        self.checks = CheckState()  # the registered probe kinds' last rows (collect/checks.py)
        self.extra_jobs.append(check_jobs)
        self.listeners: list[Callable[[list[Sample]], None]] = []

    # --- connections ----------------------------------------------------------------

    def ssh(self, host: str) -> SSHHost:
        h = self._ssh.get(host)
        if h is None:
            cfg = self.hosts[host].cfg
            h = SSHHost(cfg, connect_limit=self._connect_limit, jump_host=self._jump_host, churn=self._churn)
            self._ssh[host] = h
        return h

    def _jump_host(self, name: str) -> SSHHost | None:
        return self.ssh(name) if name in self.hosts else None

    def runner(self, host: str) -> Any:
        cfg = self.hosts[host].cfg
        return LocalRunner(cfg.max_output) if cfg.is_local else self.ssh(host)

    async def _open(self) -> None:
        self._connect_limit = asyncio.Semaphore(self.config.settings.ssh_connect_concurrency)
        self._refresh = asyncio.Event()
        self._stop = asyncio.Event()
        if self.config.endpoints and self._http is None:
            self._http = HTTPProbe()
            await self._http.warm_up()

    async def close(self) -> None:
        await asyncio.gather(*(h.close() for h in self._ssh.values()), return_exceptions=True)
        self._ssh.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- probes: each turns a reading into state, samples and a latest row ---------

    async def poll_health(self, name: str) -> None:
        hs = self.hosts[name]
        cfg = hs.cfg
        t = self.clock()
        try:
            if cfg.is_local:
                reading: HealthReading = await asyncio.to_thread(local_health, hs.cpu)
                raw = None
            else:
                raw, rc = await self.ssh(name).shell_request(health_script(), cfg.timeout)
                reading = parse_health_output(raw, hs.cpu, rc)
        except ProbeError as e:
            hs.state, hs.error, hs.t = e.state, str(e), t
            self._emit([Sample(t, name, "host.up", 0.0)], [("host", name, "", t, self._host_row(hs), None)])
            raise
        hs.state, hs.t, hs.cpu, hs.health, hs.raw = HOST_OK, t, reading.cpu, reading.health, raw
        hs.error = reading.df_error
        self._emit(reading.health.samples(t, name), [("host", name, "", t, self._host_row(hs), raw)])

    def target_tags(self, target: str) -> Mapping[str, str]:
        """A target's tags as polled now: a host's config tags (with a Prometheus target's
        labels under them), then an endpoint's of the same name, as tags_from_config merges."""
        hs = self.hosts.get(target)
        ep = self._endpoint_tags.get(target)
        if ep is None:
            return hs.cfg.tags if hs is not None else {}
        return {**(hs.cfg.tags if hs is not None else {}), **ep}

    # --- what a source writes through (jobs.Sink) -------------------------------------

    def emit(self, samples: list[Sample], latest: list[LatestRow]) -> None:
        self._emit(samples, latest)

    def host(self, name: str) -> HostStatus | None:
        return self.hosts.get(name)

    def add_host(self, cfg: HostConfig) -> HostStatus:
        hs = self.hosts[cfg.name] = HostStatus(cfg)
        return hs

    def host_row(self, hs: HostRecord) -> dict[str, Any]:
        return self._host_row(hs)

    def _host_row(self, hs: HostRecord) -> dict[str, Any]:
        return HostRow(name=hs.cfg.name, state=hs.state, error=hs.error, health=hs.health, t=hs.t,
                       interval=hs.cfg.interval, tags=dict(hs.cfg.tags), probes=tuple(hs.cfg.probes)).to_json()

    def failure_detail(self, target: str, metric: str, labels: Mapping[str, str]) -> str | None:
        """Why a 0/1 series is bad, from the probe's last result (the engine's summaries)."""
        kind = metric.partition(".")[0]
        if kind_by_name(kind) is not None:  # a probe kind's row says why: "NXDOMAIN for shop.example.com"
            return self.checks.reason(kind, target, labels.get("vantage", "local"))
        hk = host_kind(kind)
        hs = self.hosts.get(target)
        if hk is None or hs is None:
            return None
        row = hs.rows.get((hk.name, labels.get(hk.label, "") if hk.label else ""))
        return hk.reason(row, metric) if row is not None else None  # a failed restore test's detail

    async def poll_endpoint(self, ep: EndpointConfig, vantage: str) -> None:
        if vantage == "local":
            assert self._http is not None
            req = self._http.probe(ep, self.clock())
        else:
            req = self._remote_http(ep, vantage)
        if _tls_checked(ep):
            # The certificate is checked beside the request, in the same time budget: a chain
            # that fails verification fails the request too, and the days must still show.
            r, st = await asyncio.gather(req, self._probe_tls(ep, vantage))
            if not ep.verify_tls:  # the user said not to trust the chain: no verdict on it, days and name still
                st = replace(st, verified=None)
            self._tls[(ep.name, vantage)] = st
            self._emit(st.samples(r.t, ep.name, {"vantage": vantage}), [])
        else:
            r = await req
        self.record_http(ep, r)
        if not r.ok:
            raise ProbeError(r.error or r.state, state=r.state)

    async def _probe_tls(self, ep: EndpointConfig, vantage: str) -> tls_kind.TLSStatus:
        """The certificate check of kinds/tls.py: asyncio TLS here, openssl through the one
        remote runner on a remote vantage."""
        parts = urlsplit(ep.url)
        host, port = parts.hostname or "", parts.port or 443
        if vantage == "local":
            try:
                addr = host if resolve.is_address(host) else (await resolve.getaddrinfo(host, port, ep.timeout))[0][4][0]
            except (OSError, resolve.ResolveError) as e:
                return tls_kind.failed(host, f"cannot resolve {host}: {getattr(e, 'strerror', None) or e}", ep.tls)
            ca = os.path.expanduser(ep.ca_file) if ep.ca_file else None
            return await tls_kind.probe_local(host, addr, port, ca_file=ca, timeout=ep.timeout,
                                              now=self.clock(), cfg=ep.tls)
        ca_pem = None
        if ep.ca_file:
            try:
                ca_pem = await asyncio.to_thread(Path(os.path.expanduser(ep.ca_file)).read_text)
            except (OSError, UnicodeDecodeError) as e:
                return tls_kind.failed(host, f"cannot read ca_file {ep.ca_file}: {getattr(e, 'strerror', None) or e}", ep.tls)
        try:
            sections = await run_script(self.runner(vantage), tls_kind.script(host, port, ca_pem=ca_pem), timeout=ep.timeout)
        except ProbeError as e:
            return tls_kind.failed(host, f"vantage {vantage}: {e}", ep.tls)
        return tls_kind.read(host, sections, now=self.clock(), cfg=ep.tls)

    async def _remote_http(self, ep: EndpointConfig, vantage: str) -> HTTPResult:
        t = self.clock()
        try:
            # The URL, its credentials and the headers go on stdin, never on the vantage's command line (ps).
            ca_pem = None
            if ep.ca_file and ep.verify_tls:  # the private CA travels with the request (parsers/curl.py)
                try:
                    ca_pem = await asyncio.to_thread(Path(os.path.expanduser(ep.ca_file)).read_text)
                except (OSError, UnicodeDecodeError) as e:
                    return http_result(ep, vantage, t, ok=False, status=None, phases=None, cache=None, state="error",
                                       error=f"cannot read ca_file {ep.ca_file}: {getattr(e, 'strerror', None) or e}")
            curl = curl_command(ep.url, timeout=ep.timeout, verify_tls=ep.verify_tls, method=ep.method, headers=ep.headers,
                                ca_pem=ca_pem)
            res = await self.ssh(vantage).run(curl.command, timeout=ep.timeout + 5, input=curl.stdin)
            c = parse_curl(res.stdout, rc=res.rc)
        except ProbeError as e:
            return http_result(ep, vantage, t, ok=False, status=None, phases=None, cache=None,
                               error=f"vantage {vantage}: {e}", state=e.state)
        ok = c.error is None and c.status in ep.expect_status
        state = "ok" if ok else (c.state if c.error else "bad-status")
        err = c.error or (None if ok else f"status {c.status}, expected {', '.join(map(str, ep.expect_status))}")
        return http_result(ep, vantage, t, ok=ok, status=c.status, phases=c.phases, cache=c.cache, error=err, state=state)

    def record_http(self, ep: EndpointConfig, r: HTTPResult) -> None:
        w = self.endpoints[(ep.name, r.vantage)]
        w.add(r)
        s = w.summary(r.t)
        labels = {"vantage": r.vantage}
        samples = [Sample(r.t, ep.name, "endpoint.up", 1.0 if r.ok else 0.0, labels)]
        if r.ok and r.ttfb_ms is not None:
            samples.append(Sample(r.t, ep.name, "endpoint.ttfb_ms", r.ttfb_ms, labels))
        for key, metric in (("p50_ms", "endpoint.ttfb_p50_ms"), ("p95_ms", "endpoint.ttfb_p95_ms"),
                            ("p99_ms", "endpoint.ttfb_p99_ms"), ("error_rate", "endpoint.error_rate"),
                            ("availability", "endpoint.availability")):
            if s[key] is not None:
                samples.append(Sample(r.t, ep.name, metric, s[key], labels))
        burn = self._burn.get(ep.name)
        if burn is not None:  # the endpoint's budget, all vantages together: no vantage label
            burn.add(r.vantage, r.t, r.ok)
            samples.extend(Sample(r.t, ep.name, m, v) for m, v in burn.rates(r.t).items())
        self._emit(samples, [("endpoint", ep.name, r.vantage, r.t, self.endpoint_json(ep, r.vantage), None)])

    def endpoint_json(self, ep: EndpointConfig, vantage: str) -> dict[str, Any]:
        w = self.endpoints[(ep.name, vantage)]
        r = w.last
        s = w.summary(r.t if r else self.clock())
        tls = self._tls.get((ep.name, vantage))
        return EndpointRow(
            name=ep.name, vantage=vantage, state=r.state if r else "unknown", t=r.t if r else None,
            interval=ep.interval, url=redact_url(ep.url), status=r.status if r else None,
            ttfb_ms=r.ttfb_ms if r else None, phases=r.phases if r else None, samples=s["samples"],
            p50_ms=s["p50_ms"], p95_ms=s["p95_ms"], p99_ms=s["p99_ms"], error_rate=s["error_rate"],
            availability=s["availability"], cache=r.cache if r else None, error=r.error if r else None,
            slo_availability=ep.slo.availability, slo_ttfb_p95_ms=ep.slo.ttfb_p95_ms,
            tls=tls.to_json() if tls is not None else None,
        ).to_json()

    # --- results ---------------------------------------------------------------------

    def _emit(self, samples: list[Sample], latest: list[LatestRow]) -> None:
        self._pending.extend(samples)
        self._pending_latest.extend(latest)
        if self.engine is not None and samples:
            try:
                self.engine.observe(samples)
            except OpsdashError as e:  # a store problem must not stop polling
                self.last_error = str(e)
        for cb in self.listeners:
            cb(samples)

    async def flush(self, heartbeat: tuple[int, float, float, dict[str, Any]] | None = None) -> bool:
        """Commit what was polled and what the alert engine changed, in one transaction,
        with the ``heartbeat`` (pid, started, now, stats) when given: one thread hop and one
        commit per batch. Refused (disk full, locked, corrupt): keep it all, say so once,
        retry next time. False when the store refused it."""
        engine = self.engine if self.store is not None else None
        if not self._pending and not self._pending_latest and not (engine is not None and engine.unwritten):
            if heartbeat is None or self.store is None:
                return True
            try:
                await asyncio.to_thread(self.store.heartbeat, *heartbeat)
            except OpsdashError as e:
                self._store_error(str(e))
                return False
            self._store_back()
            return True
        samples, latest = self._pending, self._pending_latest
        self._pending, self._pending_latest = [], []
        alerts = engine.take_writes() if engine is not None else None
        if self.store is None:
            return True
        try:
            await asyncio.to_thread(self.store.write_poll, samples, latest, alerts, heartbeat)
        except OpsdashError as e:
            self._store_failed(str(e), samples, latest, alerts)
            return False
        self.last_error = None
        self._store_back(f"; wrote the {len(samples)} samples and {len(alerts or ())} alert changes held meanwhile")
        if alerts is not None:
            _log_alert_events(alerts.events)
        return True

    def _store_back(self, detail: str = "") -> None:
        if self._store_down_since is None:
            return
        down = time.monotonic() - self._store_down_since
        lost = f"; dropped the oldest {self._dropped} samples" if self._dropped else ""
        log.info("store: writable again after %.0fs%s%s", down, detail, lost)
        self._store_down_since, self._store_error_logged, self._dropped = None, None, 0

    def _store_error(self, error: str) -> None:
        """Any write refused (data or heartbeat): one log line per outage and per change of cause."""
        self.last_error = error
        if self._store_down_since is None:
            self._store_down_since = time.monotonic()
        if error != self._store_error_logged:
            self._store_error_logged = error
            held = self.engine.unwritten if self.engine is not None else 0
            log.error("store: cannot write: %s; keeping %d samples and %d alert changes in memory, "
                      "retrying every %gs", error, len(self._pending), held, FLUSH_PERIOD)

    def _store_failed(self, error: str, samples: list[Sample], latest: list[LatestRow], alerts: Any) -> None:
        keep = samples[-MAX_HELD_SAMPLES:]
        self._dropped += len(samples) - len(keep)
        self._pending[:0] = keep
        # Only the newest latest row per thing matters: a long outage does not grow this.
        newest = {(k, tg, n): row for row in latest + self._pending_latest for k, tg, n, *_ in [row]}
        self._pending_latest = list(newest.values())
        if alerts is not None and self.engine is not None:
            self.engine.put_back(alerts, error)
        self._store_error(error)

    last_error: str | None = None

    # --- scheduling ------------------------------------------------------------------

    def build_jobs(self, *, probes: set[str] | None = None, restore_tests: bool | None = None) -> list[Job]:
        want = (lambda p: probes is None or p in probes)
        restore_tests = self.run_restore_tests if restore_tests is None else restore_tests
        jobs: list[Job] = []
        for hs in self.hosts.values():
            h = hs.cfg
            if want("health") and ("health" in h.probes or "local" in h.probes):
                jobs.append(Job("health", h.name, "", h.interval, h.timeout + 1, _bind(self.poll_health, h.name)))
        jobs.extend(host_jobs(self, want, restore_tests))  # caches, patches, backups, security ...
        if want("http"):
            for e in self.config.endpoints:
                if e.source is not None:
                    continue  # quantiles come from a Prometheus source
                for v in e.vantage:
                    jobs.append(Job("http", e.name, v, e.interval, e.timeout + 6, _bind(self.poll_endpoint, e, v)))
        for extra in self.extra_jobs:
            # A probe kind's jobs (kind = its name) only when asked for; sources always.
            jobs.extend(j for j in extra(self) if probes is None or kind_by_name(j.kind) is None or j.kind in probes)
        return jobs

    async def _run_job(self, job: Job) -> bool:
        job.polls += 1
        try:
            # In this task, not wait_for's inner one: a probe that fails just as the
            # collector stops then has nobody to report to ("exception never retrieved").
            async with asyncio.timeout(job.timeout):
                await job.fn()
            return True
        except asyncio.TimeoutError:
            job.polls_failed += 1
            if job.on_timeout is not None:
                job.on_timeout()
            if job.kind == "health":
                hs = self.hosts[job.target]
                t = self.clock()
                hs.state, hs.error, hs.t = HOST_TIMEOUT, f"no reply within {job.timeout - 1:g}s", t
                self._emit([Sample(t, job.target, "host.up", 0.0)], [("host", job.target, "", t, self._host_row(hs), None)])
            return False
        except OpsdashError:
            job.polls_failed += 1
            return False
        except Exception as e:  # a bug in one probe must not kill the collector
            job.polls_failed += 1
            if job.kind == "health":
                hs = self.hosts[job.target]
                hs.state, hs.error = HOST_ERROR, f"internal error: {type(e).__name__}: {e}"
            return False

    async def _job_loop(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        assert self._stop is not None and self._refresh is not None
        # Spread first polls over the first interval (at most 5 s) so 500 hosts don't start at once.
        job.next_due = loop.time() + random.uniform(0, min(job.interval, 5.0))
        backing_off = False
        while not self._stop.is_set():
            delay = job.next_due - loop.time()
            if delay > 0:
                if await self._sleep_until(job.next_due, _grid(job)):
                    job.next_due = loop.time()  # refresh now: run at once, not late
                if self._stop.is_set():
                    return
            gate = self._connect_gate(job)
            if gate is not None and not gate.connected:
                # The host's connection is being opened, or waits for a connect slot behind
                # others (5000 hosts at start-up): the poll and its deadline start when that
                # attempt is over, and the schedule with it. A failed attempt fails the poll.
                await gate.ready()
                if self._stop.is_set():
                    return
                job.next_due = max(job.next_due, loop.time())
            started = loop.time()
            if not backing_off and started - job.next_due > job.interval:
                job.polls_late += 1
            job.last_started = started
            ok = await self._run_job(job)
            now = loop.time()
            if ok:
                job.failures, backing_off = 0, False
                job.next_due += job.interval
                if job.next_due < now:  # we overran: skip missed slots rather than burst
                    job.next_due = now + random.uniform(0, min(job.interval, 1.0) * 0.1)
            else:
                job.failures += 1
                backing_off = job.failures > 1
                if job.failures == 1:
                    job.next_due = max(job.next_due + job.interval, now)  # one miss: keep the schedule
                else:
                    back = min(job.interval * 2 ** (job.failures - 1), max(MAX_BACKOFF, job.interval))
                    job.next_due = now + back * random.uniform(0.8, 1.2)

    def _connect_gate(self, job: Job) -> SSHHost | None:
        """The SSH host whose connection a job's poll needs first, if it needs one."""
        host = job.name if job.kind == "http" else job.target
        if not (job.kind in ("health", "http") or job.on_host) or (job.kind == "http" and host == "local"):
            return None
        hs = self.hosts.get(host)
        return None if hs is None or hs.cfg.is_local else self.ssh(host)

    async def _sleep_until(self, when: float, grid: float = 0.0) -> bool:
        """Sleep until loop time ``when``, rounded up to a multiple of ``grid`` if given;
        True if refresh_now() woke us first.

        Jobs due at the same grid point wake together, on one timer: their requests leave
        in one loop pass and their replies come back close together, so the process wakes
        once for many polls. A poll that wakes the process alone costs it about three times
        the CPU (bench/wake_cost.py: 744 vs 259 us): the interpreter starts from cold
        caches each time. An interval that is a multiple of the grid keeps its period
        exactly; only its phase moves."""
        loop = asyncio.get_running_loop()
        if grid > 0:
            when = math.ceil(when / grid) * grid
        waiters = self._slots.get(when)
        if waiters is None:
            waiters = self._slots[when] = []
            loop.call_at(when, self._wake_slot, when)
        fut: asyncio.Future[bool] = loop.create_future()
        waiters.append(fut)
        return await fut

    def _wake_slot(self, when: float) -> None:
        self._wake_some(self._slots.pop(when, []))

    def _wake_some(self, waiters: list[asyncio.Future[bool]]) -> None:
        # WAKE_BATCH jobs per loop pass, the rest in the next ones: a pass that starts a
        # hundred polls would hold the loop (and the lag) for all of them.
        for fut in waiters[:WAKE_BATCH]:
            _wake(fut, False)
        if len(waiters) > WAKE_BATCH:
            asyncio.get_running_loop().call_soon(self._wake_some, waiters[WAKE_BATCH:])

    async def _lag_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._stop is not None
        # New connections frozen as they come (every 50: a pass of ~10 ms), so no full GC pass
        # over all of them (a second at 5000 hosts) ever stalls the loop; see gcpolicy.
        settler = gcpolicy.Settler(self._churn)
        while not self._stop.is_set():
            t = loop.time()
            settler.tick()  # inside the measured span: its pass is loop lag like any other
            await asyncio.sleep(0.1)
            lag = (loop.time() - t - 0.1) * 1000
            self.stats.lag_ms.append(max(0.0, lag))
            if len(self.stats.lag_ms) > 100000:
                del self.stats.lag_ms[:50000]

    async def _writer(self) -> None:
        assert self._stop is not None
        last_prune = 0.0
        pid, started = os.getpid(), self.clock()
        while True:
            stopping = self._stop.is_set()
            now = self.clock()
            if self.engine is not None:
                try:
                    self.engine.tick(now)  # memory only: its changes go with this flush
                except OpsdashError as e:
                    self.last_error = str(e)
            # The heartbeat rides in the batch's transaction (alone when nothing was polled: it
            # is what finds the store writable again). Written only if the store took it, so a
            # store error of ours is over by then and not reported in it.
            beat = None
            if self.store is not None:
                error = None if self._store_down_since is not None else self.last_error
                beat = (pid, started, now, self.stats.to_json(self.jobs, len(self.hosts)) | {"error": error})
            # After a refused flush nothing else is tried: another busy wait on a locked store gains nothing.
            wrote = await self.flush(heartbeat=beat)
            if self.notifier is not None and wrote and self._store_down_since is None:
                try:  # what each [[notify]] target should be told, enqueued in the store's outbox
                    await asyncio.to_thread(self.notifier.reconcile, now)
                except OpsdashError as e:
                    self.last_error = str(e)
            if self.store is not None and wrote and now - last_prune > 3600:
                try:
                    await asyncio.to_thread(self.store.prune, now, self.config.settings.retention)
                    last_prune = now
                except OpsdashError as e:
                    self._store_error(str(e))
            if stopping:
                return
            # On the jobs' grid: a flush wakes the process with the polls, not on its own.
            # stop() sets _stop, then wakes every sleeper: checked here, no await between.
            if not self._stop.is_set():
                await self._sleep_until(asyncio.get_running_loop().time() + FLUSH_PERIOD, FLUSH_PERIOD)

    def refresh_now(self) -> None:
        """Wake every job now (the `r` key)."""
        if self._refresh is not None:
            old, self._refresh = self._refresh, asyncio.Event()
            old.set()
        for waiters in self._slots.values():
            for fut in waiters:
                _wake(fut, True)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self.refresh_now()

    async def run(self, duration: float | None = None) -> dict[str, Any]:
        """Poll until ``stop()`` (or ``duration`` seconds); finish the current write; return poll stats.

        Raises CollectorBusy at once when another collector holds the store's lock."""
        own_lock = None
        if self.store is not None and self.lock is None:
            own_lock = self.lock = CollectorLock(self.store.path).acquire()
        try:
            return await self._run(duration)
        finally:
            if own_lock is not None:
                own_lock.release()
                self.lock = None

    async def _run(self, duration: float | None) -> dict[str, Any]:
        await self._open()
        assert self._stop is not None
        if self.store is not None:
            # Things no longer in the config leave the panes (sources re-add what they find).
            hosts = set(self.hosts)
            await asyncio.to_thread(self.store.retain_latest, {
                "host": hosts, "patches": hosts, "security": hosts, "cache": hosts, "backup": hosts,
                "endpoint": {e.name for e in self.config.endpoints},
                "source": {s.name for s in self.config.sources},
            })
        self.jobs = self.build_jobs()
        self.stats = PollStats()
        # A full GC pass over a large heap would stall every poll at once (see gcpolicy).
        with gcpolicy.held():
            tasks = [asyncio.create_task(self._job_loop(j), name=f"{j.kind}:{j.target}:{j.name}") for j in self.jobs]
            tasks.append(asyncio.create_task(self._lag_monitor()))
            if self.notifier is not None:
                tasks.append(asyncio.create_task(self.notifier.run(self._stop), name="notify"))
            writer = asyncio.create_task(self._writer())
            try:
                if duration is not None:
                    try:
                        await asyncio.wait_for(self._stop.wait(), duration)
                    except asyncio.TimeoutError:
                        pass
                else:
                    await self._stop.wait()
            finally:
                self._stop.set()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await writer  # the last write completes: nothing polled is lost
                stats = self.stats.to_json(self.jobs, len(self.hosts))
                await self.close()
        return stats

    async def snapshot_once(
        self, *, probes: set[str] | None = None, http_samples: int = 1, restore_tests: bool = False
    ) -> None:
        """Run every selected probe once (HTTP ``http_samples`` times), concurrently across targets.

        On one host, health runs first and the rest after it: CPU % measured while our
        own ``apt-get``/``restic`` runs there would report the probe, not the host."""
        await self._open()
        self.jobs = self.build_jobs(probes=probes, restore_tests=restore_tests)

        async def one(job: Job) -> None:
            if job.kind == "http":
                for _ in range(max(1, http_samples)):
                    await self._run_job(job)
            elif job.kind == "health":
                # CPU % needs two readings: the first gives the since-boot average.
                if await self._run_job(job) and self.hosts[job.target].cpu is not None:
                    await asyncio.sleep(0.5)
                    await self._run_job(job)
            else:
                await self._run_job(job)

        by_host: dict[str, list[Job]] = {}
        for j in self.jobs:
            if j.kind == "health" or j.on_host:
                by_host.setdefault(j.target, []).append(j)

        async def host(jobs: list[Job]) -> None:
            for j in jobs:
                if j.kind == "health":
                    await one(j)
            await asyncio.gather(*(one(j) for j in jobs if j.kind != "health"))

        try:
            await asyncio.gather(*(host(js) for js in by_host.values()),
                                 *(one(j) for j in self.jobs if not (j.kind == "health" or j.on_host)))
            await self.flush()
        finally:
            await self.close()


def _tls_checked(ep: EndpointConfig) -> bool:
    return ep.tls.enabled and ep.url.lower().startswith("https://")


def _grid(job: Job) -> float:
    """The wake grid of a job: WAKE_TICK halved until it is at most half the job's interval
    (the grids nest, so jobs of different intervals still meet). HTTP probes keep their
    exact times: a burst of polls beside them would sit in their TTFB."""
    if job.kind == "http":
        return 0.0
    g = WAKE_TICK
    while g > job.interval / 2 and g > 1 / 64:
        g /= 2
    return g




def _wake(fut: "asyncio.Future[bool]", refreshed: bool) -> None:
    if not fut.done():
        fut.set_result(refreshed)


def _bind(fn: Callable[..., Awaitable[None]], *args: Any, **kwargs: Any) -> Callable[[], Awaitable[None]]:
    return lambda: fn(*args, **kwargs)


def _log_alert_events(events: Iterable[Any]) -> None:
    """One line per alert that fires (pages, or says why not) or resolves, once it is in the store."""
    for ev in events:
        what = f"{ev.rule} on {ev.target} ({ev.severity}, id {ev.alert_id}): {ev.reason}"
        if ev.to_state == "firing" and (ev.from_state != "firing" or ev.notify):
            if ev.notify:
                log.warning("page: %s", what)
            else:
                why = "flapping" if ev.flapping else "inhibited" if ev.inhibited else "acked or silenced"
                log.warning("firing, not paged (%s): %s", why, what)
        elif ev.to_state == "resolved":
            log.info("resolved: %s", what)


class CollectorThread:
    """The TUI's embedded collector: its own event loop in a thread, so polling never
    competes with the UI's loop, and the UI reads the same store any collector writes.

    ``start()`` takes the store's collector lock first, in the caller's thread: when
    another collector holds it, nothing starts, ``busy`` names the holder, and the
    TUI just reads (and may try again later: a viewer takes over)."""

    def __init__(
        self,
        config: Config,
        store_path: str | os.PathLike[str],
        engine_factory: Callable[[Store], Any] | None = None,
        notifier_factory: Callable[[Store], Any] | None = None,
        **kwargs: Any,
    ):
        self.config = config
        self.engine_factory = engine_factory  # the alert engine, from the caller (collect/ never imports alerts/)
        self.notifier_factory = notifier_factory  # likewise the notifier (opsdash/notify)
        self.store_path = Path(store_path)
        self.kwargs = kwargs
        self.collector: Collector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.busy: str | None = None  # why it did not start: another collector holds the lock
        self.lock = CollectorLock(self.store_path)
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start polling if no other collector writes the store; False (``busy`` says why) if one does."""
        try:
            self.lock.acquire()
        except OpsdashError as e:
            self.busy = str(e)
            return False
        self.busy = None
        self._thread = threading.Thread(target=self._main, name="opsdash-collector", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return True

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            store = Store(self.store_path)
            engine = self.engine_factory(store) if self.engine_factory is not None else None
            notifier = self.notifier_factory(store) if self.notifier_factory is not None else None
        except OpsdashError as e:
            self.error = str(e)
            self._ready.set()
            self.lock.release()
            loop.close()
            return
        self.collector = Collector(self.config, store, alert_engine=engine, lock=self.lock, notifier=notifier,
                                   **self.kwargs)
        self._ready.set()
        try:
            loop.run_until_complete(self.collector.run())
        except Exception as e:  # reported in the header, never a crash of the UI
            self.error = f"collector stopped: {type(e).__name__}: {e}"
        finally:
            store.close()
            loop.close()
            self.lock.release()  # another viewer may take over now

    def refresh_now(self) -> None:
        if self._loop is not None and self.collector is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.collector.refresh_now)

    def stop(self, timeout: float = 2.0) -> None:
        if self._loop is not None and self.collector is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self.collector.stop)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
