"""The shape of a probe kind: everything opsdash knows about one kind of check, in one module.

A kind module (``opsdash/kinds/<name>.py``) defines ``KIND = SomeKind()``, an
instance of a ``Kind`` subclass (a check with a [[section]] of its own), or of a
``HostKind`` subclass (one that lives on a [[hosts]] entry and runs there:
caches, patches, backups, security; below). The registry (``opsdash/kinds/registry.py``)
finds it by module, so there is no list to edit. Everything else iterates over
the registered kinds and asks them:

- **config.py** hands each kind its top-level array (``[[dns]]``, ``[[journeys]]``
  ...) and a ``KeyChecker``; the kind returns its typed checks (frozen
  dataclasses with ``name``, ``interval``, ``timeout``) and reports each problem
  with its key path. Checks land in ``Config.checks[kind.name]``.
- **the collector** asks ``vantages(check)`` for where the check runs (``local``
  or host names), makes one job per (check, vantage) and calls ``probe``
  with a ``ProbeContext``: the one remote runner, the clock, the previous row.
  What ``probe`` returns is a typed row: its ``to_json`` is the store's latest
  row (kind ``kind.name``, target ``check.name``, name the vantage) and its
  ``samples`` the series.
- **the alert engine and check-config** know the kind's ``metrics`` (names,
  units, what reasons call them); **metrics out** exports them with their help
  text; **the rules** take the kind's ``rules`` (with runbooks) as built-ins,
  with per-check thresholds from ``BuiltinRule.per_check``.
- **the panes** show rows of the pane the kind names (``pane``): ``columns``
  says which of the pane's slots a row value fills and which metric's rules
  colour it; ``state`` gives the row's one word. Severity still comes only from
  the rules (alerts/severity.py): a kind declares metrics, never thresholds
  the panes use on their own.
- **the drill-down and the handover** ask ``detail`` and ``handover_line``.

A kind imports only the model, errors, this module and its parser: it is
testable without a host, and the collector injects the runner.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, ClassVar, Iterable, Mapping, Protocol, Sequence

from ..model import Sample

__all__ = [
    "CRIT", "LEVEL_STYLE", "OK", "UNKNOWN", "WARN", "Attached", "BuiltinRule", "Cell", "Column", "Command", "CommandRunner", "HostContext", "HostJob", "HostKind", "Kind",
    "KeyChecker", "Metric", "PaneView", "ProbeContext", "Probed", "Row", "Section", "ViewContext", "is_number", "sh_join",
]


@dataclass(frozen=True)
class Metric:
    """One series a kind emits. ``label`` is what alert reasons call it ("resolve p95");
    ``unit`` how its values read: "" | "%" | "ms" | "bool" | "dur" | "frac"."""

    name: str
    label: str
    unit: str = ""
    help: str = ""
    # For a "bool" metric: what alert summaries say when it is 1 and when 0
    # ("resolves", "does not resolve"); the row's reason follows a 0.
    words: tuple[str, str] | None = None

    # The exported name when a contract fixes it ("opsdash_backup_age_seconds"); else derived.
    prom: str = ""

    @property
    def prom_name(self) -> str:
        return self.prom or "opsdash_" + self.name.replace(".", "_")


@dataclass(frozen=True)
class BuiltinRule:
    """A built-in rule of the kind. alerts/rules.py turns it into a ``Rule(builtin=True)``.
    ``per_check(check)`` gives that check's own (warn, crit) when it overrides them, else None;
    an override applies to the series its kind's ``match(check)`` selects (by default the
    ``target`` that is the check's name)."""

    name: str
    metric: str
    warn: float | None = None
    crit: float | None = None
    op: str = ">"
    clear: float | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    attempts: int = 1  # consecutive bad samples before it fires (2: one lost packet never pages)
    flap: tuple[float, float] | None = None  # (low, high) percent of state changes: flap detection
    description: str = ""
    runbook: str = ""
    summary: str = ""
    tier: Mapping[str, str] | None = None
    per_check: Callable[[Any], tuple[float | None, float | None] | None] | None = None


@dataclass(frozen=True)
class Column:
    """One value of a kind's row in its pane. ``slot``: the pane's column it fills
    (Latency: "p50", "p95", "p99", "avail", "err"); ``key``: the key of the row's JSON;
    ``unit``: how the pane formats it ("ms", "%", "frac", ""); ``metric``: the metric whose
    rules colour it (with the row's labels), or None for an uncoloured figure."""

    slot: str
    key: str
    unit: str = ""
    metric: str | None = None


@dataclass(frozen=True)
class Attached:
    """The metrics and rules of what the collector probes itself, with no kind of its own:
    host health and the endpoints (collect/health.py, http.py), and the certificates checked
    beside an https endpoint's request. ``checks(config)`` gives what its rules' ``per_check``
    sees (the endpoints) and ``match(check)`` the series a check's own threshold applies to.
    What runs on a host is a ``HostKind`` instead, which declares its probe and pane too."""

    name: str
    metrics: tuple[Metric, ...]
    rules: tuple[BuiltinRule, ...]
    checks: Callable[[Any], Iterable[Any]] = lambda cfg: ()
    match: Callable[[Any], Mapping[str, str]] = lambda check: {"target": check.name}


class Section(Protocol):
    rc: int
    out: str
    err: str


class Row(Protocol):
    """A kind's typed row: what one probe found. ``to_json``/``from_json`` round-trip
    through the store's latest table; ``samples`` are its series at time ``t``."""

    def to_json(self) -> dict[str, Any]: ...

    def samples(self, t: float, target: str, labels: Mapping[str, str]) -> list[Sample]: ...


class KeyChecker(Protocol):
    """config.py's checker as a kind sees it. ``table`` checks a TOML table against
    ``spec`` {key: (check, default)}: a check returns the converted value or raises
    ValueError("what was expected"); ``REQUIRED`` as default makes the key mandatory.
    Unknown keys are reported with did-you-mean. Every problem carries its key path
    and line; the kind adds its own with ``problem(path, message)``."""

    REQUIRED: object
    hosts: frozenset[str]  # the configured host names (vantages must name one, or "local")

    def table(self, data: Any, path: str, spec: Mapping[str, tuple[Callable[[Any], Any], Any]]) -> dict[str, Any]: ...

    def array(self, data: Any, path: str) -> list[Any]: ...

    def problem(self, path: str, message: str) -> None: ...

    def unique(self, items: list[dict[str, Any]], path: str, what: str = "name") -> None: ...

    def duration(self, v: Any) -> float: ...  # "500ms", "1m", 30 -> seconds; ValueError otherwise


class ProbeContext(Protocol):
    """What the collector gives a probe. ``run_script`` runs a body of ``sec NAME CMD ...``
    sections on a vantage through the one remote runner (streamed, capped, killed on
    timeout; collect/remote.py) and returns its sections; on "local" it runs here.
    Failures to reach the vantage raise ProbeError."""

    def clock(self) -> float: ...

    def run_script(self, vantage: str, body: str, timeout: float) -> Awaitable[Mapping[str, Section]]: ...

    def previous(self, kind: str, target: str, name: str) -> Awaitable[dict[str, Any] | None]:
        """The last row this kind wrote for (target, name): in memory, else the store's."""
        ...

    def read_file(self, path: str, max_bytes: int = 65536) -> Awaitable[bytes]:
        """A local file read off the event loop (secrets, CA bundles); OSError as is."""
        ...


class Kind:
    """Base of every generic probe kind; subclasses set the class attributes and methods."""

    name: ClassVar[str]  # the latest rows' kind and the jobs' kind: "dns"
    section: ClassVar[str]  # the config's top-level array: "dns" for [[dns]]
    title: ClassVar[str]  # "DNS": headings in the drill-down and the handover
    pane: ClassVar[str] = "latency"  # the pane whose rows it adds to
    metrics: ClassVar[tuple[Metric, ...]] = ()
    rules: ClassVar[tuple[BuiltinRule, ...]] = ()
    columns: ClassVar[tuple[Column, ...]] = ()
    # The metric that says the check works at all (1 ok, 0 failing): a failing row's level
    # is this metric's rule level, as an endpoint's is endpoint.up's.
    up_metric: ClassVar[str | None] = None
    row_type: ClassVar[Any]  # has from_json(dict) -> row

    # --- config -------------------------------------------------------------------

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[Any, ...]:
        """Check ``items`` (the TOML array at ``path``) and return the typed checks."""
        raise NotImplementedError

    def vantages(self, check: Any) -> Sequence[str]:
        """Where the check runs: "local" or host names. One job per vantage."""
        return tuple(getattr(check, "vantage", ("local",)))

    def secrets(self, check: Any) -> Iterable[str]:
        """Values read from the check's secret files, to be scrubbed from messages (none by default)."""
        return ()

    # --- probing ------------------------------------------------------------------

    def warm(self) -> None:
        """Import what probing needs and the config check does not (a client library's query
        side). The collector calls it once per kind, in a thread, before the kind's first
        probe: viewers that only read the config never pay for it, and no import runs on
        the event loop."""

    async def probe(self, check: Any, vantage: str, ctx: ProbeContext) -> Any:
        """Run the check once from ``vantage``; return its row. What the check finds wrong
        (NXDOMAIN, a failing step) is the row's state, not an exception; ProbeError only
        when the vantage cannot be used at all."""
        raise NotImplementedError

    def failed(self, check: Any, vantage: str, reason: str, t: float) -> Any:
        """The row for a probe that could not run (vantage unreachable, timeout)."""
        raise NotImplementedError

    # --- showing ------------------------------------------------------------------

    def state(self, row: Mapping[str, Any]) -> tuple[str, bool]:
        """The row's one word for the pane's state column and whether it is a failure
        ("NXDOMAIN", True). The level of a working row comes from its columns' metrics."""
        ok = row.get("ok")
        return ("ok", False) if ok else (str(row.get("reason") or "error")[:8], True)

    def detail(self, row: Mapping[str, Any]) -> list[str]:
        """Lines for the drill-down (plain text; the UI sanitises and lays out)."""
        return [f"{k}: {v}" for k, v in row.items() if not isinstance(v, (dict, list))]

    def handover_line(self, target: str, vantage: str, row: Mapping[str, Any]) -> str | None:
        """One line for the handover when the row is not ok, else None."""
        word, failing = self.state(row)
        if not failing:
            return None
        return f"{self.title} {target} from {vantage}: {row.get('reason') or word}"

    def labels(self, check: Any, vantage: str) -> dict[str, str]:
        return {"vantage": vantage}

    def match(self, check: Any) -> Mapping[str, str]:
        """The series a per-check threshold applies to: the check's own (target = its name)."""
        return {"target": check.name}


# --- kinds that live on a host: caches, patches, backups, security posture ---------------------

class Command(Protocol):
    """What one command returned (collect/remote.CommandResult)."""

    rc: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """The one remote runner to a host (collect/runner.Runner): ``run`` streams, caps at the
    host's ``max_output`` and stops the command's process group on timeout or cancellation;
    ProbeError(state="timeout") past ``timeout``, errors.OutputTooLarge past the cap."""

    name: str

    def run(self, command: str, *, timeout: float, env: Mapping[str, str] | None = None,
            input: str | None = None) -> Awaitable[Command]: ...


def sh_join(args: Iterable[str]) -> str:
    """A shell command line from words: every word quoted (config values, remote output)."""
    return " ".join(shlex.quote(str(a)) for a in args)


@dataclass(frozen=True)
class HostJob:
    """One scheduled probe of a host kind on one host. ``kind``: the job's kind (the host
    kind's name, or its own word for a second schedule: a backup's "restore"); ``name``: the
    latest row's name ("" for one row per host, else the cache's or backup's); ``budget``:
    what the probe may take; the collector's deadline is ``budget + grace``."""

    kind: str
    name: str
    interval: float
    budget: float
    check: Any = None  # what the probe works on: the cache's or the backup's config
    grace: float = 5.0
    mode: str = ""  # the kind's own word for what this schedule does ("restore")


@dataclass
class Probed:
    """What one poll of a host kind found: the latest row (typed: ``to_json``), its samples,
    and ``error`` when the poll must count as failed (backoff) although its row is written."""

    row: Any
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None


class HostContext(Protocol):
    """What the collector gives a host kind's poll (collect/checks.py)."""

    host: str
    runner: CommandRunner
    # Kept between the polls of one job, in this process: a counter window, a log offset.
    memory: dict[str, Any]

    def clock(self) -> float: ...

    def run_script(self, body: str, timeout: float) -> Awaitable[Mapping[str, Section]]:
        """``sec NAME CMD`` sections through the one runner (kinds/sections.run_script);
        errors.ScriptEndedEarly when the script stops before its end."""
        ...

    def row(self, kind: str, name: str = "") -> Any | None:
        """The typed row a host kind last wrote for this host in this process, else None."""
        ...

    def stored(self, kind: str, name: str = "") -> Awaitable[dict[str, Any] | None]:
        """That row's data as the store last kept it (across a restart), read off the loop."""
        ...


class HostKind:
    """Base of the kinds whose checks live on a ``[[hosts]]`` entry and run on that host:
    the collector makes its ``jobs`` for every host, runs ``poll`` through a ``HostContext``
    and writes the row it returns (kind ``name``, target the host, name ``HostJob.name``);
    ``once`` builds the host object's entry of ``opsdash once``'s JSON. Its metrics and rules
    are read as an Attached kind's are (``checks``, ``match``)."""

    name: ClassVar[str]  # the latest rows' kind and the jobs' kind: "cache"
    word: ClassVar[str]  # its word in a host's ``probes``, ``once --probe`` and the JSON: "caches"
    title: ClassVar[str]
    label: ClassVar[str | None] = None  # the series label that names a row ("cache"); None: one per host
    key: ClassVar[str | None] = None  # its array in a [[hosts]] entry ("caches"); None: it has none
    # Its own scalar keys of a [[hosts]] entry, also allowed in [defaults]:
    # {key: (check: value -> value, raising ValueError(what was expected); default)}.
    keys: ClassVar[Mapping[str, tuple[Callable[[Any], Any], Any]]] = {}
    metrics: ClassVar[tuple[Metric, ...]] = ()
    rules: ClassVar[tuple[BuiltinRule, ...]] = ()
    row_type: ClassVar[Any]

    def checks(self, cfg: Any) -> Iterable[Any]:
        """What the rules' ``per_check`` sees (a backup's max_age): none by default."""
        return ()

    def match(self, check: Any) -> Mapping[str, str]:
        return {"target": check.name}

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[Any, ...]:
        """Check ``items`` (the host's array at ``path``, "hosts[0].caches") and return its checks."""
        return ()

    def configure(self, values: Mapping[str, Any]) -> Any:
        """The host's settings from its checked ``keys`` (kept in HostConfig.kinds[name])."""
        return dict(values)

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        raise NotImplementedError

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        """Probe once. What the probe finds wrong is the row's; ProbeError only when the
        host or the channel failed (the collector then writes ``failed``)."""
        raise NotImplementedError

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        """The row for a poll the host or the channel failed (it keeps what it can)."""
        raise NotImplementedError

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        """The host object's ``word`` entry in ``opsdash once``: from this host's typed rows by name."""
        raise NotImplementedError

    def reason(self, row: Any, metric: str) -> str | None:
        """Why the row's 0/1 ``metric`` is bad (the alert's summary), when the row knows."""
        return None

    # The gauges /metrics exports from this kind's rows (collect/metrics_out.py), in order:
    # (Prometheus name, help). ``export`` gives a row's values of them.
    exports: ClassVar[tuple[tuple[str, str], ...]] = ()

    def export(self, row: Any, now: float) -> Iterable[tuple[str, float | None, Mapping[str, str]]]:
        """(Prometheus name, value, labels besides host) for one row."""
        return ()

    # The pane its rows fill (ui/data.py: its header is the pane's), or None for none of its own.
    pane: ClassVar[str | None] = None

    def view(self, target: str, name: str, data: Mapping[str, Any], ctx: "ViewContext") -> "PaneView":
        """One stored row as its pane shows it: the level and state word from the rules
        (``ctx.level``), the cells between the state and the age columns, the sort key."""
        raise NotImplementedError


# --- how a kind's row shows in its pane ---------------------------------------------------------

# A figure's level, worst last (rows sort by level descending), and the style that names it.
OK, UNKNOWN, WARN, CRIT = 0, 1, 2, 3
LEVEL_STYLE = {OK: "ok", UNKNOWN: "muted", WARN: "warn", CRIT: "crit"}

Cell = tuple[str, str]  # (text, style): "ok" "warn" "crit" "stale" "muted" "spark" or ""


@dataclass(frozen=True)
class PaneView:
    """A kind's row in its pane, without what every pane adds (the state mark, staleness,
    the age column, the key): ``cells`` lie between the state and the age columns."""

    level: int
    word: str
    cells: tuple[Cell, ...]
    rank: tuple[Any, ...]  # after the level: sorts ascending
    search: tuple[Any, ...]  # words the filter finds the row by (None and "" are dropped)
    state_level: int | None = None  # the state column's level when it is not the row's (None: ``level``)


class ViewContext(Protocol):
    """What the UI gives ``view`` (ui/data.py): the rules in force, formatting, the rest of the view."""

    now: float
    stale: bool  # the row is older than three intervals (its cells are shown faded)
    polled: float  # when the row was read (its own ``t``, else when it was stored)
    tags: Mapping[str, str]  # the target's tags (rules may match on them)

    def level(self, metric: str, value: Any, target: str, labels: Mapping[str, str] | None = None) -> tuple[int, str]:
        """(level, cell style) of one figure by the rules in force: (OK, "") when none covers it."""
        ...

    def age(self, seconds: float | None) -> str: ...

    def num(self, v: Any) -> str: ...

    def spark(self, target: str, metric: str, labels: Mapping[str, str], width: int, lo: float, hi: float) -> str:
        """The series' recent trend as a sparkline ("" without history)."""
        ...

    def row(self, kind: str, target: str, name: str = "") -> Mapping[str, Any] | None:
        """Another kind's stored row data for the target (the Patches pane's Security column)."""
        ...

    def host_state(self, target: str) -> str | None:
        """The host's state word from its health row ("ok", "unreachable" ...), None when unknown."""
        ...


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
