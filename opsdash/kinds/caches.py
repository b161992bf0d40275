"""Caches on a host (``[[hosts.caches]]``: redis, memcached, varnish, an nginx cache log):
the probe, its metrics and built-in rule.

Each cache is its own job on its host, every ``interval`` (else the host's). A poll reads
the cache's lifetime counters (kinds/cache_counters.py) and the hit rate is their deltas
over a recent window (kinds/cache_rate.py), kept in the job's memory: a restart of the
cache, or of the collector, starts a new window instead of a spike.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..model import CacheRow, Sample
from .base import (CRIT, LEVEL_STYLE, OK, UNKNOWN, WARN, BuiltinRule, HostContext, HostJob, HostKind, KeyChecker,
                   Metric, PaneView, Probed, ViewContext)
from .cache_counters import CacheConfig, read_counters
from .cache_rate import HitRateTracker
from .values import nonempty, one_of, positive_duration

KINDS = ("redis", "memcached", "varnish", "nginx-log")

__all__ = ["KIND", "METRICS", "RULES", "CacheConfig", "CacheKind"]

METRICS: tuple[Metric, ...] = (
    Metric("cache.hit_rate", "hit rate", "frac", "Cache hit ratio over the collector's window (0..1).",
           prom="opsdash_cache_hit_ratio"),
    Metric("cache.ops_per_s", "ops/s", "", "Cache lookups per second over the window."),
)

RULES: tuple[BuiltinRule, ...] = (
    BuiltinRule("cache-hit-rate", "cache.hit_rate", op="<", warn=0.8, crit=0.5, clear=0.85, for_s=600,
                description="cache hit rate falling (0..1)",
                runbook="evictions? a flush or restart? a deploy that changed cache keys? check memory limits"),
)



class CacheKind(HostKind):
    name = "cache"
    word = "caches"
    title = "Cache"
    label = "cache"
    key = "caches"
    metrics = METRICS
    rules = RULES
    row_type = CacheRow
    exports = ((METRICS[0].prom_name, METRICS[0].help),)
    pane = "cache"

    def export(self, row: Any, now: float) -> Iterable[tuple[str, float | None, Mapping[str, str]]]:
        if row.hit_rate is None:
            return ()
        return ((METRICS[0].prom_name, row.hit_rate, {"cache": row.name}),)

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[CacheConfig, ...]:
        out = []
        for i, c in enumerate(items):
            cp = f"{path}[{i}]"
            v = ck.table(c, cp, {
                "name": (nonempty, ck.REQUIRED),
                "kind": (one_of(*KINDS), ck.REQUIRED),
                "address": (nonempty, ""),
                "path": (nonempty, ""),
                "password_file": (nonempty, ""),
                "interval": (positive_duration, None),
            })
            if v["kind"] == "nginx-log" and not v["path"]:
                ck.problem(f"{cp}.path", "is required for kind nginx-log")
            if v["kind"] in ("redis", "memcached") and not v["address"]:
                ck.problem(f"{cp}.address", f'is required for kind {v["kind"]} (like "127.0.0.1:6379")')
            if v["name"] is not None and v["kind"] is not None:
                out.append(CacheConfig(**v))
        ck.unique([c for c in items if isinstance(c, dict)], path)
        return tuple(out)

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        return [HostJob("cache", c.name, c.interval or host.interval, host.timeout, c, grace=1.0)
                for c in host.caches]

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        cache: CacheConfig = job.check
        t = ctx.clock()
        tracker = ctx.memory.get("tracker")
        if tracker is None:
            tracker = ctx.memory["tracker"] = HitRateTracker(window_s=max(300.0, job.interval * 20))
        counters = await read_counters(ctx.runner, cache, timeout=job.budget, state=ctx.memory.setdefault("log", {}))
        tracker.add(t, counters)
        stats = tracker.stats(cache.name, cache.kind, t)
        labels = {"cache": cache.name}
        samples = []
        if stats.hit_rate is not None and stats.window_s is not None:
            samples.append(Sample(t, host.name, "cache.hit_rate", stats.hit_rate, labels))
        if stats.ops_per_s is not None:
            samples.append(Sample(t, host.name, "cache.ops_per_s", stats.ops_per_s, labels))
        return Probed(CacheRow(cache.name, cache.kind, t, job.interval, stats), samples)

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        return Probed(CacheRow(job.name, job.check.kind, t, job.interval, None, reason))

    def view(self, target: str, name: str, data: Mapping[str, Any], ctx: ViewContext) -> PaneView:
        row = CacheRow.from_json(data, name)
        hr = row.hit_rate
        labels = {"cache": name}
        lv_hr, st_hr = ctx.level("cache.hit_rate", hr, target, labels)
        if row.error:
            # A probe that could not read is unknown, as `once` says: no rule judged a value.
            # (The no-data rule fires when its series stop arriving.)
            level, word = UNKNOWN, "error"
        elif hr is None:
            level, word = UNKNOWN, "no data"
        else:
            level = lv_hr
            word = {OK: "ok", WARN: "low", CRIT: "LOW"}[level]
        cells = (
            (f"{target}/{name}", ""),
            (row.kind, "muted"),
            (f"{hr * 100:.0f}%" if hr is not None else "—", LEVEL_STYLE[level] if row.error else st_hr),
            (ctx.num(row.stats.ops_per_s if row.stats else None), ""),
            (ctx.spark(target, "cache.hit_rate", labels, 14, 0.0, 1.0), "spark"),
        )
        return PaneView(level, word, cells, (hr if hr is not None else 2, target, name),
                        (target, name, row.kind, "stale" if ctx.stale else "", row.error))

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        if not host.caches:
            return None
        out = []
        for c in host.caches:
            row = rows.get(c.name)
            if row is not None and row.stats is not None:
                out.append(row.stats.to_json())
            else:
                out.append({"name": c.name, "kind": c.kind, "hit_rate": None, "hits": None, "misses": None,
                            "window_s": None, "error": row.error if row is not None else None})
        return out


KIND = CacheKind()
