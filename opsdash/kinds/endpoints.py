"""HTTP endpoints, timed from every vantage (collect/http.py): their metrics and built-in rules.

An endpoint's SLO (``slo = { availability, ttfb_p95_ms }``) is its own threshold on the
availability and p95 rules, as a check's own thresholds are for every kind. The
multi-window burn-rate alerts are declared here too: opsdash/sla.py computes their
metrics, these are what a rule may name and what fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Attached, BuiltinRule, Metric

__all__ = ["ATTACHED", "BURN_ALERTS", "BURN_METRICS", "BurnAlert", "METRICS", "RULES"]

@dataclass(frozen=True)
class BurnAlert:
    """One multi-window burn-rate alert (Google SRE workbook, chapter 5, table 5-8)."""

    rule: str
    long_s: float
    short_s: float
    factor: float
    severity: str  # critical: page; warning: ticket
    metric: str

    @property
    def windows(self) -> str:
        return f"{_span(self.long_s)} and {_span(self.short_s)}"


def _span(s: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{int(s // n)}{unit}"
    return f"{s:g}s"


BURN_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert("slo-burn-fast", 3600.0, 300.0, 14.4, "critical", "endpoint.burn_rate_1h_5m"),
    BurnAlert("slo-burn-medium", 6 * 3600.0, 1800.0, 6.0, "critical", "endpoint.burn_rate_6h_30m"),
    BurnAlert("slo-burn-slow", 3 * 86400.0, 6 * 3600.0, 1.0, "warning", "endpoint.burn_rate_3d_6h"),
)
BURN_METRICS: tuple[str, ...] = tuple(b.metric for b in BURN_ALERTS)

METRICS: tuple[Metric, ...] = (
    Metric("endpoint.up", "endpoint up", "bool", "1 when the endpoint's last request got an expected status.",
           ("up", "down")),
    Metric("endpoint.ttfb_ms", "TTFB", "ms", "Time to first byte of one request, milliseconds."),
    Metric("endpoint.ttfb_p50_ms", "p50", "ms", "TTFB median over the endpoint's window, milliseconds."),
    Metric("endpoint.ttfb_p95_ms", "p95", "ms", "TTFB 95th percentile over the endpoint's window, milliseconds."),
    Metric("endpoint.ttfb_p99_ms", "p99", "ms", "TTFB 99th percentile over the endpoint's window, milliseconds."),
    Metric("endpoint.error_rate", "error rate", "frac", "Share of failed requests over the window (0..1)."),
    Metric("endpoint.availability", "availability", "%", "Requests that succeeded over the window, percent."),
    *(Metric(b.metric, "burn rate " + b.windows.replace(" and ", "/"), "",
             f"Error-budget burn rate, the lower of the {b.windows} windows'.") for b in BURN_ALERTS),
)


def _slo_availability(ep: Any) -> tuple[float | None, float | None] | None:
    a = ep.slo.availability
    return (a, None) if a is not None else None


def _slo_p95(ep: Any) -> tuple[float | None, float | None] | None:
    """An SLO's p95 target warns; twice it (at least the built-in 800 ms) is critical."""
    p95 = ep.slo.ttfb_p95_ms
    return (p95, max(800.0, 2 * p95)) if p95 is not None else None


def _burn_rule(b: BurnAlert) -> BuiltinRule:
    """No `for`: the short window is the guard. The collector emits each pair's metric (the
    lower of the two windows' burn rates) only for endpoints with an availability SLO, so a
    threshold on it means "both windows burn faster than the factor"."""
    page = b.severity == "critical"
    return BuiltinRule(
        b.rule, b.metric, **({"crit": b.factor} if page else {"warn": b.factor}),
        description=f"error budget burning over {b.factor:g}x over {b.windows} ({'page' if page else 'ticket'})",
        summary="{target}: error budget burning %s over %s" % (f"{{value:.1f}}x (> {b.factor:g}x)", b.windows),
        runbook="the endpoint fails often enough to spend its error budget early: `opsdash sla` shows the "
                "budget left; find the failing vantage, then the failing dependency or the recent deploy")


RULES: tuple[BuiltinRule, ...] = (
    BuiltinRule("endpoint-down", "endpoint.up", op="<", crit=0.5, attempts=2, for_s=30,
                description="endpoint down from a vantage: no answer, or not an expected status, for 30 s",
                runbook="curl -sv the URL from the failing vantage: DNS, connect, TLS or status? then the load "
                        "balancer, the app's process and its log; the endpoint's error-rate, latency and SLO "
                        "alerts are inhibited while it is down"),
    BuiltinRule("ttfb-p95", "endpoint.ttfb_p95_ms", warn=400, crit=800, clear=300, for_s=120,
                keep_firing_for_s=300, flap=(20, 30), per_check=_slo_p95,
                description="TTFB p95 (warning: the usual 200 ms target doubled)",
                runbook="compare vantages; check the app's slow log, upstream latency, cache hit rate"),
    BuiltinRule("error-rate", "endpoint.error_rate", warn=0.01, crit=0.05, clear=0.005, for_s=120, flap=(20, 30),
                description="share of failed requests (0..1)",
                runbook="check the status codes in the access log, the app's error log and recent deploys"),
    BuiltinRule("availability-slo", "endpoint.availability", op="<", for_s=300, per_check=_slo_availability,
                tier={"warning": "L2", "critical": "L3"},
                description="availability below the endpoint's SLO (percent)",
                runbook="the error budget is burning: find the failing vantage, then the failing dependency"),
    *(_burn_rule(b) for b in BURN_ALERTS),
)

ATTACHED = Attached("endpoints", METRICS, RULES, checks=lambda cfg: cfg.endpoints)
