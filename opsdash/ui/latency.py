"""Latency: one row per endpoint x vantage. TTFB p50/p95/p99 (ms), availability vs SLO, error rate, trend."""

from .pane import Pane


class LatencyPane(Pane):
    pane_id = "latency"
    empty_text = "no endpoints yet (endpoints come from [[endpoints]] in the config)"
