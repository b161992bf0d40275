"""What the collector schedules (``Job``) and what a source writes through (``Sink``).

The collector (collector.py) runs jobs; a job built outside it, such as a
``[[sources]]`` poll (sources.py -> prom.py, alertmanager.py), gets a ``Sink``:
the few things it may read and write, and nothing of the collector's insides.
So imports in collect/ point one way (collector -> sources -> prom/alertmanager
-> jobs), and the sources are tested against any object with these members.
``Collector`` is the Sink in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from ..config import Config, HostConfig
from ..model import Health, Sample
from ..store import Store

__all__ = ["HostRecord", "Job", "LatestRow", "Sink"]

# (kind, target, name, t, row, raw): one row of the store's ``latest`` table.
LatestRow = tuple[str, str, str, float, dict[str, Any], "str | None"]


@dataclass
class Job:
    """One probe of one target, on its own schedule."""

    kind: str  # health | http | source | a host kind's job (patches, cache, backup, restore ...) | a probe kind's
    target: str
    name: str
    interval: float
    timeout: float
    fn: Callable[[], Awaitable[None]]
    failures: int = 0
    polls: int = 0
    polls_failed: int = 0
    polls_late: int = 0
    next_due: float = 0.0  # loop time
    last_started: float = 0.0
    # Called when a run overstays ``timeout``: the probe's own "no result" row (probe kinds).
    on_timeout: Callable[[], None] | None = None
    on_host: bool = False  # a host kind's job: it runs on its target host (needs its connection)


class HostRecord(Protocol):
    """What a source may set on a host's status (``collector.HostStatus`` is one)."""

    cfg: HostConfig
    state: str
    error: str | None
    health: Health | None
    t: float | None


class Sink(Protocol):
    """What a source's poll may use of the collector that runs it."""

    config: Config
    store: Store | None  # None for ``opsdash once``; Alertmanager's alerts and silences are synced into it

    def clock(self) -> float:
        """Wall-clock time of this poll (the collector's injectable clock)."""
        ...

    def emit(self, samples: list[Sample], latest: list[LatestRow]) -> None:
        """Hand samples and latest rows to the writer (and the alert engine)."""
        ...

    def host(self, name: str) -> HostRecord | None:
        """The host row of that name, configured or added by a source; None when unknown."""
        ...

    def add_host(self, cfg: HostConfig) -> HostRecord:
        """A host a source found (a Prometheus target no [[hosts]] entry names), replacing one of that name."""
        ...

    def host_row(self, hs: HostRecord) -> dict[str, Any]:
        """The ``latest`` row of a host, as every probe writes it."""
        ...
