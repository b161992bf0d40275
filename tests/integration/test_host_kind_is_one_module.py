"""A host kind (kinds/base.HostKind) is all opsdash needs to know of a category that runs on
a host: config accepts its probe word and its metric, the collector schedules and runs it
through the one remote runner, writes its typed row and samples, writes its own failed row
when the host cannot be reached or the probe overstays its deadline, and /metrics exports its gauges, with no line about it
anywhere else. The kind here is registered the way a module in opsdash/kinds/ would be."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pytest

from opsdash import config as config_mod
from opsdash.collect.collector import Collector
from opsdash.collect.metrics_out import render
from opsdash.config import parse_config
from opsdash.config_checks import check_references
from opsdash.kinds import registry
from opsdash.kinds.base import BuiltinRule, HostContext, HostJob, HostKind, Metric, Probed
from opsdash.model import Sample
from opsdash.store import Store


@dataclass(frozen=True)
class UptimeRow:
    t: float
    uptime_s: float | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "uptime_s": self.uptime_s, "error": self.error}


class UptimeKind(HostKind):
    name = "uptime"
    word = "uptime"
    title = "Uptime"
    metrics = (Metric("uptime.seconds", "uptime", "dur", "Seconds since the host booted, read by the uptime kind."),)
    rules = (BuiltinRule("uptime-short", "uptime.seconds", op="<", warn=60.0, description="rebooted a minute ago"),)
    row_type = UptimeRow
    exports = (("opsdash_uptime_seconds", "Seconds since the host booted."),)

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        return [HostJob("uptime", "", 60.0, 2.0, grace=0.5)] if "uptime" in host.probes else []

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        if host.tags.get("role") == "stuck":  # a probe that ignores its budget
            await asyncio.sleep(30)
        sections = await ctx.run_script("sec up cat /proc/uptime\n", job.budget)
        t, up = ctx.clock(), float(sections["up"].out.split()[0])
        return Probed(UptimeRow(t, up), [Sample(t, host.name, "uptime.seconds", up)])

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        return Probed(UptimeRow(t, None, reason))

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        return None

    def export(self, row: Any, now: float) -> Iterable[tuple[str, float | None, Mapping[str, str]]]:
        return [("opsdash_uptime_seconds", row.uptime_s, {})]


@pytest.fixture()
def uptime_kind(monkeypatch: pytest.MonkeyPatch) -> Iterable[UptimeKind]:
    kind = UptimeKind()
    declared = registry._declared()
    caches = (registry.host_kinds, registry.attached, registry.metric)
    for c in caches:
        c.cache_clear()
    monkeypatch.setattr(registry, "_declared", lambda: [*declared, kind])
    monkeypatch.setattr(config_mod, "PROBES", (*config_mod.PROBES, kind.word))  # computed at import
    yield kind
    monkeypatch.undo()
    for c in caches:
        c.cache_clear()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_new_host_kind_is_configured_polled_stored_and_exported_with_no_other_change(
        uptime_kind: UptimeKind, tmp_path: Path) -> None:
    cfg = parse_config(f"""
[[hosts]]
name = "here"
probes = ["local", "uptime"]

[[hosts]]
name = "stuck"
probes = ["local", "uptime"]
tags = {{ role = "stuck" }}

[[hosts]]
name = "gone"
address = "127.0.0.1"
port = {_closed_port()}
probes = ["uptime"]
timeout = "3s"

[[rules]]
name = "uptime-very-short"
metric = "uptime.seconds"
op = "<"
warn = 10
""", str(tmp_path / "c.toml"))
    store = Store(tmp_path / "s.sqlite")
    try:
        c = Collector(cfg, store)
        seen: list[Sample] = []
        c.listeners.append(seen.extend)
        jobs = [(j.kind, j.target) for j in c.build_jobs() if j.kind == "uptime"]
        assert jobs == [("uptime", "here"), ("uptime", "stuck"), ("uptime", "gone")]
        asyncio.run(c.snapshot_once())

        here = c.hosts["here"].row("uptime")
        assert here is not None and here.uptime_s is not None and here.uptime_s > 0 and here.error is None
        assert [s.target for s in seen if s.metric == "uptime.seconds"] == ["here"]
        gone = c.hosts["gone"].row("uptime")
        assert gone is not None and gone.uptime_s is None and gone.error  # its own failed row says why
        stuck = c.hosts["stuck"].row("uptime")  # past the collector's deadline: the failed row, too
        assert stuck is not None and stuck.uptime_s is None and stuck.error == "no result within 2.5s"

        rows = {r["target"]: r["data"] for r in store.latest("uptime", raw=False)}
        assert rows["here"]["uptime_s"] == here.uptime_s
        assert rows["gone"]["error"] == gone.error

        text = render(c, now=here.t)
        (line,) = [ln for ln in text.splitlines() if ln.startswith('opsdash_uptime_seconds{host="here"} ')]
        assert float(line.split()[-1]) == here.uptime_s
        assert "# HELP opsdash_uptime_seconds Seconds since the host booted." in text
        assert not any(line.startswith('opsdash_uptime_seconds{host="gone"}') for line in text.splitlines())
    finally:
        store.close()


def test_a_misspelt_metric_of_a_new_host_kind_is_refused_with_did_you_mean(uptime_kind: UptimeKind) -> None:
    text = '[[rules]]\nname = "r"\nmetric = "uptime.secnds"\nwarn = 1\n'
    cfg = parse_config(text, "typo.toml")
    known = [m.name for m in registry.metrics()]  # what check-config's metric list is built from
    assert "uptime.seconds" in known
    (problem,) = check_references(cfg, text, metrics=known, builtin_metrics={}, themes=())
    assert str(problem).split(":", 1)[1] == ('3: rules[0].metric: expected a metric opsdash emits '
                                             '(did you mean "uptime.seconds"?), got "uptime.secnds"')
