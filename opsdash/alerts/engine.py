"""The alert state machine: one per (rule, target, labels), every anti-noise tool in it.

    ok ──bad──▶ pending ──held `for` and `attempts` polls──▶ firing ──clear──▶ resolved (= ok)
     ▲             │                                             │
     └────clear────┘                      keep_firing_for: stays firing this long after clearing

Per sample, in order:

1. **level** with hysteresis: while the condition holds, it keeps holding until
   the value crosses ``clear`` (``> clear`` for op ">", ``< clear`` for "<");
   from ok it starts only strictly past the threshold (exactly at the threshold
   is not a breach; exactly at ``clear`` is a recovery). Level 2 (critical)
   when past ``crit``.
2. **flap detection** (Nagios): the last 21 levels, the 20 changes between
   them weighted linearly from 0.75 (oldest) to 1.25 (newest); flapping starts
   at ``>= high`` percent and stops at ``<= low``. A flapping alert is shown as
   flapping, its ok<->pending churn is not reported, and it does not page until
   it settles (a firing alert that stops flapping pages then).
3. **state**: pending from the first bad sample; firing once the condition
   held at every evaluation for ``for`` seconds (exactly ``for`` fires, as in
   Prometheus) *and* for ``attempts`` consecutive polls (Icinga's hard state);
   critical the same way from the first sample past ``crit``; a clear sample
   drops pending to ok at once, and firing to resolved after
   ``keep_firing_for`` (exactly ``keep_firing_for`` resolves).

Inhibition: while a rule on ``host.up`` or ``endpoint.up`` fires for a target,
the target's other alerts are marked inhibited (shown, never paged). Dead man's switch (the
``no-data`` rule): ``tick(now)`` fires for a series with no sample for 3x its
observed interval, and its next sample resolves it.

Holds (``suppressed_by``): an alert a ``[[maintenance]]`` window covers says
"maintenance NAME", and an alert of a target whose parent is down (``depends_on``,
or the ``jump`` host it is reached through; alerts/dependencies.py) says "PARENT
down"; while the parent's down alert is only pending, "PARENT down?". Such an alert
is shown and never paged; the notifier (level-triggered) pages it when the hold
lifts and it still fires, so a window or a parent never swallows an outage. After
the parent recovers, its dependants stay held for one poll interval plus their
rule's ``for``: time for their own alerts to clear. The parent's summary names the
dependants it holds ("12 dependants suppressed: ..."). Holds are judged when an
alert changes, and for every open alert when a window starts or ends, a parent
goes down or comes back, or a hold-off ends (``_refresh_holds``).

Time comes only from the samples and from ``tick(now)``: no wall clock here,
so tests use a fake clock and ``replay`` runs on recorded time.

The store (when given) learns every change through ``AlertWrites``: a change
takes effect in memory and is held there, dirty, until a write commits it.
By default ``observe`` and ``tick`` write at their end (write-through); the
collector sets ``write_through = False`` and commits ``take_writes()`` with
each poll's samples from its writer thread, so no store call (nor a locked
store's busy wait) runs on its event loop. A write that fails keeps the
changes (``put_back``) for the next one: memory and store never disagree for
longer than the store is unavailable, and a recovery while the store was
locked or full is in the store at its next write.

The hot path (``_sample``) allocates nothing per sample for a series in the
ok state: no Sample, no event, no store write.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from .. import maintenance as _maint
from ..config import MaintenanceConfig, format_duration
from ..kinds.registry import metrics as kind_metrics
from ..model import Alert, Sample
from ..errors import StoreError
from ..store import AlertWrites, Store
from .dependencies import Dependencies
from .rules import NO_DATA, Rule, matches

__all__ = ["METRIC_NAMES", "AlertEngine", "TransitionEvent", "alert_id", "group_alerts"]

OK, PENDING, FIRING = 0, 1, 2
# Sample gaps below this are bursts, not an arrival interval (see _sample).
MIN_INTERVAL = 1.0
_STATE_NAME = ("ok", "pending", "firing")
WARNING, CRITICAL = "warning", "critical"

_FLAP_MASK = (1 << 20) - 1
_FLAP_TOTAL = 1520.0  # sum of the 20 weights (0.75..1.25) in units of 1/76, over 100 percent


def alert_id(rule: str, target: str, labels: Mapping[str, str] | None = None) -> str:
    """A stable short id for (rule, target, labels): what `opsdash ack ID` takes."""
    key = json.dumps([rule, target, dict(sorted((labels or {}).items()))], separators=(",", ":"))
    return hashlib.sha1(key.encode()).hexdigest()[:10]


@dataclass(slots=True)
class TransitionEvent:
    """One transition of one alert. ``to_state`` is ok/pending/firing/resolved, or
    "flapping" when flapping starts (``from_state`` "flapping" when it stops)."""

    t: float
    alert_id: str
    rule: str
    target: str
    from_state: str
    to_state: str
    severity: str
    value: float | None
    reason: str
    labels: dict[str, str] = field(default_factory=dict)
    flapping: bool = False
    inhibited: bool = False
    notify: bool = False  # should this page someone (fires, escalates, or settles while firing)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "t": self.t, "rule": self.rule, "target": self.target, "from": self.from_state,
            "to": self.to_state, "severity": self.severity, "value": self.value, "reason": self.reason,
            "id": self.alert_id,
        }
        if self.labels:
            d["labels"] = self.labels
        d["flapping"] = self.flapping
        d["inhibited"] = self.inhibited
        d["notify"] = self.notify
        return d


# --- formatting values for reasons ----------------------------------------------------

# metric -> (what to call it, unit kind): every kind's declared metrics (kinds/registry.py),
# the built-in categories' (kinds/health.py, endpoints.py, caches.py, patches.py, backups/)
# and the probe kinds' alike.
_METRICS: dict[str, tuple[str, str]] = {m.name: (m.label, m.unit) for m in kind_metrics()}
# Every metric opsdash emits (docs/contracts.md "Metrics"): what a rule's `metric` may name.
METRIC_NAMES: tuple[str, ...] = tuple(sorted(_METRICS))


def _num(v: float) -> str:
    if v != v:  # NaN
        return "NaN"
    if abs(v) >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.3g}"


def _fmt(kind: str, v: float) -> str:
    if kind == "ms":
        return f"{_num(v)} ms"
    if kind == "%":
        return f"{_num(v)}%"
    if kind == "frac":
        return f"{_num(v * 100)}%"
    if kind == "dur":
        return format_duration(max(0.0, round(v))) if v > 0 else "0s"
    return _num(v)


def _clock(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))


def _dur(s: float) -> str:
    """A span as people say it: whole seconds from 1 s up ("20s", not "20004ms": the
    poll's own jitter is noise), milliseconds below."""
    s = max(0.0, s)
    return format_duration(round(s) if s >= 1 else round(s, 3))


# Words for a 0/1 metric in a summary: (when 1, when 0), as its kind declares them.
# Others read "name: yes/no".
_BOOL_WORDS = {m.name: m.words for m in kind_metrics() if m.words}


def _subject(target: str, labels: Mapping[str, str]) -> str:
    """Who an alert is about: the target, and the cache, backup or vantage of the series
    (three caches on one host would otherwise read as three identical lines)."""
    out = target
    if labels.get("cache"):
        out += f" cache {labels['cache']}"
    if labels.get("backup"):
        out += f" backup {labels['backup']}"
    if labels.get("vantage"):
        out += f" from {labels['vantage']}"
    return out


class _State:
    """The machine for one (rule, target, labels). Slots only: there can be many."""

    __slots__ = (
        "rule", "id", "target", "labels", "metric", "name", "kind",
        "sign", "lo", "clr", "crit", "warn_none", "for_s", "attempts", "kff", "flap_lo", "flap_hi",
        "state", "bad", "count", "bad_since", "crit_since", "clear_since", "severity", "since", "value", "t",
        "fired", "flast", "fbits", "fsum", "fcnt", "flapping", "inhibited", "dirty", "series",
        "suppressed", "holding",
    )

    def __init__(self, rule: Rule, target: str, labels: dict[str, str], metric: str,
                 thresholds: tuple[float | None, float | None, float | None], aid: str):
        self.rule = rule
        self.id = aid
        self.target = target
        self.labels = labels
        self.metric = metric
        name, kind = _METRICS.get(metric, (metric, ""))
        if "mount" in labels and metric == "host.disk_percent":
            name = f"disk {labels['mount']}"
        self.name, self.kind = name, kind
        warn, crit, clear = thresholds
        s = 1.0 if rule.op == ">" else -1.0
        self.sign = s
        lo = warn if warn is not None else crit
        self.lo = s * lo if lo is not None else float("inf")
        self.clr = s * clear if clear is not None else self.lo
        self.crit = s * crit if crit is not None else None
        self.warn_none = warn is None
        self.for_s = rule.for_s
        self.attempts = rule.attempts
        self.kff = rule.keep_firing_for_s
        self.flap_lo, self.flap_hi = rule.flap if rule.flap else (None, None)
        self.state = OK
        self.bad = False
        self.count = 0
        self.bad_since: float | None = None
        self.crit_since: float | None = None
        self.clear_since: float | None = None
        self.severity = WARNING
        self.since = 0.0
        self.value: float | None = None
        self.t = 0.0
        self.fired = False
        self.flast = -1
        self.fbits = 0
        self.fsum = 0
        self.fcnt = 0
        self.flapping = False
        self.inhibited = False
        self.dirty = False
        self.series: Any = None
        self.suppressed: str | None = None  # why it is held back (a window, a parent down): Alert.suppressed_by
        self.holding: tuple[str, ...] = ()  # a down parent: the dependants it holds (named in its summary)

    # thresholds back in the user's sign, for reasons
    def threshold(self, which: str) -> float:
        v = {"lo": self.lo, "clr": self.clr, "crit": self.crit}[which]
        return (v or 0.0) * self.sign

    def condition(self, v: float | None, level: int) -> str:
        """'p95 417 ms > 400 ms' (breach), 'p95 350 ms, clears <= 300 ms' (held by hysteresis)
        or 'p95 290 ms <= 300 ms (clear)' (cleared)."""
        if v is None:
            return self.name
        if self.kind == "bool":
            return f"{self.name}: {'yes' if v else 'no'}"
        op = self.rule.op
        back = "<=" if op == ">" else ">="
        if level >= 1:
            # Name the threshold the value is over now. An alert that hysteresis holds on (the
            # value fell back under the threshold, not yet to `clear`) says so: "error rate
            # 16.7% > 25%" read as nonsense at 3 AM.
            signed = v * self.sign
            if level == 2 and self.crit is not None and signed > self.crit:
                return f"{self.name} {_fmt(self.kind, v)} {op} {_fmt(self.kind, self.threshold('crit'))}"
            if signed <= self.lo and self.clr != self.lo:
                return f"{self.name} {_fmt(self.kind, v)}, clears {back} {_fmt(self.kind, self.threshold('clr'))}"
            return f"{self.name} {_fmt(self.kind, v)} {op} {_fmt(self.kind, self.threshold('lo'))}"
        which = "clr" if self.clr != self.lo else "lo"
        suffix = " (clear)" if which == "clr" else ""
        return f"{self.name} {_fmt(self.kind, v)} {back} {_fmt(self.kind, self.threshold(which))}{suffix}"

    def flap_percent(self) -> float:
        return self.fsum / _FLAP_TOTAL * 100.0


class _Series:
    __slots__ = ("target", "metric", "labels", "states", "last_t", "interval", "nodata")

    def __init__(self, target: str, metric: str, labels: dict[str, str]):
        self.target = target
        self.metric = metric
        self.labels = labels
        self.states: tuple[_State, ...] = ()
        self.last_t: float | None = None
        self.interval: float | None = None
        self.nodata: _State | None = None


def _flap_history(bits: int) -> tuple[int, int]:
    """(weighted sum in 1/76 units, count) of a 20-bit change history; bit j = age j (0 newest)."""
    s = c = 0
    for j in range(20):
        if bits >> j & 1:
            s += 95 - 2 * j
            c += 1
    return s, c


class AlertEngine:
    """Evaluates samples against rules; keeps one state machine per (rule, target, labels).

    ``store``: where alerts and transitions are written (and restored from on
    start). ``tags``: a target's tags, for rule ``match`` and alert labels.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        store: Store | None = None,
        tags: Callable[[str], Mapping[str, str]] | None = None,
        windows: Sequence[MaintenanceConfig] = (),
        dependencies: Dependencies | None = None,
    ):
        self.rules = [r for r in rules if r.enabled]
        self._windows = tuple(windows)
        self._deps = dependencies if dependencies else None
        self._active: list[_maint.Occurrence] = []  # the windows running in [_win_from, _win_next)
        self._win_from = float("inf")
        self._win_next = float("-inf")
        self._holds_next = float("-inf")  # when a hold may change by itself (a window, a hold-off ending)
        self._holds_dirty = True  # a parent went down or came back: judge every open alert again
        self._recovered: dict[str, float] = {}  # parent -> when its down alert resolved (the hold-off)
        self.store = store
        self._tags = tags or (lambda _t: {})
        self._details: Callable[[str, str, Mapping[str, str]], str | None] = lambda _t, _m, _l: None
        self._by_metric: dict[str, list[Rule]] = {}
        self._glob_rules: list[Rule] = []
        self._nodata_rule: Rule | None = None
        for r in self.rules:
            if r.is_no_data:
                self._nodata_rule = r
            elif any(c in r.metric for c in "*?["):
                self._glob_rules.append(r)
            else:
                self._by_metric.setdefault(r.metric, []).append(r)
        # A target that is down (host or endpoint) pages once: its other alerts are inhibited.
        self._inhibitors = {r.name for r in self.rules if r.metric in ("host.up", "endpoint.up")}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._nodata_series: list[_Series] = []
        self._by_target: dict[str, list[_State]] = {}
        self._live: dict[str, _State] = {}  # pending, firing or flapping, by alert id
        self._kff: set[_State] = set()
        self._down: set[str] = set()  # targets whose host.up / endpoint.up alert fires
        self._restored: dict[str, Alert] = {}
        self._out: list[TransitionEvent] = []
        self._writes = AlertWrites()  # changes not yet committed to the store
        self.write_through = True  # write at the end of observe/tick; the collector batches instead
        self.store_error: str | None = None  # why the last write failed (None: the store has it all)
        self.samples_seen = 0
        self._now = 0.0  # the latest time seen (samples, ticks): the engine's clock
        if store is not None:
            self._restore()

    def use_tags(self, tags: Callable[[str], Mapping[str, str]]) -> None:
        """Look up target tags here from now on: the collector's live view, which adds
        a Prometheus target's labels to the config's tags. Read when a series is new."""
        self._tags = tags

    def use_details(self, details: Callable[[str, str, Mapping[str, str]], str | None]) -> None:
        """Ask here why a series is bad when its summary is written: a 0/1 sample such as
        ``backup.restore_ok`` carries no reason, the probe's result does ("restore test
        failed: sha256 mismatch"). ``details(target, metric, labels)`` returns it or None."""
        self._details = details

    # --- public API ---------------------------------------------------------------------

    def observe(self, samples: Iterable[Sample]) -> list[TransitionEvent]:
        """Evaluate each sample at its own time; returns the transitions it caused."""
        out = self._out = []
        sample = self._sample
        for s in samples:
            sample(s.t, s.target, s.metric, s.value, s.labels)
        if self._holds_dirty or self._now >= self._holds_next:
            self._refresh_holds(self._now)
        if self.write_through and self._writes:
            self.flush()
        return out

    def tick(self, now: float) -> list[TransitionEvent]:
        """Time passed without samples: keep_firing_for expiries and the dead man's switch."""
        out = self._out = []
        if now > self._now:
            self._now = now
        for st in sorted(self._kff, key=lambda s: s.clear_since or 0.0):
            if st.clear_since is not None and now - st.clear_since >= st.kff:
                self._resolve(st, now, st.value)
        nd = self._nodata_rule
        if nd is not None:
            mult = nd.warn if nd.warn is not None and nd.warn > 0 else 3.0
            for ser in self._nodata_series:
                st = ser.nodata
                iv = ser.interval
                if (st is not None and st.state == FIRING) or iv is None or ser.last_t is None:
                    continue
                if ser.target in self._down:
                    continue  # a down host explains its silence (and its backoff): host-down says so
                gap = now - ser.last_t
                if gap > mult * iv:
                    self._fire_nodata(self._nodata_state(ser), ser, now, gap)
        if self._holds_dirty or now >= self._holds_next:
            self._refresh_holds(now)
        if self.store is not None:
            rows = self._writes.rows
            for st in list(self._live.values()):
                if st.dirty:
                    st.dirty = False
                    rows[st.id] = (self._alert(st), now)
            if self.write_through and self._writes:
                self.flush()
        return out

    # --- the store: changes held until written ---------------------------------------------

    @property
    def unwritten(self) -> int:
        """How many alert rows and transitions wait for the store."""
        return len(self._writes)

    def take_writes(self) -> AlertWrites:
        """The changes since the last take, for the caller to commit (``store.write_poll``);
        hand them back with ``put_back`` if the write fails."""
        w, self._writes = self._writes, AlertWrites()
        if w.resolved:
            # Until-resolved silences end when nothing they match still fires, judged now.
            w.firing = [self._full_labels(o) for o in self._live.values() if o.state == FIRING]
        return w

    def put_back(self, w: AlertWrites, error: str | None = None) -> None:
        """A batch that was not written: kept, older than anything changed since."""
        self._writes = w.merge_newer(self._writes)
        self.store_error = error

    def flush(self) -> bool:
        """Write the held changes now (write-through mode); False if the store refused them,
        which keeps them for the next try."""
        if self.store is None or not self._writes:
            return True
        w = self.take_writes()
        try:
            self.store.write_alerts(w)
        except StoreError as e:
            self.put_back(w, str(e))
            return False
        self.store_error = None
        return True

    def active(self) -> list[Alert]:
        """Alerts pending, firing or flapping (and restored ones not re-evaluated yet)."""
        out = [self._alert(st) for st in self._live.values()]
        out.extend(self._restored.values())
        if self.store is not None:
            now = self._now or None  # None: the store's clock (nothing evaluated yet)
            enrich = {a.id: a for a in self.store.alerts(states=("pending", "firing"), now=now)}
            for a in out:
                e = enrich.get(a.id)
                if e is not None:
                    a.acked, a.ack_note, a.ack_by, a.silenced, a.tier = e.acked, e.ack_note, e.ack_by, e.silenced, e.tier
        out.sort(key=lambda a: (a.state != "firing", a.severity != CRITICAL, a.since))
        return out

    # --- the hot path ---------------------------------------------------------------------

    def _sample(self, t: float, target: str, metric: str, value: float, labels: Mapping[str, str] | None) -> None:
        self.samples_seen += 1
        key = (target, metric, tuple(sorted(labels.items()))) if labels else (target, metric)
        ser = self._series.get(key)
        if ser is None:
            ser = self._new_series(key, target, metric, dict(labels) if labels else {})
        lt = ser.last_t
        if lt is not None:
            gap = t - lt
            if gap < 0:
                return  # out of order: dropped, as Prometheus does
            if t > self._now:
                self._now = t
            iv = ser.interval
            # Learn the arrival interval, but not from bursts: two probes writing one
            # metric in the same poll (a backup's freshness and its restore test) land
            # a fraction of a second apart, and a 0.3 s "interval" would make the dead
            # man's switch fire between every two polls.
            if iv is None:
                if gap >= MIN_INTERVAL:
                    ser.interval = gap
            elif 0.5 * iv <= gap <= 3.0 * iv:
                ser.interval = iv + 0.2 * (gap - iv)
            nd = ser.nodata
            if nd is not None and nd.state == FIRING:
                self._nodata_back(nd, t, gap)
        else:
            if t > self._now:
                self._now = t
            nd = ser.nodata
            if nd is not None and nd.state == FIRING:  # taken over from the last run: the data is back
                # It fired ``value`` seconds after the last sample, at ``since``.
                self._nodata_back(nd, t, t - nd.since + (nd.value or 0.0))
        ser.last_t = t
        for st in ser.states:
            # inline fast path: ok, not flapping-tracked, and still fine
            if st.state == OK and st.flap_hi is None and not st.bad:
                if (value if st.sign > 0 else -value) <= st.lo:
                    continue
            self._eval(st, t, value)

    def _new_series(self, key: tuple[Any, ...], target: str, metric: str, labels: dict[str, str]) -> _Series:
        ser = _Series(target, metric, labels)
        tags = self._tags(target) or {}
        view = {**tags, **labels, "target": target}
        alert_labels = {**tags, **labels}
        states = []
        candidates = list(self._by_metric.get(metric, ()))
        candidates += [r for r in self._glob_rules if matches({"m": r.metric}, {"m": metric})]
        for r in candidates:
            if r.match and not matches(r.match, view):
                continue
            th = r.thresholds(view)
            if th[0] is None and th[1] is None:
                continue
            st = _State(r, target, alert_labels, metric, th, alert_id(r.name, target, labels))
            st.series = ser
            self._adopt(st)
            states.append(st)
        ser.states = tuple(states)
        nd = self._nodata_rule
        if nd is not None and matches({"m": nd.metric}, {"m": metric}) and (not nd.match or matches(nd.match, view)):
            self._nodata_series.append(ser)
            if self._restored:  # a no-data alert of the last run may be this series': take it over now
                self._nodata_state(ser)
        self._series[key] = ser
        return ser

    def _nodata_state(self, ser: _Series) -> _State:
        """The series' dead man's switch, made when it first fires (or takes over a restored
        alert): most series never go silent, and at 5000 hosts one state and labels dict for
        each of their 50k series held 27 MB."""
        st = ser.nodata
        if st is None:
            nd = self._nodata_rule
            assert nd is not None
            alert_labels = {**(self._tags(ser.target) or {}), **ser.labels, "metric": ser.metric}
            st = _State(nd, ser.target, alert_labels, ser.metric, (None, None, None),
                        alert_id(NO_DATA, ser.target, {**ser.labels, "metric": ser.metric}))
            st.series = ser
            st.name, st.kind = ser.metric, "dur"
            st.inhibited = ser.target in self._down
            self._adopt(st)
            ser.nodata = st
        return st

    def _adopt(self, st: _State) -> None:
        self._by_target.setdefault(st.target, []).append(st)
        a = self._restored.pop(st.id, None)
        if a is None:
            return
        st.state = FIRING if a.state == "firing" else PENDING
        st.severity = a.severity
        st.since = a.since
        st.value = a.value
        st.t = a.since
        st.fired = st.state == FIRING
        st.bad = True
        st.bad_since = a.since
        st.count = st.attempts if st.state == FIRING else 1
        st.crit_since = a.since if a.severity == CRITICAL else None
        st.inhibited = a.inhibited
        if a.flapping and st.flap_hi is not None:
            # the history is not stored: assume it alternated, so it must settle to stop flapping
            st.flapping = True
            st.fbits = 0b01010101010101010101
            st.fsum, st.fcnt = _flap_history(st.fbits)
            st.flast = 1
        self._live[st.id] = st

    def _eval(self, st: _State, t: float, v: float) -> None:
        vs = v if st.sign > 0 else -v
        st.value = v
        st.t = t
        if vs > (st.clr if st.bad else st.lo):
            crit = st.crit
            lvl = 2 if st.warn_none or (crit is not None and vs > crit) else 1
        else:
            lvl = 0
        if st.state != OK:
            st.dirty = True
        if st.flap_hi is not None:
            self._flap(st, t, lvl)
        state = st.state
        if lvl:
            st.bad = True
            st.count += 1
            if st.bad_since is None:
                st.bad_since = t
            if lvl == 2:
                if st.crit_since is None:
                    st.crit_since = t
            else:
                st.crit_since = None
            held = st.count >= st.attempts and t - st.bad_since >= st.for_s
            cs = st.crit_since
            sev = CRITICAL if cs is not None and t - cs >= st.for_s and held else WARNING
            if state == FIRING:
                if st.clear_since is not None:
                    st.clear_since = None
                    self._kff.discard(st)
                if sev != st.severity:
                    old = st.severity
                    st.severity = sev
                    word = "escalated" if sev == CRITICAL else "de-escalated"
                    self._emit(st, t, "firing", "firing",
                               f"{word} to {sev} at {_clock(t)}: {st.condition(v, lvl)}"
                               + (f" for {_dur(t - cs)}" if sev == CRITICAL and cs is not None and st.for_s else ""),
                               notify=sev == CRITICAL)
                return
            if held:
                st.state = FIRING
                st.severity = sev
                st.since = t
                st.fired = True
                held_for = t - (cs if sev == CRITICAL and cs is not None else st.bad_since)
                reason = f"firing since {_clock(t)}: {st.condition(v, 2 if sev == CRITICAL else 1)}"
                if st.for_s:
                    reason += f" for {_dur(held_for)}"
                if st.attempts > 1:
                    reason += f", {st.count} polls in a row (attempts {st.attempts})"
                self._emit(st, t, _STATE_NAME[state], "firing", reason, notify=True)
            elif state == OK:
                st.state = PENDING
                st.severity = CRITICAL if lvl == 2 else WARNING
                st.since = t
                why = []
                if st.attempts > 1:
                    why.append(f"soft {st.count}/{st.attempts}")
                if st.for_s:
                    why.append(f"must hold for {_dur(st.for_s)}")
                self._emit(st, t, "ok", "pending",
                           f"pending since {_clock(t)}: {st.condition(v, lvl)}" + (f" ({', '.join(why)})" if why else ""))
            else:
                st.severity = CRITICAL if lvl == 2 else WARNING
            return
        # the condition does not hold
        st.bad = False
        st.count = 0
        st.crit_since = None
        if state == OK:
            st.bad_since = None
            return
        if state == PENDING:
            bs = st.bad_since if st.bad_since is not None else t
            st.bad_since = None
            st.state = OK
            self._emit(st, t, "pending", "ok",
                       f"cleared at {_clock(t)} after {_dur(t - bs)}"
                       + (f", before for {_dur(st.for_s)}" if st.for_s else "")
                       + f": {st.condition(v, 0)}")
            return
        st.bad_since = None
        if st.kff > 0:
            if st.clear_since is None:
                st.clear_since = t
                self._kff.add(st)
            if t - st.clear_since < st.kff:
                return
        self._resolve(st, t, v)

    def _flap(self, st: _State, t: float, lvl: int) -> None:
        prev = st.flast
        st.flast = lvl
        if prev < 0:
            return
        ch = 1 if lvl != prev else 0
        bits = st.fbits
        oldest = bits >> 19 & 1
        if not (ch or bits):
            return
        st.fsum = st.fsum - oldest * 57 - 2 * (st.fcnt - oldest) + ch * 95
        st.fcnt = st.fcnt - oldest + ch
        st.fbits = ((bits << 1) & _FLAP_MASK) | ch
        pct = st.fsum / _FLAP_TOTAL * 100.0
        if not st.flapping:
            if pct >= st.flap_hi:
                st.flapping = True
                self._live[st.id] = st
                self._emit(st, t, _STATE_NAME[st.state], "flapping",
                           f"flapping since {_clock(t)}: {pct:.0f}% state change >= {st.flap_hi:g}% "
                           f"over the last 21 polls; not paging until it settles")
        elif pct <= st.flap_lo:
            st.flapping = False
            state = st.state
            msg = f"stopped flapping at {_clock(t)}: {pct:.0f}% state change <= {st.flap_lo:g}%"
            if state == FIRING:
                msg += f"; firing since {_clock(st.since)}: {st.condition(st.value, 2 if st.severity == CRITICAL else 1)}"
            self._emit(st, t, "flapping", _STATE_NAME[state], msg, notify=state == FIRING)

    def _resolve(self, st: _State, t: float, v: float | None) -> None:
        cs = st.clear_since
        st.state = OK
        st.clear_since = None
        self._kff.discard(st)
        reason = f"resolved at {_clock(t)}"
        if st.rule.is_no_data:
            reason += f": data is back after {_dur(t - (st.series.last_t or t))}"
        else:
            reason += f": {st.condition(v, 0)}"
            if cs is not None:
                reason += f" since {_clock(cs)}, kept firing for {_dur(st.kff)}"
        reason += f"; fired at {_clock(st.since)}"
        self._emit(st, t, "firing", "resolved", reason)
        if st.rule.name in self._inhibitors:
            self._set_inhibited(st.target, False, t)

    # --- dead man's switch ------------------------------------------------------------------

    def _fire_nodata(self, st: _State, ser: _Series, now: float, gap: float) -> None:
        st.state = FIRING
        st.severity = WARNING
        st.since = now
        st.fired = True
        st.value = gap
        st.t = now
        self._emit(st, now, "ok", "firing",
                   f"no data since {_clock(ser.last_t or now)}: last {ser.metric} sample {_dur(gap)} ago, "
                   f"expected every {_dur(ser.interval or 0)}", notify=True)

    def _nodata_back(self, st: _State, t: float, gap: float) -> None:
        st.value = gap
        st.state = OK
        self._emit(st, t, "firing", "resolved",
                   f"resolved at {_clock(t)}: data is back after a {_dur(gap)} gap; fired at {_clock(st.since)}")

    # --- inhibition -------------------------------------------------------------------------

    def _set_inhibited(self, target: str, on: bool, t: float) -> None:
        if not on and any(st.rule.name in self._inhibitors and st.state == FIRING
                          for st in self._by_target.get(target, ())):
            return  # still down by another inhibitor (an endpoint down from a second vantage)
        if self._deps is not None and (target in self._down) != on and self._deps.dependants(target):
            self._holds_dirty = True
            if not on:
                self._recovered[target] = t  # its dependants wait out a hold-off (_hold)
        if on:
            self._down.add(target)
        else:
            self._down.discard(target)
            # Back up: its other series resume at their next poll, so their silence is
            # counted from now, not from before the outage.
            for ser in self._nodata_series:
                if ser.target == target and ser.last_t is not None and ser.last_t < t:
                    ser.last_t = t
        for st in self._by_target.get(target, ()):
            if st.rule.name in self._inhibitors or st.inhibited == on:
                continue
            st.inhibited = on
            if st.id in self._live and self.store is not None:
                self._writes.rows[st.id] = (self._alert(st), t)

    # --- holds: maintenance windows and dependencies -------------------------------------------

    def _windows_at(self, t: float) -> list[_maint.Occurrence]:
        if not self._windows:
            return []
        if not (self._win_from <= t < self._win_next):
            self._active = _maint.active(self._windows, t)
            nxt = _maint.next_change(self._windows, t)
            self._win_from, self._win_next = t, (nxt if nxt is not None else t + 86400.0)
        return self._active

    def _interval(self, st: _State) -> float:
        iv = st.series.interval if st.series is not None else None
        if iv is None and self._deps is not None:
            iv = self._deps.intervals.get(st.target)
        return iv if iv is not None else 60.0

    def _parent_pending(self, target: str) -> bool:
        return any(o.rule.name in self._inhibitors and o.state == PENDING and not o.flapping
                   for o in self._by_target.get(target, ()))

    def _hold(self, st: _State, t: float) -> str | None:
        """Why this alert is held back at ``t``, or None (see the module's "Holds")."""
        if self._windows:
            labels = self._full_labels(st)
            for o in self._windows_at(t):
                if _maint.covers(o, labels):
                    return _maint.suppression(o)
        deps = self._deps
        if deps is None or st.target not in deps.parents:
            return None
        cause = deps.cause(st.target, self._down)
        if cause is not None:
            return f"{cause} down"
        ancestors = deps.ancestors(st.target)
        for a in ancestors:
            if self._parent_pending(a):
                return f"{a} down?"  # its page decides in a moment: do not page the dependant first
        for a in ancestors:
            back = self._recovered.get(a)
            if back is not None:
                until = back + self._interval(st) + st.for_s
                if t < until:
                    self._holds_next = min(self._holds_next, until)
                    return f"{a} back at {_clock(back)}, held until {_clock(until)}"
        return None

    def _refresh_holds(self, now: float) -> None:
        """Judge the hold of every open alert again; a change is written, and recorded as a
        transition of a firing alert ("suppressed: ..." / "no longer suppressed")."""
        self._holds_dirty = False
        self._holds_next = float("inf")
        if self._windows:
            self._windows_at(now)
            self._holds_next = self._win_next
        for p, back in list(self._recovered.items()):
            if now - back > 86400.0:
                del self._recovered[p]
        deps = self._deps
        for st in list(self._live.values()):
            old, old_holding = st.suppressed, st.holding
            st.suppressed = self._hold(st, now)
            if deps is not None and st.rule.name in self._inhibitors:
                st.holding = deps.held_by(st.target, self._down) if st.state == FIRING else ()
            if st.suppressed == old and st.holding == old_holding:
                continue
            if st.state == FIRING and st.suppressed != old:
                if st.suppressed:
                    reason = f"suppressed since {_clock(now)}: {st.suppressed}"
                    notify = False
                else:
                    reason = f"no longer suppressed at {_clock(now)} ({old}); still firing"
                    notify = not (st.flapping or st.inhibited)
                ev = TransitionEvent(now, st.id, st.rule.name, st.target, "firing", "firing", st.severity, st.value,
                                     reason, dict(st.labels), st.flapping, st.inhibited, notify)
                self._out.append(ev)
                if self.store is not None:
                    w = self._writes
                    w.transitions.append((now, st.id, st.rule.name, st.target, "firing", "firing", st.severity,
                                          st.value, reason))
                    w.events.append(ev)
                    if notify:
                        w.pages.append((ev, st.id, self._full_labels(st)))
            if self.store is not None:
                self._writes.rows[st.id] = (self._alert(st), now)

    # --- events and the store ---------------------------------------------------------------

    def _alert(self, st: _State) -> Alert:
        if st.state == FIRING:
            state = "firing"
        elif st.state == PENDING or st.flapping:
            state = "pending"
        else:
            state = "resolved"
        return Alert(
            id=st.id, rule=st.rule.name, target=st.target, severity=st.severity, state=state, since=st.since,
            value=st.value, summary=self._summary(st), runbook=st.rule.runbook, tier=st.rule.tier_for(st.severity),
            flapping=st.flapping, inhibited=st.inhibited, labels=dict(st.labels), suppressed_by=st.suppressed,
        )

    def _summary(self, st: _State) -> str:
        text = self._summary_text(st)
        if st.holding:
            n = len(st.holding)
            names = ", ".join(st.holding[:20]) + (f" and {n - 20} more" if n > 20 else "")
            text += f"; {n} dependant{'s' * (n != 1)} suppressed: {names}"
        return text

    def _summary_text(self, st: _State) -> str:
        tmpl = st.rule.summary
        v = st.value
        if tmpl:
            ctx = {**st.labels, "target": st.target, "value": v if v is not None else float("nan"),
                   "rule": st.rule.name, "severity": st.severity, "metric": st.metric}
            try:
                return tmpl.format_map(ctx)
            except (KeyError, ValueError, IndexError, AttributeError, TypeError):
                pass
        who = _subject(st.target, st.labels)
        if st.rule.is_no_data:
            return f"{who}: no {st.metric} data for {_dur(v or 0)}"
        if st.kind == "bool" and v is not None:
            words = _BOOL_WORDS.get(st.metric)
            text = f"{who}: {words[0] if v >= 0.5 else words[1]}" if words else f"{who}: {st.condition(v, 0)}"
            # The probe's own reason ("NXDOMAIN for gone.test"): a 0 carries none.
            why = self._details(st.target, st.metric, st.labels) if st.state != OK else None
            return f"{text}: {why}" if why else text
        lvl = 2 if st.severity == CRITICAL else 1
        return f"{who}: {st.condition(v, lvl if st.state != OK else 0)}"

    def _emit(self, st: _State, t: float, frm: str, to: str, reason: str, *, notify: bool = False) -> None:
        inhibited = False
        if st.rule.name not in self._inhibitors and st.target in self._down:
            inhibited = True
            if not st.inhibited:
                st.inhibited = True
        elif st.inhibited and st.target not in self._down:
            st.inhibited = False
        if inhibited and to in ("firing", "flapping"):
            reason += f"; inhibited: {st.target} is down"
        live = st.state != OK or st.flapping
        st.suppressed = self._hold(st, t) if live else None
        if st.suppressed and to in ("firing", "flapping"):
            reason += f"; suppressed: {st.suppressed}"
        if notify and (st.flapping or inhibited or st.suppressed):
            notify = False
        if live:
            self._live[st.id] = st
        else:
            self._live.pop(st.id, None)
        ev = TransitionEvent(
            t, st.id, st.rule.name, st.target, frm, to, st.severity, st.value, reason, dict(st.labels),
            st.flapping, inhibited, notify,
        )
        if st.flapping and frm in ("ok", "pending") and to in ("ok", "pending"):
            return  # ok<->pending churn of a flapping alert: shown as flapping, not reported poll by poll
        self._out.append(ev)
        if st.rule.name in self._inhibitors:
            if to == "firing" and frm != "firing":
                self._set_inhibited(st.target, True, t)
            if self._deps is not None and self._deps.dependants(st.target):
                self._holds_dirty = True  # down, pending or back: its dependants' holds change
                st.holding = self._deps.held_by(st.target, self._down) if st.state == FIRING else ()
        if self.store is not None:
            self._write(st, ev, live)

    @staticmethod
    def _full_labels(st: _State) -> dict[str, str]:
        """What silences match an alert on."""
        return {**st.labels, "target": st.target, "rule": st.rule.name, "alertname": st.rule.name,
                "severity": st.severity}

    def _write(self, st: _State, ev: TransitionEvent, live: bool) -> None:
        """Hold the store's side of one transition until the next write commits it."""
        w = self._writes
        # The tier a viewer escalated to is the store's to keep (store.upsert_alert).
        w.rows[st.id] = (self._alert(st), ev.t) if live or st.fired else None  # pending never fired: no incident
        w.transitions.append((ev.t, ev.alert_id, ev.rule, ev.target, ev.from_state, ev.to_state, ev.severity,
                              ev.value, ev.reason))
        w.events.append(ev)
        if ev.to_state == "flapping" or ev.from_state == "flapping":
            if not live:
                w.ack_clears.append((st.id, "settled", ev.t, False))
            return
        if not live:
            st.fired = False
            w.ack_clears.append((st.id, ev.to_state, ev.t, False))
            w.resolved.append((self._full_labels(st), ev.t))
        else:
            w.ack_clears.append((st.id, f"{ev.from_state} -> {ev.to_state} {ev.severity}", ev.t, True))
        if ev.notify:
            w.pages.append((ev, st.id, self._full_labels(st)))

    def _restore(self) -> None:
        store = self.store
        assert store is not None
        known = {r.name for r in self.rules}
        for a in store.alerts(states=("pending", "firing")):
            if a.source != "opsdash":
                continue
            if a.rule not in known:
                now = max(a.since, time.time())
                self._writes.transitions.append((now, a.id, a.rule, a.target, a.state, "resolved", a.severity,
                                                 a.value, "resolved: the rule is no longer configured"))
                a.state = "resolved"
                self._writes.rows[a.id] = (a, now)
                continue
            self._restored[a.id] = a
            if a.state == "firing" and a.rule in self._inhibitors:
                self._down.add(a.target)
        if self._writes:
            self.flush()


def group_alerts(alerts: Iterable[Alert], by: str = "rule") -> dict[str, list[Alert]]:
    """Alerts grouped by "rule", "target", "severity" or a tag / label key (missing: "-")."""
    out: dict[str, list[Alert]] = {}
    for a in alerts:
        if by in ("rule", "target", "severity", "state", "tier"):
            key = getattr(a, by)
        else:
            key = a.labels.get(by, "-")
        out.setdefault(key, []).append(a)
    return dict(sorted(out.items()))


def engine_for(config: Any, store: Any = None) -> "AlertEngine":
    """The alert engine for a config: built-in and configured rules, host tags.

    The collector takes it from its caller (collect, run, demo): collect/ sits
    below alerts/ and never imports it.
    """
    from .rules import rules_from_config, tags_from_config

    tags = tags_from_config(config)
    return AlertEngine(rules_from_config(config), store=store, tags=lambda target: tags.get(target, {}),
                       windows=config.maintenance, dependencies=Dependencies.from_config(config))
