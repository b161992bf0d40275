"""The collector's side of the registered probe kinds (opsdash/kinds/registry.py).

Host kinds (kinds/base.HostKind: caches, patches, backups, security) get the jobs
they ask for on every host; each poll gets a ``HostJobContext`` (the host's one
remote runner, the job's memory, the host's other rows) and its row is kept on
the host (``HostStatus.rows``) and written to the store. A poll the host or the
channel failed writes the kind's ``failed`` row, then counts as failed.

[[section]] kinds: one job per (check, vantage) of every kind; each run calls the kind's ``probe``
with a ``KindContext`` (the one remote runner, the clock, the previous row) and
writes what it returns: samples, and the latest row (kind, check name, vantage).
A probe that cannot run at all (vantage unreachable, timeout, a bug) writes the
kind's ``failed`` row, so the pane shows why and the up-metric's rule fires.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..errors import OpsdashError, ProbeError
from ..kinds.base import HostJob, HostKind, Kind, Probed
from ..kinds.registry import host_kinds, kinds
from ..kinds.sections import run_script
from ..model import Sample
from .jobs import Job, LatestRow
from .runner import LocalRunner

__all__ = ["CheckState", "HostJobContext", "KindContext", "check_jobs", "host_jobs"]


class _Owner(Protocol):
    config: Any
    store: Any
    hosts: Mapping[str, Any]
    checks: "CheckState"

    def clock(self) -> float: ...

    def runner(self, host: str) -> Any: ...

    def emit(self, samples: list[Sample], latest: list[LatestRow]) -> None: ...


@dataclass
class CheckState:
    """The last row and samples of every (kind, check, vantage): for metrics out, the
    alert summaries (``reason``) and the next probe's ``previous``."""

    rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    samples: dict[tuple[str, str, str], list[Sample]] = field(default_factory=dict)

    def reason(self, kind: str, target: str, vantage: str) -> str | None:
        row = self.rows.get((kind, target, vantage))
        return str(row["reason"]) if row and not row.get("ok", True) and row.get("reason") else None


class KindContext:
    """kinds/base.ProbeContext over a collector."""

    def __init__(self, owner: _Owner):
        self._owner = owner
        self._local = LocalRunner()
        self._warm: dict[str, asyncio.Future[None]] = {}

    async def warm(self, kind: Kind) -> None:
        """kind.warm() in a thread, once: every first probe of the kind waits for the same one."""
        fut = self._warm.get(kind.name)
        if fut is None:
            fut = self._warm[kind.name] = asyncio.ensure_future(asyncio.to_thread(kind.warm))
        if fut.done():  # every poll after the first: no await, no new future
            fut.result()
        else:
            await asyncio.shield(fut)

    def clock(self) -> float:
        return self._owner.clock()

    def _runner(self, vantage: str) -> Any:
        if vantage in self._owner.hosts:
            return self._owner.runner(vantage)
        return self._local  # "local": this machine, through the same wrapper

    async def run_script(self, vantage: str, body: str, timeout: float) -> Mapping[str, Any]:
        return await run_script(self._runner(vantage), body, timeout=timeout)

    async def previous(self, kind: str, target: str, name: str) -> dict[str, Any] | None:
        row = self._owner.checks.rows.get((kind, target, name))
        if row is not None:
            return row
        return await _stored(self._owner.store, kind, target, name)

    async def read_file(self, path: str, max_bytes: int = 65536) -> bytes:
        def read() -> bytes:
            with open(path, "rb") as f:
                return f.read(max_bytes)
        return await asyncio.to_thread(read)


async def poll_check(owner: _Owner, ctx: KindContext, kind: Kind, check: Any, vantage: str) -> None:
    await ctx.warm(kind)
    t = owner.clock()
    try:
        row = await kind.probe(check, vantage, ctx)
        failed = None
    except asyncio.CancelledError:
        raise
    except OpsdashError as e:
        row, failed = kind.failed(check, vantage, str(e), t), e
    _record(owner, kind, check, vantage, row, t)
    if failed is not None:
        raise failed  # counted as a failed poll; the row already says why


def record_timeout(owner: _Owner, kind: Kind, check: Any, vantage: str, timeout: float) -> None:
    t = owner.clock()
    _record(owner, kind, check, vantage, kind.failed(check, vantage, f"no result within {timeout:g}s", t), t)


def _record(owner: _Owner, kind: Kind, check: Any, vantage: str, row: Any, t: float) -> None:
    labels = kind.labels(check, vantage)
    data = {**row.to_json(), "t": t, "interval": check.interval, "vantage": vantage}
    samples = row.samples(t, check.name, labels)
    key = (kind.name, check.name, vantage)
    owner.checks.rows[key] = data
    owner.checks.samples[key] = samples
    owner.emit(samples, [(kind.name, check.name, vantage, t, data, None)])


def check_jobs(owner: _Owner) -> list[Job]:
    """One job per (check, vantage) of every registered kind with checks in the config."""
    ctx = KindContext(owner)
    jobs: list[Job] = []
    for kind in kinds():
        for check in owner.config.checks.get(kind.name, ()):
            for v in kind.vantages(check):
                jobs.append(Job(kind.name, check.name, v, check.interval, check.timeout + 5,
                                _bind(poll_check, owner, ctx, kind, check, v),
                                on_timeout=_bind(record_timeout, owner, kind, check, v, check.timeout + 5)))
    return jobs


# --- host kinds -----------------------------------------------------------------------------

class HostJobContext:
    """kinds/base.HostContext for one job of a host kind."""

    def __init__(self, owner: _Owner, host: str):
        self._owner = owner
        self.host = host
        self.memory: dict[str, Any] = {}

    @property
    def runner(self) -> Any:
        return self._owner.runner(self.host)

    def clock(self) -> float:
        return self._owner.clock()

    async def run_script(self, body: str, timeout: float) -> Mapping[str, Any]:
        return await run_script(self.runner, body, timeout=timeout)

    def row(self, kind: str, name: str = "") -> Any | None:
        return self._owner.hosts[self.host].rows.get((kind, name))

    async def stored(self, kind: str, name: str = "") -> dict[str, Any] | None:
        return await _stored(self._owner.store, kind, self.host, name)


async def _stored(store: Any, kind: str, target: str, name: str) -> dict[str, Any] | None:
    """The data of the store's latest (kind, target, name) row, read off the loop; None without one."""
    if store is None:
        return None
    rows = await asyncio.to_thread(store.latest, kind, target, raw=False)
    return next((r["data"] for r in rows if r["name"] == name and isinstance(r.get("data"), dict)), None)


async def poll_host(owner: _Owner, kind: HostKind, host: str, job: HostJob, ctx: HostJobContext) -> None:
    cfg = owner.hosts[host].cfg
    t = owner.clock()
    try:
        got = await kind.poll(cfg, job, ctx)
    except ProbeError as e:
        _write(owner, kind, host, job, kind.failed(cfg, job, str(e), t, ctx))
        raise
    _write(owner, kind, host, job, got)
    if got.error:
        raise ProbeError(got.error)  # its row says why; the poll counts as failed (backoff)


def record_host_timeout(owner: _Owner, kind: HostKind, host: str, job: HostJob, ctx: HostJobContext) -> None:
    """The collector's deadline passed (the probe ignored its budget, or the host hung past
    the runner's own timeout): the kind's failed row says so, as for a host that failed."""
    cfg = owner.hosts[host].cfg
    _write(owner, kind, host, job, kind.failed(cfg, job, f"no result within {job.budget + job.grace:g}s",
                                               owner.clock(), ctx))


def _write(owner: _Owner, kind: HostKind, host: str, job: HostJob, got: Probed) -> None:
    owner.hosts[host].rows[(kind.name, job.name)] = got.row
    row = got.row.to_json()
    owner.emit(got.samples, [(kind.name, host, job.name, row.get("t") or owner.clock(), row, None)])


def host_jobs(owner: _Owner, want: Callable[[str], bool], restore_tests: bool) -> list[Job]:
    """The jobs every host kind asks for on every host, for the kinds ``want`` selects (by word)."""
    jobs: list[Job] = []
    for hs in owner.hosts.values():
        for kind in host_kinds():
            if not want(kind.word):
                continue
            for hj in kind.jobs(hs.cfg, restore_tests=restore_tests):
                ctx = HostJobContext(owner, hs.cfg.name)
                jobs.append(Job(hj.kind, hs.cfg.name, hj.name, hj.interval, hj.budget + hj.grace,
                                _bind(poll_host, owner, kind, hs.cfg.name, hj, ctx), on_host=True,
                                on_timeout=_bind(record_host_timeout, owner, kind, hs.cfg.name, hj, ctx)))
    return jobs


def _bind(fn: Any, *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)
