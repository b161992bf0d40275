"""``[[sources]]`` as collector jobs: the ``Collector.extra_jobs`` factory.

Registration (one line in ``Collector.__init__``, after ``self.extra_jobs`` is set)::

    self.extra_jobs.append(source_jobs)

Each poll gets the collector as a :class:`~opsdash.collect.jobs.Sink` (what it
may read and write), so this module and the sources it runs never import the
collector: imports in collect/ point one way.

Each source is one job of kind ``"source"`` (target = the source's name) on the
source's own interval. A poll never raises past its own timeout: a source that
is down writes a ``latest`` row of kind ``source`` with its state and error,
and the rows it feeds say so too (see ``prom.py``).

Per-collector state lives here (weakly keyed by the sink), so ``opsdash
once`` can read what the sources found: ``source_alerts(collector)`` and
``source_endpoints(collector)``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from ..config import SourceConfig
from ..model import Alert, CacheRow, EndpointRow
from .alertmanager import AMState, poll_alertmanager
from .jobs import Job, Sink
from .prom import poll_prometheus

__all__ = ["PromState", "SourcesState", "source_alerts", "source_endpoints", "source_jobs", "state_of"]


@dataclass
class PromState:
    cfg: SourceConfig
    hosts: dict[str, str] = field(default_factory=dict)  # host row name -> instance
    instances: set[str] = field(default_factory=set)  # node_exporter instances seen
    shadowed: dict[str, str] = field(default_factory=dict)  # instance -> configured host whose SSH probe owns it
    endpoints: dict[str, EndpointRow] = field(default_factory=dict)  # endpoint name -> its row
    caches: dict[str, CacheRow] = field(default_factory=dict)
    ok: bool = False
    error: str | None = None
    last_ok: float | None = None


@dataclass
class SourcesState:
    prom: dict[str, PromState] = field(default_factory=dict)
    am: dict[str, AMState] = field(default_factory=dict)


_STATES: "weakref.WeakKeyDictionary[Sink, SourcesState]" = weakref.WeakKeyDictionary()


def state_of(collector: Sink) -> SourcesState:
    st = _STATES.get(collector)
    if st is None:
        st = _STATES[collector] = SourcesState()
    return st


def source_jobs(collector: Sink) -> list[Job]:
    """One job per ``[[sources]]`` entry."""
    st = state_of(collector)
    jobs = []
    for cfg in collector.config.sources:
        if cfg.kind == "prometheus":
            ps = st.prom.setdefault(cfg.name, PromState(cfg))
            fn = _bind(poll_prometheus, collector, cfg, ps)
        elif cfg.kind == "alertmanager":
            am = st.am.setdefault(cfg.name, AMState(cfg))
            fn = _bind(poll_alertmanager, collector, cfg, am)
        else:
            continue
        # The poll bounds itself by cfg.timeout (and reports a timeout as the source's
        # state); the job's own limit is only a backstop.
        jobs.append(Job("source", cfg.name, cfg.kind, cfg.interval, cfg.timeout * 2 + 5, fn))
    return jobs


def _bind(fn: Any, *args: Any) -> Any:
    return lambda: fn(*args)


def source_alerts(collector: Sink) -> list[Alert]:
    """Alertmanager alerts of the last poll (for ``opsdash once``, which has no store)."""
    return [a for am in state_of(collector).am.values() for a in am.alerts]


def source_endpoints(collector: Sink) -> list[dict[str, Any]]:
    """Endpoint rows fed by Prometheus sources (the Latency pane's shape, vantage = source name)."""
    return [row.to_json() for ps in state_of(collector).prom.values() for row in ps.endpoints.values()]


def source_rows(collector: Sink) -> list[dict[str, Any]]:
    """One status dict per source: name, kind, ok, error, last_ok."""
    st = state_of(collector)
    out = []
    for name, ps in st.prom.items():
        out.append({"name": name, "kind": "prometheus", "ok": ps.ok, "error": ps.error, "last_ok": ps.last_ok})
    for name, am in st.am.items():
        out.append({"name": name, "kind": "alertmanager", "ok": am.ok, "error": am.error, "last_ok": am.last_ok})
    return out
