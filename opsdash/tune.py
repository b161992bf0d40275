"""Backtest the alert rules over history and propose quieter settings.

``opsdash tune`` answers "which settings would have paged less without missing a
real incident?" from recorded samples (the store or a replay file).

Definitions (per rule):

- **page**: a firing transition the engine would notify for: ok/pending ->
  firing, an escalation to critical while firing, or a firing alert that
  stops flapping; not while flapping, not inhibited (its host is down), not
  silenced (a silence from the store active at that time).
- **sustained incident**: the rule's *current* condition (its threshold, with
  its hysteresis) holding for at least ``incident_s`` (default 10 minutes),
  measured from the first to the last breaching sample.
- **caught**: the candidate setting pages (or was already firing and paged,
  or is inhibited/silenced, i.e. someone knows) no later than ``max_delay_s``
  after the incident began.

- **judged on** what a person would: pages (storms of one rule within
  ``STORM_WINDOW_S`` count once) and pages per 12-hour shift, precision and
  recall against the incidents, the worst detection delay, time firing outside
  incidents, flap episodes, and whether it resolves between incidents.
- **latches**: keeps firing longer than ``incident_s`` (+ keep_firing_for)
  after the condition cleared outside incidents, or has ``clear`` on the normal
  side of a series' baseline (``_baseline``). Never proposed; nor a setting
  with more flap episodes than today's. Marked incidents (``KnownIncident``,
  ``--incidents``) replace the sustained ones when given.
- **too little history** (less than ``HISTORY_WINDOWS`` times the incident
  definition or the proposed ``for``): nothing is proposed.

The proposal is the admissible grid point with the fewest pages that catches
every incident, ties broken by smaller total detection delay, then by the
smallest change. A rule with no sustained incident in the window cannot be judged by
history alone: its thresholds are never raised past the current ones and its
``for`` never past ``max_delay`` (or the current value), so any future breach
of today's threshold is still caught in time.

How it stays fast (a week of 1,000 series at 15 s is ~40M samples): the
state machine is not run per sample per grid point. Per series, the samples
past the lowest threshold any candidate uses are picked out in C
(``itertools.compress``); for each threshold level the breaching samples
become *runs*; for each (warn, clear, crit) triple the runs with hysteresis,
their critical sub-runs and the flap-detection intervals are derived once;
``for``, ``attempts`` and ``keep_firing_for`` then act on runs, not samples
(a run fires iff it is at least ``attempts`` samples and ``for`` seconds long,
at a point found by bisection). For each (triple, attempts) only the longest
``for`` that still catches every incident is scored (pages fall as ``for``
grows), incidents are checked first on their own series, and page counting
stops as soon as a candidate is worse than the best so far.

``simulate`` is exact against the engine (tests compare it with a replay):
same hysteresis, ``for`` / ``attempts`` hold, critical escalation, keep-firing,
Nagios flap detection with the engine's weights.
"""

from __future__ import annotations

from array import array
import datetime as _dt
import json
import math
import statistics
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from itertools import compress, count
from operator import ne, sub
from typing import Any, Callable, Iterable, Mapping, MutableMapping, Sequence

import tomlkit
import tomlkit.items

from .alerts.engine import _METRICS
from .alerts.rules import NO_DATA, Rule, matches
from .config import format_duration, new_table

__all__ = [
    "Candidate",
    "Incident",
    "IncidentsError",
    "KnownIncident",
    "RuleTuning",
    "SeriesData",
    "TuneReport",
    "apply_to_config",
    "load_samples",
    "load_store",
    "parse_incidents",
    "simulate",
    "tune",
]

DAY = 86400.0
FOR_GRID = (0.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0)
ATTEMPTS_GRID = (1, 2, 3, 4)
SHIFT_GRID = (-1, 0, 1, 2, 3)  # warn moved by this many steps (signed: positive is quieter)
CLEAR_GRID = (0, 1, 2)  # clear this many steps on the safe side of warn
FIRING_SLACK = 1.25  # a proposal may keep alerts firing at most this much longer than today (plus a little)
CRIT_GRID = (0, 2, 4)  # crit moved by this many steps
# A storm: alerts of one rule on many targets within this window reach a person as one
# notification (the notifier's group window, [[notify]] group_window, default 30 s), so they
# count as one page here too.
STORM_WINDOW_S = 30.0
SHIFT_S = 12 * 3600.0  # pages are judged per 12-hour on-call shift (Google SRE: at most 2)
# The history must hold the incident definition and the proposed `for` this many times over:
# with fewer windows a page count (and "100% fewer pages") is one or two events, not a rate.
HISTORY_WINDOWS = 6
# A series' baseline: the highest median of its samples outside incidents over blocks this
# long. A `clear` on the normal side of it is never reached in normal operation: the alert
# latches after its first breach.
BASELINE_S = 2 * 3600.0
BASELINE_MIN_SAMPLES = 8
# A rule without flap detection shows no flapping state: what a person sees flap is the alert
# itself firing and resolving. Those episodes are counted with the engine's weighting at the
# built-ins' 20/30 %: measured, never applied to its pages.
MEASURE_FLAP = (20.0, 30.0)


# --- the data ----------------------------------------------------------------------------


@dataclass
class SeriesData:
    """One series' samples in time order: parallel arrays of times and values (``array("d")``
    or lists: 8 bytes a sample as arrays, which a week of 1,000 series needs)."""

    target: str
    metric: str
    labels: dict[str, str]
    ts: Sequence[float]
    vs: Sequence[float]

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.target, self.metric, tuple(sorted(self.labels.items())))


def load_samples(samples: Iterable[tuple[float, str, str, float, Mapping[str, str] | None]],
                 metrics: Callable[[str], bool] | None = None) -> list[SeriesData]:
    """Group (t, target, metric, value, labels) tuples (``replay.iter_jsonl``) into series.
    A sample older than its series' last one is dropped, as the engine does."""
    out: dict[Any, SeriesData] = {}
    for t, target, metric, value, labels in samples:
        if metrics is not None and not metrics(metric):
            continue
        key = (target, metric, tuple(sorted(labels.items()))) if labels else (target, metric)
        s = out.get(key)
        if s is None:
            s = out[key] = SeriesData(target, metric, dict(labels or {}), array("d"), array("d"))
        ts = s.ts
        if ts and t < ts[-1]:
            continue
        ts.append(t)  # type: ignore[attr-defined]
        s.vs.append(value)  # type: ignore[attr-defined]
    return list(out.values())


def load_store(store: Any, since: float, until: float | None = None,
               metrics: Callable[[str], bool] | None = None) -> list[SeriesData]:
    """Every series of the store (optionally only some metrics) from ``since``, as arrays."""
    return [SeriesData(target, metric, labels, ts, vs)
            for target, metric, labels, ts, vs in store.series_arrays(since, until, metrics)]


# --- candidates and results --------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One setting of a rule's tunable keys (thresholds in the user's sign; None = unset)."""

    warn: float | None
    crit: float | None
    clear: float | None
    for_s: float
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {"warn": self.warn, "crit": self.crit, "clear": self.clear, "for": format_duration(self.for_s),
                "for_s": self.for_s, "attempts": self.attempts}

    def describe(self, op: str = ">") -> str:
        parts = []
        if self.warn is not None:
            parts.append(f"warn {op} {self.warn:g}")
        if self.crit is not None:
            parts.append(f"crit {op} {self.crit:g}")
        if self.clear is not None:
            parts.append(f"clear {self.clear:g}")
        parts.append(f"for {format_duration(self.for_s)}")
        parts.append(f"attempts {self.attempts}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Incident:
    target: str
    labels: dict[str, str]
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Outcome:
    """What one setting would have done over the history.

    ``pages`` counts what a person receives: notifications of this rule grouped into storms
    (``STORM_WINDOW_S``); ``notified`` is the engine's own count, one per alert."""

    pages: int = 0
    notified: int = 0
    true_pages: int = 0  # storms with an alert whose episode overlaps an incident
    fired: int = 0
    flap_episodes: int = 0
    pending_s: float = 0.0
    firing_s: float = 0.0
    outside_s: float = 0.0  # firing outside every incident on its series
    latch_s: float = 0.0  # longest stretch firing after the current condition cleared, outside incidents
    latched: bool = False
    clear_latches: bool = False  # clear on the normal side of a series' baseline
    baseline: float | None = None  # the highest baseline (user's sign) when clear_latches
    resolve_s: list[float] = field(default_factory=list)
    caught: int = 0
    delays: list[float | None] = field(default_factory=list)  # per incident; None = missed
    page_log: list[tuple[float, bool]] = field(default_factory=list, repr=False)  # (t, for an incident)

    @property
    def recall(self) -> float | None:
        return self.caught / len(self.delays) if self.delays else None

    @property
    def precision(self) -> float | None:
        return self.true_pages / self.pages if self.pages else None

    @property
    def resolves(self) -> bool:
        """It resolves between incidents and its clear is reached at the normal level."""
        return not self.latched and not self.clear_latches

    def pages_per_shift(self, span_s: float) -> float | None:
        return self.pages * SHIFT_S / span_s if span_s > 0 else None

    def to_json(self, series_time: float, span_s: float | None = None) -> dict[str, Any]:
        got = [d for d in self.delays if d is not None]
        pps = self.pages_per_shift(span_s) if span_s is not None else None
        return {
            "pages": self.pages,
            "notifications": self.notified,
            "pages_per_shift": None if pps is None else round(pps, 3),
            "precision": None if self.precision is None else round(self.precision, 4),
            "recall": None if self.recall is None else round(self.recall, 4),
            "alerts_fired": self.fired,
            "flap_episodes": self.flap_episodes,
            "pending_percent": round(100.0 * self.pending_s / series_time, 4) if series_time else 0.0,
            "firing_percent": round(100.0 * self.firing_s / series_time, 4) if series_time else 0.0,
            "firing_outside_incidents_s": round(self.outside_s, 1),
            "firing_outside_incidents_percent": (round(100.0 * self.outside_s / series_time, 4)
                                                 if series_time else 0.0),
            "longest_firing_after_clear_s": round(self.latch_s, 1),
            "resolves_between_incidents": not self.latched,
            "clear_on_normal_side_of_baseline": self.clear_latches,
            "baseline": self.baseline,
            "latches": not self.resolves,
            "median_time_to_resolve_s": statistics.median(self.resolve_s) if self.resolve_s else None,
            "incidents_caught": self.caught,
            "detection_delay_s": self.delays,
            "max_detection_delay_s": max(got) if got else None,
        }

    def add(self, o: "Outcome") -> None:
        """Sum another part's outcome in (pages are grouped later, from page_log)."""
        self.notified += o.notified
        self.fired += o.fired
        self.flap_episodes += o.flap_episodes
        self.pending_s += o.pending_s
        self.firing_s += o.firing_s
        self.outside_s += o.outside_s
        self.latch_s = max(self.latch_s, o.latch_s)
        self.resolve_s += o.resolve_s
        self.delays += o.delays
        self.caught += o.caught
        self.page_log += o.page_log


def group_storms(log: Sequence[tuple[float, bool]]) -> tuple[int, int]:
    """(storms, storms with a page for an incident) from (t, for_incident) pages of one rule.

    The first page opens a window of STORM_WINDOW_S; every page in it goes out with it (the
    notifier's group window). Greedy windows from the left are the fewest windows that cover
    the pages, so adding pages never lowers the count: a partial count bounds the total."""
    storms = true = 0
    end = -math.inf
    hit = False
    for t, inc in sorted(log):
        if t >= end:
            if hit:
                true += 1
            storms += 1
            end = t + STORM_WINDOW_S
            hit = False
        hit = hit or inc
    if hit:
        true += 1
    return storms, true


@dataclass
class RuleTuning:
    rule: Rule
    series: int
    series_time: float
    incidents: list[Incident]
    current: Candidate
    old: Outcome
    proposal: Candidate | None = None
    new: Outcome | None = None
    evaluated: int = 0
    note: str = ""
    span_s: float = 0.0  # first to last sample of the rule's series
    short_history: bool = False  # too little history: nothing proposed
    rejected: dict[str, int] = field(default_factory=dict)  # candidates that caught every incident, and why not

    @property
    def changed(self) -> bool:
        return self.proposal is not None and self.proposal != self.current

    @property
    def page_cut_percent(self) -> float | None:
        if self.new is None or not self.old.pages:
            return None
        return 100.0 * (self.old.pages - self.new.pages) / self.old.pages

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "metric": self.rule.metric,
            "op": self.rule.op,
            "series": self.series,
            "incidents": [{"target": i.target, "labels": i.labels, "start": i.start, "end": i.end,
                           "duration_s": i.duration} for i in self.incidents],
            "history_s": round(self.span_s, 1),
            "too_little_history": self.short_history,
            "current": {**self.current.to_json(), **self.old.to_json(self.series_time, self.span_s)},
            "proposal": ({**self.proposal.to_json(), **self.new.to_json(self.series_time, self.span_s)}
                         if self.proposal is not None and self.new is not None else None),
            "changed": self.changed,
            "page_cut_percent": None if self.page_cut_percent is None else round(self.page_cut_percent, 1),
            "candidates_evaluated": self.evaluated,
            "candidates_rejected": dict(self.rejected),
            "note": self.note,
        }


@dataclass
class TuneReport:
    rules: list[RuleTuning]
    samples: int
    series: int
    first_t: float | None
    last_t: float | None
    incident_s: float
    max_delay_s: float
    incident_definition: str = ""
    known_incidents: int | None = None  # how many were marked (--incidents); None: tune's own definition
    note: str = ""  # e.g. too little history for anything

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples, "series": self.series, "first_t": self.first_t, "last_t": self.last_t,
            "incident_s": self.incident_s, "max_delay_s": self.max_delay_s,
            "incident_definition": self.incident_definition, "known_incidents": self.known_incidents,
            "storm_window_s": STORM_WINDOW_S, "shift_s": SHIFT_S, "note": self.note,
            "rules": [r.to_json() for r in self.rules],
        }


@dataclass(frozen=True)
class KnownIncident:
    """An incident a person marked (``--incidents``): on ``target`` from ``start`` to ``end``;
    ``rules``: only for these rules (empty: any rule whose threshold is crossed then)."""

    target: str
    start: float
    end: float
    rules: tuple[str, ...] = ()


class IncidentsError(ValueError):
    """An --incidents file that cannot be used: one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _when(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"expected an ISO-8601 time or epoch seconds, got {json.dumps(v)}")
    if not isinstance(v, str):
        if not math.isfinite(v):
            raise ValueError(f"expected a finite number of epoch seconds, got {v}")
        return float(v)
    try:
        d = _dt.datetime.fromisoformat(v.strip())
    except ValueError:
        raise ValueError(f'expected an ISO-8601 time like "2026-03-01T14:05:00Z" or epoch seconds, got "{v}"') from None
    if d.tzinfo is None:
        raise ValueError(f'"{v}" has no UTC offset: add Z or one like +01:00')
    return d.timestamp()


def parse_incidents(text: str, name: str) -> list[KnownIncident]:
    """The --incidents file: a JSON list of {"target", "start", "end"} (ISO-8601 with an offset,
    or epoch seconds), optionally "rule" (a name or a list). Raises IncidentsError with one
    line per problem."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise IncidentsError([f"{name}: not valid JSON: {e}"]) from None
    if not isinstance(doc, list):
        raise IncidentsError([f'{name}: expected a list of {{"target", "start", "end"}}, got a JSON {type(doc).__name__}'])
    problems: list[str] = []
    out: list[KnownIncident] = []
    for n, e in enumerate(doc):
        where = f"{name}: [{n}]"
        if not isinstance(e, dict):
            problems.append(f'{where}: expected an object {{"target", "start", "end"}}, got {json.dumps(e)[:60]}')
            continue
        bad = len(problems)
        for key in sorted(set(e) - {"target", "start", "end", "rule"}):
            problems.append(f'{where}: unknown key "{key}" (known: target, start, end, rule)')
        for key in ("target", "start", "end"):
            if key not in e:
                problems.append(f'{where}: missing "{key}"')
        target = e.get("target")
        if "target" in e and (not isinstance(target, str) or not target.strip()):
            problems.append(f"{where}.target: expected a non-empty string, got {json.dumps(target)[:60]}")
        times: dict[str, float] = {}
        for key in ("start", "end"):
            if key in e:
                try:
                    times[key] = _when(e[key])
                except ValueError as err:
                    problems.append(f"{where}.{key}: {err}")
        if len(times) == 2 and times["end"] <= times["start"]:
            problems.append(f"{where}: end {e['end']} is not after start {e['start']}")
        rules = e.get("rule", ())
        if isinstance(rules, str):
            rules = (rules,)
        if not isinstance(rules, (list, tuple)) or not all(isinstance(r, str) and r for r in rules):
            problems.append(f"{where}.rule: expected a rule name or a list of names, got {json.dumps(e.get('rule'))[:60]}")
            rules = ()
        if len(problems) == bad:
            out.append(KnownIncident(str(target), times["start"], times["end"], tuple(rules)))
    if problems:
        raise IncidentsError(problems)
    return out


# --- per series: runs, flap intervals ----------------------------------------------------

_FLAP_TOTAL = 1520.0


class _Series:
    """One series seen through one rule: signed values, and runs per threshold level (cached)."""

    __slots__ = ("data", "ts", "n", "idx", "vals", "above", "runs", "cache", "view", "labels", "down",
                 "windows", "covered", "base")

    def __init__(self, data: SeriesData, sign: float, floor: float, view: dict[str, str],
                 labels: dict[str, str]):
        self.data = data
        self.ts = data.ts
        self.n = len(data.ts)
        vs = data.vs
        # indices of samples past the lowest level any candidate uses (C speed)
        if sign > 0:
            self.idx = list(compress(range(self.n), map(floor.__lt__, vs)))
            self.vals = [vs[i] for i in self.idx]
        else:
            self.idx = list(compress(range(self.n), map((-floor).__gt__, vs)))
            self.vals = [-vs[i] for i in self.idx]
        self.above: dict[float, list[int]] = {}
        self.runs: dict[float, tuple[list[int], list[int]]] = {}
        self.cache: dict[tuple[Any, ...], Any] = {}
        self.view = view
        self.labels = labels
        self.down: list[tuple[float, float]] = []  # host-down intervals (inhibition)
        self.windows: list[tuple[float, float]] = []  # this series' incidents (start, end)
        self.covered: list[tuple[float, float]] = []  # incidents and the current condition's runs, merged
        self.base = -math.inf  # signed baseline (``_baseline``); -inf: below every candidate's clear

    def above_level(self, c: float) -> list[int]:
        a = self.above.get(c)
        if a is None:
            a = self.above[c] = list(compress(self.idx, map(c.__lt__, self.vals)))
        return a

    def runs_of(self, c: float) -> tuple[list[int], list[int]]:
        """(starts, ends) of the maximal runs of consecutive samples with signed value > c."""
        r = self.runs.get(c)
        if r is None:
            a = self.above_level(c)
            if not a:
                r = ([], [])
            else:
                # boundaries where the next index is not the next sample
                cut = list(compress(count(1), map(ne, map(sub, a[1:], a), _ones(len(a) - 1))))
                starts = [a[0]] + [a[j] for j in cut]
                ends = [a[j - 1] for j in cut] + [a[-1]]
                r = (starts, ends)
            self.runs[c] = r
        return r

    def bad_runs(self, lo: float, clr: float, crit: float | None, warn_none: bool) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """Runs of the condition with hysteresis (start past lo, continue past clr), with their
        critical sub-runs [(c0, c1)]."""
        key = ("bad", lo, clr, crit, warn_none)
        got = self.cache.get(key)
        if got is not None:
            return got
        S, E = self.runs_of(clr)
        if lo == clr:
            pairs = list(zip(S, E))
        else:
            A = self.above_level(lo)
            pairs = []
            if len(A) < len(S):
                last = -1
                for a in A:
                    k = bisect_right(S, a) - 1
                    if k != last and k >= 0:
                        last = k
                        pairs.append((a, E[k]))
            else:
                nA = len(A)
                for s, e in zip(S, E):
                    k = bisect_left(A, s)
                    if k < nA and A[k] <= e:
                        pairs.append((A[k], e))
        out: list[tuple[int, int, list[tuple[int, int]]]] = []
        if warn_none:
            out = [(s, e, [(s, e)]) for s, e in pairs]
        elif crit is None:
            out = [(s, e, []) for s, e in pairs]
        else:
            CS, CE = self.runs_of(crit)
            for s, e in pairs:
                k = bisect_left(CE, s)
                subs = []
                while k < len(CS) and CS[k] <= e:
                    subs.append((max(CS[k], s), min(CE[k], e)))
                    k += 1
                out.append((s, e, subs))
        self.cache[key] = out
        return out


_ONES: list[int] = []


def _ones(n: int) -> list[int]:
    global _ONES
    if len(_ONES) < n:
        _ONES = [1] * max(n, 2 * len(_ONES))
    return _ONES  # map() stops at the shorter iterable


def flap_intervals(n: int, runs: Sequence[tuple[int, int, Sequence[tuple[int, int]]]],
                   low: float, high: float) -> list[tuple[int, int]]:
    """[start, stop) sample-index intervals during which the engine's flap detection says
    "flapping" (weighted percent state change over the last 21 levels, Nagios style)."""
    changes: list[int] = []
    for i0, i1, subs in runs:
        if i0 > 0:
            changes.append(i0)
        for c0, c1 in subs:
            if c0 > i0:
                changes.append(c0)
            if c1 < i1:
                changes.append(c1 + 1)
        if i1 + 1 < n:
            changes.append(i1 + 1)
    out: list[tuple[int, int]] = []
    if not changes:
        return out
    recent: list[int] = []
    flapping = False
    start = 0
    m = len(changes)
    for j, c in enumerate(changes):
        recent = [p for p in recent if c - p <= 19]
        recent.append(c)
        fsum = sum(95 - 2 * (c - p) for p in recent)
        pct = fsum / _FLAP_TOTAL * 100.0
        if not flapping:
            if pct >= high:
                flapping, start = True, c
            else:
                continue
        elif pct <= low:
            flapping = False
            out.append((start, c))
            continue
        # flapping after this change: does it settle before the next change?
        nxt = changes[j + 1] if j + 1 < m else n
        i = c + 1
        while i < nxt and i < n:
            fsum = sum(95 - 2 * (i - p) for p in recent if i - p <= 19)
            if fsum / _FLAP_TOTAL * 100.0 <= low:
                flapping = False
                out.append((start, i))
                break
            i += 1
    if flapping:
        out.append((start, n))
    return out


def _in_intervals(iv: Sequence[tuple[int | float, int | float]], x: float) -> bool:
    if not iv:
        return False
    k = bisect_right(iv, (x, math.inf)) - 1
    return k >= 0 and iv[k][0] <= x < iv[k][1]


@dataclass
class _Episode:
    fire_t: float
    notify_t: float | None
    end_t: float | None
    told: list[float] = field(default_factory=list)  # every time someone was told (paged, or it was held)


def simulate(ts: Sequence[float], runs: Sequence[tuple[int, int, Sequence[tuple[int, int]]]], *,
             for_s: float, attempts: int, kff: float = 0.0, flaps: Sequence[tuple[int, int]] = (),
             suppressed: Callable[[float, str], bool] | None = None, t_end: float | None = None,
             out: Outcome | None = None, episodes: list[_Episode] | None = None,
             paged: list[tuple[float, _Episode]] | None = None) -> Outcome:
    """The engine's state machine over a series' condition runs (see ``_Series.bad_runs``).

    ``suppressed(t, severity)``: True when a page at ``t`` is inhibited or silenced (someone
    knows: counts as detection, not as a page). Adds to ``out`` (``notified``: one per
    notification the engine sends); fills ``episodes`` and ``paged`` (time, episode)."""
    o = out if out is not None else Outcome()
    eps = episodes if episodes is not None else []
    n = len(ts)
    firing = False
    cs: float | None = None  # clear_since (keep_firing_for)
    sev = "warning"
    ep: _Episode | None = None

    def page(i: int, sev_: str) -> None:
        t = ts[i]
        if flaps and _in_intervals(flaps, i):
            return
        if suppressed is not None and suppressed(t, sev_):
            if ep is not None:
                ep.told.append(t)
                if ep.notify_t is None:
                    ep.notify_t = t
            return
        o.notified += 1
        if ep is not None:
            if paged is not None:
                paged.append((t, ep))
            ep.told.append(t)
            if ep.notify_t is None:
                ep.notify_t = t

    def resolve(t: float) -> None:
        nonlocal firing, cs, ep
        firing = False
        cs = None
        if ep is not None:
            ep.end_t = t
            o.firing_s += t - ep.fire_t
            o.resolve_s.append(t - ep.fire_t)
        ep = None

    for i0, i1, subs in runs:
        t0 = ts[i0]
        cont = False
        if firing:
            if cs is not None and t0 - cs >= kff:
                r = bisect_left(ts, cs + kff, 0, i0)
                resolve(ts[r] if r < i0 and ts[r] - cs >= kff else cs + kff)
            else:
                cont = True
                cs = None
        # hold point: first index with `attempts` samples and `for` seconds
        f = bisect_left(ts, t0 + for_s, i0, i1 + 1)
        while f <= i1 and ts[f] - t0 < for_s:
            f += 1
        while f - 1 > i0 and ts[f - 1] - t0 >= for_s:
            f -= 1
        if f < i0 + attempts - 1:
            f = i0 + attempts - 1
        if not cont:
            if f > i1:
                o.pending_s += (ts[i1 + 1] if i1 + 1 < n else ts[i1]) - t0
                continue
            o.pending_s += ts[f] - t0
            firing = True
            # severity at the hold point
            sev = "warning"
            for c0, c1 in subs:
                if c0 <= f <= c1 and ts[f] - ts[c0] >= for_s:
                    sev = "critical"
                    break
            ep = _Episode(ts[f], None, None)
            eps.append(ep)
            o.fired += 1
            page(f, sev)
            start = f
        else:
            if sev == "critical" and not (f == i0 and any(c0 == i0 and for_s <= 0 for c0, _ in subs)):
                sev = "warning"  # held resets with the new run: de-escalated (no page)
            start = f if f <= i1 else i1 + 1
        # escalations (and de-escalations) from the hold point on
        if f <= i1:
            for c0, c1 in subs:
                if c1 < start:
                    continue
                lo_i = max(c0, start)
                e = bisect_left(ts, ts[c0] + for_s, lo_i, c1 + 1)
                while e <= c1 and ts[e] - ts[c0] < for_s:
                    e += 1
                if e <= c1:
                    if sev != "critical":
                        sev = "critical"
                        page(e, sev)
                    if c1 < i1:
                        sev = "warning"
                elif sev == "critical" and c0 > start:
                    sev = "warning"
        # the run ends at a clear sample (or the data ends)
        if i1 + 1 < n:
            tc = ts[i1 + 1]
            if kff > 0:
                cs = tc
            else:
                resolve(tc)
        # else: still firing when the data ends
    if firing and cs is not None:
        end = cs + kff
        if t_end is None or end <= t_end:
            r = bisect_left(ts, end)
            resolve(ts[r] if r < n else end)
    if firing and ep is not None:
        o.firing_s += (t_end if t_end is not None else ts[-1]) - ep.fire_t
    # a firing alert that stops flapping pages then
    if flaps:
        o.flap_episodes += len(flaps)
        for a, b in flaps:
            if b >= n:
                continue
            tb = ts[b]
            for e_ in eps:
                if e_.fire_t < tb and (e_.end_t is None or e_.end_t >= tb):
                    # firing before sample b is processed (a tick resolves first when kff > 0)
                    if kff > 0 and e_.end_t is not None and e_.end_t <= tb:
                        break
                    if suppressed is not None and suppressed(tb, sev):
                        e_.told.append(tb)
                        if e_.notify_t is None:
                            e_.notify_t = tb
                    else:
                        o.notified += 1
                        if paged is not None:
                            paged.append((tb, e_))
                        e_.told.append(tb)
                        if e_.notify_t is None:
                            e_.notify_t = tb
                    break
    return o


def detection_delays(incidents: Sequence[Incident], episodes: Sequence[_Episode], max_delay: float,
                     early: float = math.inf) -> list[float | None]:
    """Per incident: seconds from its start to the page that told someone (None: missed, or
    later than ``max_delay``). An alert that paged more than ``early`` before the start and
    is still firing told nobody about this incident: it is missed."""
    out: list[float | None] = []
    for inc in incidents:
        d: float | None = None
        for e in episodes:
            if e.end_t is not None and e.end_t <= inc.start:
                continue
            if e.notify_t is None:
                # never paged in this episode (flapping until it resolved): not caught by it
                if e.fire_t > inc.start + max_delay:
                    break
                continue
            # told about this incident: paged at most `early` before it, or paged again during it
            # (an escalation to critical)
            told = [t for t in e.told if t >= inc.start - early]
            if told:
                d = max(0.0, min(told) - inc.start)
            break
        out.append(d if d is not None and d <= max_delay else None)
    return out


# --- the search ------------------------------------------------------------------------------


def _tunable(rule: Rule) -> str | None:
    """Why a rule is not tuned (None: it is)."""
    if rule.is_no_data:
        return "dead man's switch: nothing to tune"
    if rule.for_s >= DAY:
        return "its `for` is part of what it means (a day or more)"
    if any(c in rule.metric for c in "*?["):
        return "glob metric"
    return None


def _step(rule: Rule) -> float | None:
    """One grid step for thresholds in the metric's units; None: thresholds are not swept."""
    kind = _METRICS.get(rule.metric, (rule.metric, ""))[1]
    if kind == "bool" or rule.overrides or rule.warn is None:
        return None
    if rule.crit is not None and rule.crit != rule.warn:
        return abs(rule.crit - rule.warn) / 4.0
    if rule.clear is not None and rule.clear != rule.warn:
        return abs(rule.warn - rule.clear) / 2.0
    return abs(rule.warn) * 0.05 or 1.0


def _nice(x: float) -> float:
    if x == 0:
        return 0.0
    r = round(x, max(0, 4 - int(math.floor(math.log10(abs(x))))))
    return float(r)


@dataclass(frozen=True)
class _Triple:
    lo: float  # signed
    clr: float
    crit: float | None
    warn_none: bool
    cand_warn: float | None  # user's sign, for the candidate
    cand_crit: float | None
    cand_clear: float | None


def _triples(rule: Rule, step: float | None, allow_raise: bool) -> list[_Triple]:
    s = 1.0 if rule.op == ">" else -1.0
    warn, crit = rule.warn, rule.crit
    lo_user = warn if warn is not None else crit
    assert lo_user is not None
    _, _, clear_cur = rule.thresholds({})
    cur = _Triple(s * lo_user, s * (clear_cur if clear_cur is not None else lo_user),
                  s * crit if crit is not None and warn is not None else None, warn is None,
                  warn, crit, rule.clear)
    if step is None:
        return [cur]
    out = {cur}
    cur_off = cur.lo - cur.clr
    pct = _METRICS.get(rule.metric, (rule.metric, ""))[1] == "%"

    def ok(*user: float | None) -> bool:  # a percentage past 100 (or below 0) is never reached
        return not pct or all(u is None or 0.0 <= u <= 100.0 for u in user)

    for k in SHIFT_GRID:
        if k > 0 and not allow_raise:
            continue
        lo_s = cur.lo + k * step
        w = _nice(s * lo_s)
        lo_s = s * w
        for c in sorted(set(CLEAR_GRID) | {round(cur_off / step, 6)}):
            clr_s = lo_s - c * step
            clear_user = _nice(s * clr_s)
            clr_s = s * clear_user
            if clr_s > lo_s:
                continue
            for m in CRIT_GRID if crit is not None else (0,):
                if crit is None:
                    if ok(w, clear_user):
                        out.add(_Triple(lo_s, clr_s, None, False, w, None, None if clr_s == lo_s else clear_user))
                    continue
                crit_user = _nice(crit + s * (m + max(k, 0)) * step)
                cr_s = s * crit_user
                if cr_s < lo_s or not ok(w, crit_user, clear_user):
                    continue
                out.add(_Triple(lo_s, clr_s, cr_s, False, w, crit_user, None if clr_s == lo_s else clear_user))
    return sorted(out, key=lambda tr: (tr.lo, -tr.clr, tr.crit or 0.0))


class _Inhibition:
    """When a page on a target is inhibited (host down) or silenced (store silences)."""

    def __init__(self, down: Mapping[str, list[tuple[float, float]]], silences: Sequence[Any]):
        self.down = down
        self.silences = silences

    def for_series(self, rule: Rule, ser: _Series) -> Callable[[float, str], bool] | None:
        down = self.down.get(ser.data.target) if rule.metric != "host.up" else None
        sil = []
        if self.silences:
            base = {**ser.labels, "target": ser.data.target, "rule": rule.name, "alertname": rule.name}
            for s in self.silences:
                ks = set(s.matchers)
                if all(base.get(k) == v for k, v in s.matchers.items() if k != "severity") and ks:
                    sil.append(s)
        if not down and not sil:
            return None

        def suppressed(t: float, sev: str) -> bool:
            if down and _in_intervals(down, t):
                return True
            for s in sil:
                if s.t <= t < s.ends_at and (s.expired_at is None or t < s.expired_at):
                    if s.matchers.get("severity", sev) == sev:
                        return True
            return False

        return suppressed


def _outcome(sers: Sequence[_Series], tr: _Triple, rule: Rule, for_s: float, attempts: int,
             inh: _Inhibition, t_end: float | None, incidents: Mapping[int, list[Incident]],
             max_delay: float, limit: int | None = None,
             prior: Sequence[tuple[float, bool]] = (), early: float = math.inf) -> Outcome | None:
    """Run one candidate over every series; None once its pages (storms grouped, with the
    ``prior`` pages of other parts of the rule) exceed ``limit``."""
    o = Outcome()
    delays: list[float | None] = []
    log = o.page_log
    checked = 0
    for k, ser in enumerate(sers):
        runs = ser.bad_runs(tr.lo, tr.clr, tr.crit, tr.warn_none)
        incs = incidents.get(k)
        if not runs and not incs:
            continue
        flaps = _flaps(ser, tr, rule.flap) if rule.flap else ()
        eps: list[_Episode] = []
        paged: list[tuple[float, _Episode]] = []
        simulate(ser.ts, runs, for_s=for_s, attempts=attempts, kff=rule.keep_firing_for_s, flaps=flaps,
                 suppressed=inh.for_series(rule, ser), t_end=t_end, out=o, episodes=eps, paged=paged)
        if len(eps) > 1 and not rule.flap:
            o.flap_episodes += _alert_flaps(ser, eps)
        if incs:
            delays.extend(detection_delays(incs, eps, max_delay, early))
        _judge_episodes(ser, eps, paged, t_end, o)
        if limit is not None and len(log) + len(prior) > limit and len(log) >= checked * 1.25:
            # the grouped count so far is a lower bound of the total (see group_storms)
            checked = len(log)
            if group_storms([*prior, *log])[0] > limit:
                return None
    o.delays = delays
    o.caught = sum(1 for d in delays if d is not None)
    return o


def _alert_flaps(ser: _Series, eps: Sequence[_Episode]) -> int:
    """Flap episodes of the alert itself (firing <-> resolved, what a person sees), by the
    engine's weighted state change at MEASURE_FLAP, for a rule without flap detection."""
    ts, n = ser.ts, ser.n
    runs = []
    for e in eps:
        i0 = bisect_left(ts, e.fire_t)
        i1 = (bisect_left(ts, e.end_t) if e.end_t is not None else n) - 1
        if i1 >= i0:
            runs.append((i0, i1, ()))
    return len(flap_intervals(n, runs, *MEASURE_FLAP))


def _judge_episodes(ser: _Series, eps: Sequence[_Episode], paged: Sequence[tuple[float, _Episode]],
                    t_end: float | None, o: Outcome) -> None:
    """Per series: which pages are for an incident, time firing outside incidents, and the
    longest stretch firing while the current condition is clear outside incidents (latching)."""
    wins = ser.windows
    last = t_end if t_end is not None else (ser.ts[-1] if ser.n else 0.0)
    for t, ep in paged:
        end = ep.end_t if ep.end_t is not None else math.inf
        o.page_log.append((t, any(ep.fire_t <= e and end >= s_ for s_, e in wins)))
    cov = ser.covered
    for ep in eps:
        a = ep.fire_t
        b = ep.end_t if ep.end_t is not None else max(last, a)
        o.outside_s += (b - a) - _overlap(wins, a, b)
        # uncovered pieces of [a, b]: firing while nothing sustained (nor the current condition) holds
        k = max(0, bisect_right(cov, (a, math.inf)) - 1)
        x = a
        while k < len(cov) and cov[k][0] < b:
            c0, c1 = cov[k]
            if c0 > x:
                o.latch_s = max(o.latch_s, c0 - x)
            x = max(x, c1)
            k += 1
        if b > x:
            o.latch_s = max(o.latch_s, b - x)


def _overlap(iv: Sequence[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(b, e) - max(a, s_)) for s_, e in iv if s_ < b and e > a)


def _merge(iv: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s_, e in sorted(iv):
        if out and s_ <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s_, e))
    return out


def _baseline(ser: _Series) -> float:
    """The series' highest block median outside its incidents (signed), exact where it is
    above the series' floor (the lowest clear any candidate uses); -inf below it. Only
    blocks where at least half the samples are past the floor are looked at sample by sample."""
    ts, n, idx, vals = ser.ts, ser.n, ser.idx, ser.vals
    if not idx or n < BASELINE_MIN_SAMPLES:
        return -math.inf
    t0 = ts[0]
    wins = ser.windows
    best = -math.inf
    blk = int((ts[idx[0]] - t0) // BASELINE_S)
    last = int((ts[idx[-1]] - t0) // BASELINE_S)
    while blk <= last:
        b0, b1 = t0 + blk * BASELINE_S, t0 + (blk + 1) * BASELINE_S
        lo, hi = bisect_left(ts, b0), bisect_left(ts, b1)
        j0, j1 = bisect_left(idx, lo), bisect_left(idx, hi)
        blk += 1
        if j1 == j0:
            if j0 < len(idx):  # skip to the next block with a sample past the floor
                blk = max(blk, int((ts[idx[j0]] - t0) // BASELINE_S))
            continue
        m = hi - lo
        above = vals[j0:j1]
        cut = False
        for s_, e in wins:  # samples inside incidents are not the normal level
            if s_ < b1 and e >= b0:
                m -= bisect_right(ts, e, lo, hi) - bisect_left(ts, s_, lo, hi)
                cut = True
        if cut:
            above = [v for i, v in zip(idx[j0:j1], above) if not _in_closed(wins, ts[i])]
        if m < BASELINE_MIN_SAMPLES:
            continue
        j = (m - 1) // 2 - (m - len(above))  # the lower median's rank among the samples past the floor
        if j >= 0:
            best = max(best, sorted(above)[j])
    return best


def _in_closed(iv: Sequence[tuple[float, float]], t: float) -> bool:
    k = bisect_right(iv, (t, math.inf)) - 1
    return k >= 0 and iv[k][0] <= t <= iv[k][1]


def _flaps(ser: _Series, tr: _Triple, flap: tuple[float, float]) -> list[tuple[int, int]]:
    key = ("flap", tr.lo, tr.clr, tr.crit, tr.warn_none, flap)
    got = ser.cache.get(key)
    if got is None:
        got = ser.cache[key] = flap_intervals(ser.n, ser.bad_runs(tr.lo, tr.clr, tr.crit, tr.warn_none), *flap)
    return got


def _incidents_of(ser: _Series, tr: _Triple, incident_s: float) -> list[Incident]:
    return [Incident(ser.data.target, ser.data.labels, ser.ts[i0], ser.ts[i1])
            for i0, i1, _ in ser.bad_runs(tr.lo, tr.clr, tr.crit, tr.warn_none)
            if ser.ts[i1] - ser.ts[i0] >= incident_s]


def _down_intervals(series: Sequence[SeriesData], rules: Sequence[Rule], tags: Callable[[str], Mapping[str, str]],
                    t_end: float | None) -> dict[str, list[tuple[float, float]]]:
    """When each host was down by the host.up rules as configured (their alerts inhibit the rest)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for rule in rules:
        if rule.metric != "host.up" or not rule.enabled:
            continue
        for sd in series:
            if sd.metric != "host.up":
                continue
            view = {**(tags(sd.target) or {}), **sd.labels, "target": sd.target}
            if rule.match and not matches(rule.match, view):
                continue
            warn, crit, clear = rule.thresholds(view)
            lo = warn if warn is not None else crit
            if lo is None:
                continue
            s = 1.0 if rule.op == ">" else -1.0
            clr = clear if clear is not None else lo
            ser = _Series(sd, s, s * clr, view, {})
            runs = ser.bad_runs(s * lo, s * clr, None, warn is None)
            eps: list[_Episode] = []
            simulate(sd.ts, runs, for_s=rule.for_s, attempts=rule.attempts, kff=rule.keep_firing_for_s,
                     t_end=t_end, episodes=eps)
            iv = out.setdefault(sd.target, [])
            iv.extend((e.fire_t, e.end_t if e.end_t is not None else math.inf) for e in eps)
    for iv in out.values():
        iv.sort()
    return out


def incident_definition(incident_s: float, known: int | None = None, source: str = "--incidents") -> str:
    """Tune's incident definition, in words (printed with every report)."""
    if known is not None:
        return (f"incident = one of the {known} marked in {source} (target, start, end); a rule counts one when "
                f"its current threshold is crossed on that target during it, or when the entry names the rule")
    return (f"incident = a sustained condition: the rule's current condition (its threshold, with its "
            f"hysteresis) held on one series for at least {format_duration(incident_s)}, from the first to "
            f"the last breaching sample (the threshold alone where the series' normal level is past the clear)")


def tune(
    series: Sequence[SeriesData],
    rules: Sequence[Rule],
    *,
    tags: Callable[[str], Mapping[str, str]] | None = None,
    incident_s: float = 600.0,
    max_delay_s: float = 300.0,
    only: Sequence[str] | None = None,
    silences: Sequence[Any] = (),
    known: Sequence[KnownIncident] | None = None,
    known_source: str = "--incidents",
) -> TuneReport:
    """Backtest ``rules`` over ``series`` and propose a quieter setting for each tunable rule.

    ``known``: incidents marked by a person; recall is measured against those instead of
    tune's own definition (a sustained condition)."""
    tags = tags or (lambda _t: {})
    first = min((s.ts[0] for s in series if s.ts), default=None)
    last = max((s.ts[-1] for s in series if s.ts), default=None)
    down = _down_intervals(series, rules, tags, last)
    inh = _Inhibition(down, silences)
    by_metric: dict[str, list[SeriesData]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    report = TuneReport([], sum(len(s.ts) for s in series), len(series), first, last, incident_s, max_delay_s,
                        incident_definition(incident_s, None if known is None else len(known), known_source),
                        None if known is None else len(known))
    span = (last - first) if first is not None and last is not None else 0.0
    if known is None and span < HISTORY_WINDOWS * incident_s:
        report.note = too_little_history(span, f"the incident definition (a condition held "
                                               f"{format_duration(incident_s)})", incident_s)
    for rule in rules:
        if not rule.enabled or (only and rule.name not in only) or _tunable(rule) is not None:
            continue
        if rule.warn is None and rule.crit is None and not rule.overrides:
            continue
        rt = _tune_rule(rule, by_metric.get(rule.metric, []), tags, inh, last, incident_s, max_delay_s, known)
        if rt is not None:
            report.rules.append(rt)
    return report


def too_little_history(span: float, what: str, need_s: float) -> str:
    return (f"too little history to propose anything: {format_duration(round(span))} of samples; {what} needs "
            f"at least {format_duration(round(HISTORY_WINDOWS * need_s))} ({HISTORY_WINDOWS} times as long)")


def _assign_known(known: Sequence[KnownIncident], rule: Rule,
                  parts: Sequence[tuple[_Triple, Sequence[_Series]]]) -> list[dict[int, list[Incident]]]:
    """Each marked incident that concerns ``rule`` on the one series of its target that crosses
    the current threshold the most during it (or, when it names the rule, comes closest)."""
    out: list[dict[int, list[Incident]]] = [{} for _ in parts]
    for ki in known:
        if ki.rules and rule.name not in ki.rules:
            continue
        best: tuple[float, int, int] | None = None
        for p, (tr, ss) in enumerate(parts):
            for k, ser in enumerate(ss):
                if ser.data.target != ki.target:
                    continue
                i0 = bisect_left(ser.ts, ki.start)
                i1 = bisect_right(ser.ts, ki.end)
                if i1 <= i0:
                    continue
                sign = 1.0 if rule.op == ">" else -1.0
                margin = max(sign * v for v in ser.data.vs[i0:i1]) - tr.lo
                if best is None or margin > best[0]:
                    best = (margin, p, k)
        if best is None or (best[0] <= 0 and not ki.rules):
            continue
        _, p, k = best
        ser = parts[p][1][k]
        out[p].setdefault(k, []).append(Incident(ki.target, ser.data.labels, ki.start, ki.end))
    for d in out:
        for lst in d.values():
            lst.sort(key=lambda i: i.start)
    return out


def _tune_rule(rule: Rule, data: Sequence[SeriesData], tags: Callable[[str], Mapping[str, str]], inh: _Inhibition,
               t_end: float | None, incident_s: float, max_delay_s: float,
               known: Sequence[KnownIncident] | None = None) -> RuleTuning | None:
    s = 1.0 if rule.op == ">" else -1.0
    step = _step(rule)
    # each series with its own current thresholds (overrides) when thresholds are not swept
    picked: list[tuple[SeriesData, dict[str, str], dict[str, str], tuple[float | None, float | None, float | None]]] = []
    for sd in data:
        tg = tags(sd.target) or {}
        view = {**tg, **sd.labels, "target": sd.target}
        if rule.match and not matches(rule.match, view):
            continue
        th = rule.thresholds(view)
        if th[0] is None and th[1] is None:
            continue
        picked.append((sd, view, {**tg, **sd.labels}, th))
    if not picked:
        return None
    series_time = sum((sd.ts[-1] - sd.ts[0]) for sd, *_ in picked if len(sd.ts) > 1)
    span = (max(sd.ts[-1] for sd, *_ in picked if sd.ts) - min(sd.ts[0] for sd, *_ in picked if sd.ts)
            if any(sd.ts for sd, *_ in picked) else 0.0)
    cur_cand = Candidate(rule.warn, rule.crit, rule.clear, rule.for_s, rule.attempts)

    sers: list[_Series] = []
    if step is None:
        # thresholds fixed (per series, possibly overridden): only `for` and `attempts` are swept
        groups: dict[_Triple, list[_Series]] = {}
        for sd, view, labels, (w, c, cl) in picked:
            lo = w if w is not None else c
            assert lo is not None
            tr = _Triple(s * lo, s * (cl if cl is not None else lo),
                         s * c if c is not None and w is not None else None, w is None, w, c, cl)
            groups.setdefault(tr, []).append(_Series(sd, s, tr.clr, view, labels))
        cur_parts = list(groups.items())
    else:
        cur_tr = _triples(rule, None, True)[0]
        floor = min(t.clr for t in [cur_tr, *_triples(rule, step, True)])
        sers = [_Series(sd, s, floor, view, labels) for sd, view, labels, _ in picked]
        cur_parts = [(cur_tr, sers)]

    # incidents: the current condition (with its hysteresis) held for incident_s, or the marked ones.
    # On a series whose normal level is past the current clear, that hysteresis never ends (the
    # current setting latches there): its incidents are the threshold alone held that long.
    incs_by_part: list[dict[int, list[Incident]]] = [{} for _ in cur_parts]
    inc_tr: dict[int, _Triple] = {}  # per series (id): the condition its incidents are made of
    for p, (tr, ss) in enumerate(cur_parts):
        plain = replace(tr, clr=tr.lo)
        for k, ser in enumerate(ss):
            got = _incidents_of(ser, plain, incident_s) if known is None else []
            ser.windows = _merge((i.start, i.end) for i in got)
            ser.base = _baseline(ser)
            use = plain if ser.base > tr.clr else tr
            inc_tr[id(ser)] = use
            if known is None:
                got = got if use is plain else _incidents_of(ser, tr, incident_s)
                if got:
                    incs_by_part[p][k] = got
    if known is not None:
        incs_by_part = _assign_known(known, rule, cur_parts)
    incidents = sorted((i for d in incs_by_part for lst in d.values() for i in lst), key=lambda i: i.start)
    allow_raise = bool(incidents)
    # what each series is judged against: its incidents, and where the incident condition holds
    for (tr, ss), incs in zip(cur_parts, incs_by_part):
        for k, ser in enumerate(ss):
            ser.windows = _merge((i.start, i.end) for i in incs.get(k, ()))
            t_ = inc_tr[id(ser)]
            runs = ser.bad_runs(t_.lo, t_.clr, t_.crit, t_.warn_none)
            ts, n = ser.ts, ser.n
            ser.covered = _merge([*ser.windows, *((ts[i0], ts[i1 + 1] if i1 + 1 < n else ts[i1])
                                                   for i0, i1, _ in runs)])
            ser.base = _baseline(ser)
    # a candidate firing this long while nothing sustained holds stays up between incidents
    latch_limit = incident_s + rule.keep_firing_for_s

    def clear_latch(gparts: list[tuple[_Triple, list[_Series]]]) -> float | None:
        """The highest baseline (user's sign) past the candidate's clear, None when every clear is reached."""
        worst = None
        for tr, ss in gparts:
            for ser in ss:
                if ser.base > tr.clr and (worst is None or ser.base > worst):
                    worst = ser.base
        return None if worst is None else s * worst

    def score(gparts: list[tuple[_Triple, list[_Series]]], for_s: float, attempts: int,
              limit: int | None) -> Outcome | None:
        total = Outcome()
        for (tr, ss), incs in zip(gparts, incs_by_part):
            o = _outcome(ss, tr, rule, for_s, attempts, inh, t_end, incs, max_delay_s, limit, total.page_log,
                         latch_limit)
            if o is None:
                return None
            total.add(o)
        total.pages, total.true_pages = group_storms(total.page_log)
        total.latched = total.latch_s > latch_limit
        base = clear_latch(gparts)
        total.clear_latches, total.baseline = base is not None, base
        return total

    def catches(gparts: list[tuple[_Triple, list[_Series]]], for_s: float, attempts: int) -> list[float | None] | None:
        """Detection delays of every incident, None if one is missed (only incident series run)."""
        delays: list[float | None] = []
        for (tr, ss), incs in zip(gparts, incs_by_part):
            for k, lst in incs.items():
                ser = ss[k]
                eps: list[_Episode] = []
                flaps = _flaps(ser, tr, rule.flap) if rule.flap else ()
                simulate(ser.ts, ser.bad_runs(tr.lo, tr.clr, tr.crit, tr.warn_none), for_s=for_s, attempts=attempts,
                         kff=rule.keep_firing_for_s, flaps=flaps, suppressed=inh.for_series(rule, ser),
                         t_end=t_end, episodes=eps)
                d = detection_delays(lst, eps, max_delay_s, latch_limit)
                if any(x is None for x in d):
                    return None
                delays += d
        return delays

    old = score(cur_parts, rule.for_s, rule.attempts, None)
    assert old is not None
    rt = RuleTuning(rule, len(picked), series_time, incidents, cur_cand, old, span_s=span)
    if known is None and span < HISTORY_WINDOWS * incident_s:
        rt.note = too_little_history(span, f"the incident definition (a condition held "
                                           f"{format_duration(incident_s)})", incident_s)
        rt.short_history = True
        return rt

    for_cap = max(max_delay_s, rule.for_s)
    for_grid = sorted({f for f in FOR_GRID if f <= for_cap} | {rule.for_s}, reverse=True)
    att_grid = sorted(set(ATTEMPTS_GRID) | {rule.attempts})

    if step is not None:
        trs = sorted(_triples(rule, step, allow_raise), key=lambda t: (-t.lo, t.clr, -(t.crit or 0.0)))
        cand_parts = [[(tr, sers)] for tr in trs]
    else:
        cand_parts = [cur_parts]

    # fewer pages must not come from alerts that stay up: cap the time firing outside incidents
    outside_cap = FIRING_SLACK * old.outside_s + 0.001 * series_time
    rejected: dict[str, int] = {}

    def reject(why: str) -> None:
        rejected[why] = rejected.get(why, 0) + 1

    best: tuple[tuple[float, ...], Candidate, Outcome] | None = None
    # the current setting competes too (when it catches everything and does not latch)
    cur_delays = catches(cur_parts, rule.for_s, rule.attempts)
    if cur_delays is not None and old.resolves:
        best = ((old.pages, sum(d or 0.0 for d in cur_delays), 0.0), cur_cand, old)
    evaluated = 1
    for gparts in cand_parts:
        tr = gparts[0][0]
        if clear_latch(gparts) is not None:
            reject("clear on the normal side of the baseline")
            continue
        for attempts in att_grid:
            for for_s in for_grid:  # longest first: the first that catches everything pages least
                evaluated += 1
                delays = catches(gparts, for_s, attempts)
                if delays is None:
                    continue
                if step is not None:
                    cand = Candidate(tr.cand_warn, tr.cand_crit, tr.cand_clear, for_s, attempts)
                else:
                    cand = Candidate(rule.warn, rule.crit, rule.clear, for_s, attempts)
                limit = int(best[0][0]) if best is not None else None
                o = score(gparts, for_s, attempts, limit)
                # shorter `for` only pages more, fires longer and flaps as much: stop at the first
                if o is None:
                    break  # worse than the best so far
                if o.latched:
                    reject("latches (stays firing between incidents)")
                elif o.flap_episodes > old.flap_episodes:
                    reject("adds flap episodes")
                elif o.outside_s > outside_cap:
                    reject("fires longer outside incidents")
                else:
                    key = (float(o.pages), sum(d or 0.0 for d in delays), _distance(cand, cur_cand, step))
                    if best is None or key < best[0]:
                        best = (key, cand, o)
                break
    rt.evaluated = evaluated
    rt.rejected = rejected
    if best is None:
        rt.note = ("no setting on the grid catches every incident within --max-delay without latching or "
                   "adding flap episodes; kept as is")
        return rt
    prop, new = best[1], best[2]
    if prop != cur_cand and span < HISTORY_WINDOWS * prop.for_s:
        rt.note = too_little_history(span, f"judging `for {format_duration(prop.for_s)}`", prop.for_s)
        rt.short_history = True
        return rt
    rt.proposal, rt.new = prop, new
    if not old.resolves:
        rt.note = "the current setting latches (see 'resolves between incidents' and 'clear vs baseline')"
    if cur_delays is None and incidents:
        rt.note = (f"the current setting misses {len(incidents) - old.caught} of {len(incidents)} incidents "
                   "within --max-delay: the proposal pages sooner, so it may page more")
    if not incidents:
        rt.note = (("no sustained incident in this history" if known is None else
                    "no marked incident concerns this rule") + ": thresholds not raised and `for` kept within "
                   "--max-delay, so a breach of today's threshold is still caught in time")
    return rt


def _distance(c: Candidate, cur: Candidate, step: float | None) -> float:
    d = abs(c.for_s - cur.for_s) / 60.0 + abs(c.attempts - cur.attempts)
    if step:
        for a, b in ((c.warn, cur.warn), (c.crit, cur.crit), (c.clear, cur.clear)):
            if a is not None and b is not None:
                d += abs(a - b) / step
            elif a != b:
                d += 1.0
    return d


# --- writing proposals into the config ---------------------------------------------------


def apply_to_config(doc: MutableMapping[str, Any], tunings: Sequence[RuleTuning]) -> list[str]:
    """Write each changed proposal into its [[rules]] entry of the TOML document ``doc``, in
    place (a new entry named like the built-in when there is none, with the built-in's metric
    and thresholds, which check-config requires). Every other key and table is untouched. A
    built-in with per-target thresholds (overrides) is not written: an entry would replace
    them. Returns one line per rule. ``doc`` is a tomlkit document (config.update_config),
    so comments stay; a plain dict works too."""
    rules = doc.get("rules")
    if rules is None:
        rules = tomlkit.aot() if isinstance(doc, tomlkit.TOMLDocument) else []
    changes: list[str] = []
    for rt in tunings:
        if not rt.changed or rt.proposal is None:
            continue
        p, cur, rule = rt.proposal, rt.current, rt.rule
        entry = next((e for e in rules if isinstance(e, dict) and e.get("name") == rule.name), None)
        is_new = entry is None
        if entry is None:
            if rule.overrides:
                # a [[rules]] entry must carry warn or crit, and those replace the per-target thresholds
                changes.append(f"{rule.name}: not written: its thresholds are per target (SLOs, max_age); "
                               f"an entry would replace them. Proposed: {p.describe(rule.op)}")
                continue
            # a new entry for a built-in: check-config wants metric and warn/crit; thresholds as they are
            entry = {"name": rule.name, "metric": rule.metric}
            if rule.op != ">":
                entry["op"] = rule.op
            for key, val in (("warn", cur.warn), ("crit", cur.crit)):
                if val is not None:
                    entry[key] = val
            if cur.clear is not None:
                entry["clear"] = cur.clear
        done = []
        for key, new, old in (("warn", p.warn, cur.warn), ("crit", p.crit, cur.crit), ("clear", p.clear, cur.clear)):
            if new != old:
                if new is None:
                    entry.pop(key, None)
                else:
                    entry[key] = int(new) if float(new).is_integer() and isinstance(entry.get(key, 0), int) else new
                done.append(f"{key} {old if old is not None else '-'} -> {new if new is not None else '-'}")
        if p.for_s != cur.for_s:
            entry["for"] = format_duration(p.for_s)
            done.append(f"for {format_duration(cur.for_s)} -> {format_duration(p.for_s)}")
        if p.attempts != cur.attempts:
            entry["attempts"] = p.attempts
            done.append(f"attempts {cur.attempts} -> {p.attempts}")
        changes.append(f"{rule.name}: " + ", ".join(done))
        if is_new:  # whole, so a [[rules]] table is written with its keys together
            rules.append(new_table(entry) if isinstance(rules, tomlkit.items.AoT) else entry)
    if rules and "rules" not in doc:
        doc["rules"] = rules
    return changes


def rule_metrics(rules: Sequence[Rule]) -> Callable[[str], bool]:
    names = {r.metric for r in rules if r.enabled and r.name != NO_DATA}
    names.add("host.up")
    return names.__contains__
