"""Caches on a host (redis, memcached, varnish, an nginx cache log; collect/caches.py reads
their counters): their metrics and built-in rule."""

from __future__ import annotations

from .base import Attached, BuiltinRule, Metric

__all__ = ["ATTACHED", "METRICS", "RULES"]

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

ATTACHED = Attached("caches", METRICS, RULES)
