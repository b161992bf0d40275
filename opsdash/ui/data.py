"""The view-model: store rows in, sorted display rows out. No Textual here.

``load_snapshot`` reads everything one redraw needs from the store (it runs
in a worker thread); ``build_view`` turns that snapshot into one list of
:class:`Row` per pane, worst first. A row is plain data: cells are
``(text, level)`` pairs, where ``text`` may be remote (untrusted) and is made
literal by the pane that renders it, and ``level`` names a style
(``ok``, ``warn``, ``crit``, ``stale``, ``muted`` or ``""``).

A reading older than three poll intervals is *stale*: its values are shown
dimmed and its state is marked ``◌`` (a Health row keeps its last known state
word, ``◌ down``), never as if current.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..alerts.severity import CRITICAL as SEV_CRIT, NONE as SEV_NONE, OK as SEV_OK, UNKNOWN as SEV_UNKNOWN, \
    WARNING as SEV_WARN, Severity
from .. import maintenance as _maint
from ..kinds.base import CRIT, LEVEL_STYLE as LEVEL_NAME, OK, UNKNOWN, WARN, is_number
from ..kinds.registry import host_kinds
from ..kinds.registry import kinds as registered_kinds
from ..model import Alert, EndpointRow, HostRow
from ..report.handover import FAR_PENDING_S, fires_in as alert_fires_in
from ..report.staleness import age_words
from ..stats import sparkline

# Levels, worst last; rows sort by level descending (OK, UNKNOWN, WARN, CRIT: kinds/base.py,
# where a kind's pane view uses them too).
STALE_FACTOR = 3.0
DEFAULT_INTERVAL = 60.0
SPARK_WINDOW = 15 * 60.0
SPARK_WIDTH = 12

PANES = ("health", "latency", "cache", "patches", "backups", "alerts")
PANE_TITLES = {
    "health": "Health",
    "latency": "Latency",
    "cache": "Cache",
    "patches": "Patches",
    "backups": "Backups",
    "alerts": "Alerts",
}

Cell = tuple[str, str]  # (text, style), as kinds/base.Cell

# (column key, label, width)
COLUMNS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "health": (
        ("state", "State", 9), ("host", "Host", 14), ("cpu", "CPU", 4), ("mem", "Mem", 4),
        ("disk", "Disk", 11), ("load", "Ld/c", 4), ("up", "Up", 4), ("age", "Age", 4),
    ),
    "latency": (
        # The unit in the header ("p95 ms"), the cells bare numbers: at 80 columns (and in the
        # 160-column grid, 77 inside the border) that is what fits; Endpoint grows into any room.
        ("state", "State", 8), ("endpoint", "Endpoint", 10), ("vantage", "From", 7), ("p50", "p50 ms", 6),
        ("p95", "p95 ms", 6), ("p99", "p99 ms", 6), ("avail", "Avail", 6), ("err", "Err", 4),
        ("trend", "TTFB trend", 10), ("age", "Age", 4),
    ),
    "cache": (
        ("state", "State", 8), ("cache", "Cache", 18), ("kind", "Kind", 9), ("hit", "Hit", 4),
        ("ops", "ops/s", 6), ("trend", "Hit-rate trend", 14), ("age", "Age", 4),
    ),
    "patches": (
        ("state", "State", 11), ("host", "Host", 14), ("pending", "Pend", 4), ("security", "Sec", 4),
        ("reboot", "Reboot", 6), ("manager", "Mgr", 4), ("last", "Updated", 7), ("secur", "Security", 8),
        ("age", "Age", 4),
    ),
    "backups": (
        ("state", "State", 10), ("backup", "Backup", 16), ("restore", "Restore test", 14),
        ("last", "Last", 5), ("snaps", "Snaps", 5), ("kind", "Kind", 7), ("age", "Age", 4),
    ),
    "alerts": (
        ("sev", "Sev", 6), ("state", "State", 8), ("target", "Target", 12), ("summary", "Summary", 30),
        ("since", "Since", 6), ("ack", "Ack", 6),
    ),
}
# Which columns take the room beyond those widths, and in what share: names and text that
# get cut ("/var/l…", "db-1: reboot requi…") rather than blank space at the right.
GROW: dict[str, dict[str, int]] = {
    "health": {"host": 1, "disk": 1},
    "latency": {"endpoint": 1},
    "cache": {"cache": 1},
    "patches": {"host": 1},
    "backups": {"backup": 1},
    "alerts": {"target": 1, "summary": 3},
}


@dataclass(frozen=True)
class Ref:
    """What a row is: enough to drill down and to find related alerts."""

    kind: str  # host | endpoint | cache | patches | backup | alert
    target: str
    name: str = ""


@dataclass(frozen=True)
class Row:
    key: str
    rank: tuple[Any, ...]  # sorts ascending: worst first
    cells: tuple[Cell, ...]
    ref: Ref
    level: int
    search: str  # lower-case text the filter searches
    tags: Mapping[str, str] = field(default_factory=dict)
    fold: str = ""  # rows with the same fold show as one line until opened (alerts: FAR_PENDING)


@dataclass
class Snapshot:
    now: float
    hosts: list[dict[str, Any]] = field(default_factory=list)
    # Every host kind's latest rows (kinds/base.HostKind), by kind name: "cache", "patches" ...
    kind_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    collector: dict[str, Any] | None = None
    collector_running: bool = False
    sparks: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = field(default_factory=dict)
    error: str | None = None
    notify: tuple[int, int] = (0, 0)  # notifications queued, failing (notify_counts)
    windows: list[Any] = field(default_factory=list)  # maintenance windows running now (maintenance.Occurrence)
    checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # probe kind -> its latest rows
    _typed_hosts: list[tuple[str, float, HostRow]] | None = field(default=None, repr=False, compare=False)

    @property
    def patches(self) -> list[dict[str, Any]]:
        return self.kind_rows.get("patches", [])

    @property
    def caches(self) -> list[dict[str, Any]]:
        return self.kind_rows.get("cache", [])

    @property
    def backups(self) -> list[dict[str, Any]]:
        return self.kind_rows.get("backup", [])

    def host_rows(self) -> list[tuple[str, float, HostRow]]:
        """(host, stored at, its typed row) for every host row: read from JSON once per snapshot."""
        if self._typed_hosts is None:
            self._typed_hosts = [(r["target"], r["t"], HostRow.from_json(r["data"] or {}, r["target"]))
                                 for r in self.hosts]
        return self._typed_hosts


@dataclass
class Summary:
    """The fleet header's figures. Hosts: up and down count only fresh readings; a host whose
    reading is stale (no poll for 3 intervals) is ``hosts_stale``, neither up nor down.
    Alerts: firing ones, by severity; ``crit``/``warn`` are those nobody has handled (not
    acked, silenced or inhibited), ``crit_acked``/``warn_acked`` acked ones, ``silenced`` the
    firing ones a silence covers (any severity)."""

    hosts_up: int = 0
    hosts_total: int = 0
    crit: int = 0
    warn: int = 0
    pending: int = 0
    acked: int = 0  # open (pending or firing) alerts with an active ack
    collector: str = "none"  # live | embedded | stopped | none
    last_poll_age: float | None = None
    error: str | None = None
    hosts_down: int = 0
    hosts_stale: int = 0
    hosts_age: float | None = None  # seconds since the freshest host reading
    crit_acked: int = 0
    warn_acked: int = 0
    silenced: int = 0
    notify_queued: int = 0  # notifications waiting in the outbox (opsdash/notify)
    notify_failing: int = 0  # ... whose last try failed
    held: int = 0  # firing alerts a maintenance window or a down parent holds back (Alert.suppressed_by)
    maintenance: list[str] = field(default_factory=list)  # "sat-patching until 04:00", for the header


@dataclass
class View:
    now: float
    rows: dict[str, list[Row]]
    summary: Summary


# --- formatting -------------------------------------------------------------------------


def fmt_age(seconds: float | None) -> str:
    return "—" if seconds is None else age_words(seconds)


def fmt_pct(v: Any, digits: int = 0) -> str:
    return "—" if not isinstance(v, (int, float)) else f"{v:.{digits}f}%"


def fmt_ms(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    return f"{v / 1000:.1f}s" if v >= 10000 else f"{v:.0f}"


def fmt_avail(v: Any) -> str:
    """Availability in percent: ``99.95%``, and ``100%`` (not ``100.00%``: the column is 6 wide)."""
    if not isinstance(v, (int, float)):
        return "—"
    return "100%" if round(v, 2) >= 100 else f"{v:.2f}%"


def fmt_num(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    if v >= 10000:
        return f"{v / 1000:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def fmt_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"




# A figure's level is asked of the rules in force (alerts/severity.py), never decided here: the
# value's level *now* against the rules' warn/crit, not whether an alert fires (that waits for
# `for`, attempts and hysteresis). A figure no rule covers is shown uncoloured ("").
_FROM_SEV = {SEV_NONE: OK, SEV_OK: OK, SEV_UNKNOWN: UNKNOWN, SEV_WARN: WARN, SEV_CRIT: CRIT}
_BUILTIN_SEVERITY: Severity | None = None


def builtin_severity() -> Severity:
    """The built-in rules alone: what a viewer without a config judges by (as a collector would)."""
    global _BUILTIN_SEVERITY
    if _BUILTIN_SEVERITY is None:
        _BUILTIN_SEVERITY = Severity.for_config(None)
    return _BUILTIN_SEVERITY


def figure_level(sev: Severity, metric: str, value: Any, target: str, labels: Mapping[str, str] | None = None,
                 tags: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(level, cell style) of one figure: ``(OK, "")`` when no rule covers it."""
    s = sev.level(metric, value, target, labels, tags)
    level = _FROM_SEV[s]
    return level, ("" if s == SEV_NONE else LEVEL_NAME[level])


def down_level(sev: Severity, metric: str, target: str, labels: Mapping[str, str] | None = None,
               tags: Mapping[str, str] | None = None) -> int:
    """The level of a target that did not answer (``host.up`` / ``endpoint.up`` = 0) by its
    rule (host-down, endpoint-down: critical); UNKNOWN (``?``) when the user disabled it."""
    level, style = figure_level(sev, metric, 0.0, target, labels, tags)
    return level if style else UNKNOWN


def _lvl(level: int) -> str:
    return LEVEL_NAME[level]


def state_cell(level: int, word: str | None = None) -> Cell:
    sym = {OK: "●", UNKNOWN: "?", WARN: "▲", CRIT: "✖"}[level]
    word = word or {OK: "ok", UNKNOWN: "unknown", WARN: "warn", CRIT: "CRIT"}[level]
    return (f"{sym} {word}", _lvl(level))


STALE_CELL: Cell = ("◌ stale", "stale")


def stale_cell(cell: Cell) -> Cell:
    """A stale state cell keeps the last known state word, dimmed, behind the stale mark: ``◌ down``."""
    text = cell[0]
    word = text.split(" ", 1)[1] if " " in text else text
    return (f"◌ {word}" if word else STALE_CELL[0], "stale")


def is_stale(t: Any, interval: Any, now: float) -> bool:
    if not isinstance(t, (int, float)):
        return True
    iv = interval if isinstance(interval, (int, float)) and interval > 0 else DEFAULT_INTERVAL
    return now - t > STALE_FACTOR * iv


def _fade(cells: Iterable[Cell], stale: bool) -> tuple[Cell, ...]:
    """Stale rows keep their values but lose their colour: they are not current."""
    return tuple((text, "stale") if stale and lvl != "stale" else (text, lvl) for text, lvl in cells)


def _search(*parts: Any, tags: Mapping[str, str] | None = None) -> str:
    words = [str(p) for p in parts if p not in (None, "")]
    if tags:
        words += [f"{k}={v}" for k, v in tags.items()]
    return " ".join(words).lower()


# --- the loader (runs in a worker thread) ---------------------------------------------------


SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


class SparkCache:
    """Recent values per series, fetched incrementally so each poll reads only new samples."""

    def __init__(self, window: float = SPARK_WINDOW, every: float = 5.0) -> None:
        self.window = window
        self.every = every
        self._data: dict[SeriesKey, deque[tuple[float, float]]] = {}
        self._last_fetch: dict[SeriesKey, float] = {}

    def get(self, store: Any, key: SeriesKey, now: float) -> list[float]:
        target, metric, labels = key
        buf = self._data.setdefault(key, deque(maxlen=2048))
        if now - self._last_fetch.get(key, -1e18) >= self.every or now < self._last_fetch.get(key, 0):
            since = buf[-1][0] + 1e-6 if buf else now - self.window
            for t, v in store.history(target, metric, since, labels=dict(labels)):
                buf.append((t, v))
            self._last_fetch[key] = now
        while buf and buf[0][0] < now - self.window:
            buf.popleft()
        return [v for t, v in buf if t <= now]

    def retain(self, keys: set[SeriesKey]) -> None:
        for k in list(self._data):
            if k not in keys:
                del self._data[k]
                self._last_fetch.pop(k, None)


def spark_keys(endpoints: Sequence[Mapping[str, Any]], caches: Sequence[Mapping[str, Any]]) -> list[SeriesKey]:
    keys: list[SeriesKey] = []
    for r in endpoints:
        keys.append((r["target"], "endpoint.ttfb_ms", (("vantage", r["name"]),)))
    for r in caches:
        keys.append((r["target"], "cache.hit_rate", (("cache", r["name"]),)))
    return keys


def load_snapshot(store: Any, now: float, sparks: SparkCache | None = None,
                  windows: Sequence[Any] = ()) -> Snapshot:
    """Everything one redraw needs, read from the store (call from a worker thread).
    ``windows``: the config's [[maintenance]] windows, for the header's "maint: ..." while one runs."""
    snap = Snapshot(now=now)
    snap.windows = _maint.active(windows, now) if windows else []
    snap.hosts = store.latest("host", raw=False)
    snap.kind_rows = {k.name: store.latest(k.name, raw=False) for k in host_kinds()}
    snap.endpoints = store.latest("endpoint", raw=False)
    snap.checks = {k.name: store.latest(k.name, raw=False) for k in registered_kinds()}
    snap.alerts = store.alerts(now=now)
    snap.collector = store.collector_status()
    snap.collector_running = bool(snap.collector) and now - snap.collector["heartbeat"] <= 30.0
    snap.notify = notify_counts(store)
    if sparks is not None:
        keys = spark_keys(snap.endpoints, snap.caches)
        for k in keys:
            snap.sparks[k] = sparks.get(store, k, now)
        sparks.retain(set(keys))
    return snap


# --- rows per pane ------------------------------------------------------------------------

HOST_STATE_WORDS = {
    "timeout": "timeout",
    "unreachable": "down",
    "auth-failed": "auth",
    "host-key-unknown": "hostkey?",
    "host-key-mismatch": "HOSTKEY!",
    "error": "error",
}


def _health_rows(snap: Snapshot, host_tags: Mapping[str, Mapping[str, str]], sev: Severity) -> list[Row]:
    rows = []
    now = snap.now
    for host, stored, row in snap.host_rows():
        tags = host_tags.get(host, {})
        state = row.state
        h = row.health
        polled = row.t if row.t is not None else stored
        stale = is_stale(polled, row.interval, now)
        cpu, mem = (h.cpu_percent, h.mem_percent) if h else (None, None)
        disks = h.disks if h else ()
        load = h.load_per_cpu if h else None  # None: unknown (a NaN gauge, no CPU count)
        (lv_cpu, st_cpu), (lv_mem, st_mem) = (figure_level(sev, "host.cpu_percent", cpu, host, None, tags),
                                              figure_level(sev, "host.mem_percent", mem, host, None, tags))
        (lv_load, st_load) = figure_level(sev, "host.load1_per_cpu", load, host, None, tags)
        # The mount shown is the worst by its rules (a per-mount rule may make a fuller mount fine),
        # then the fullest: the disk a rule would page about.
        worst, (lv_disk, st_disk) = None, figure_level(sev, "host.disk_percent", None, host, None, tags)
        best_key: tuple[int, float] | None = None
        for x in disks:
            lv = figure_level(sev, "host.disk_percent", x.percent, host, {"mount": x.mount}, tags)
            key = (lv[0] if lv[0] != UNKNOWN else -1, x.percent)
            if best_key is None or key > best_key:
                worst, (lv_disk, st_disk), best_key = x, lv, key
        if state != "ok":
            level = down_level(sev, "host.up", host, None, tags)
            st = state_cell(level, HOST_STATE_WORDS.get(state, state))
        else:
            level = max((x for x in (lv_cpu, lv_mem, lv_disk, lv_load) if x != UNKNOWN), default=UNKNOWN)
            st = state_cell(level, {OK: "up", WARN: "warn", CRIT: "CRIT", UNKNOWN: "up?"}[level])
        age = now - polled
        if stale:
            st = stale_cell(st)  # "◌ down": stale, but a host that was down must not look like any other
        disk_txt = f"{worst.percent:.0f}% {worst.mount}" if worst else "—"
        up = state == "ok" and h is not None
        cells = (
            st,
            (host, ""),
            (fmt_pct(cpu) if up else "—", st_cpu if up else "muted"),
            (fmt_pct(mem) if up else "—", st_mem if up else "muted"),
            (disk_txt if up else "—", st_disk if up else "muted"),
            (f"{load:.2f}" if up and load is not None else "—", st_load if up else "muted"),
            (fmt_age(h.uptime_s) if up and h else "—", ""),
            (fmt_age(age), "stale" if stale else "muted"),
        )
        rank_level = WARN if stale and level < WARN else level
        rows.append(
            Row(
                key=f"host:{host}", rank=(-rank_level, -(1 if stale else 0), -level, host), cells=_fade(cells, stale),
                ref=Ref("host", host), level=rank_level,
                search=_search(host, state, "stale" if stale else "", row.error, tags=tags), tags=tags,
            )
        )
    return rows


def _cert_state(sev: Severity, tls: Any, name: str, labels: Mapping[str, str],
                tags: Mapping[str, str]) -> tuple[int, str] | None:
    """(level, word) of an endpoint's certificate check (kinds/tls.py) when it is not ok:
    "cert 5d" (expiring or expired), "cert CA" (chain does not verify), "cert name"."""
    if not isinstance(tls, dict) or tls.get("state") in (None, "ok", "error"):
        return None
    days = tls.get("days_left")
    found = []
    if isinstance(days, (int, float)):
        lv, _ = figure_level(sev, "tls.days_left", days, name, labels, tags)
        found.append((lv, f"cert {days:.0f}d"))
    if tls.get("verified") is False:
        found.append((figure_level(sev, "tls.verified", 0.0, name, labels, tags)[0], "cert CA"))
    if tls.get("name_ok") is False:
        found.append((figure_level(sev, "tls.name_ok", 0.0, name, labels, tags)[0], "cert name"))
    found = [f for f in found if f[0] not in (OK, UNKNOWN)]
    return max(found, key=lambda f: f[0]) if found else None


def _latency_rows(snap: Snapshot, ep_tags: Mapping[str, Mapping[str, str]], sev: Severity) -> list[Row]:
    rows = []
    now = snap.now
    for r in snap.endpoints:
        row = EndpointRow.from_json(r["data"] or {}, r["target"], r["name"])
        name, vantage = r["target"], row.vantage
        tags = ep_tags.get(name, {})
        polled = row.t if row.t is not None else r["t"]
        stale = is_stale(polled, row.interval, now)
        labels = {"vantage": vantage}
        # The SLOs are in the rules (per-endpoint thresholds of ttfb-p95 and availability-slo).
        p95 = row.p95_ms
        lv_p95, st_p95 = figure_level(sev, "endpoint.ttfb_p95_ms", p95, name, labels, tags)
        avail_pct = row.availability  # a percent, as the metric
        lv_av, st_av = figure_level(sev, "endpoint.availability", avail_pct, name, labels, tags)
        err = row.error_rate
        lv_err, st_err = figure_level(sev, "endpoint.error_rate", err, name, labels, tags)
        state = row.state
        if state != "ok":
            level = down_level(sev, "endpoint.up", name, labels, tags)
            # What fits the column and reads at a glance: "down", the status code ("503"), "error".
            status = row.status
            word = {"unreachable": "down", "timeout": "down",
                    "bad-status": str(status) if status else "bad"}.get(state, state[:6])
            st = state_cell(level, word)
        else:
            level = max([x for x in (lv_p95, lv_av, lv_err) if x != UNKNOWN] or [OK])
            # Say which: failing requests (availability, error rate) outrank a slow p95 at the
            # same level; "SLOW" over a 20 ms p95 sent people looking at the wrong graph.
            failing = level in (lv_av, lv_err)
            word = "ok" if level == OK else ("errors" if failing else "slow")
            st = state_cell(level, word.upper() if level == CRIT else word)
        cert = _cert_state(sev, row.tls, name, labels, tags)
        if cert is not None and cert[0] >= level:  # the certificate explains the row: "cert 5d"
            level, st = cert[0], state_cell(cert[0], cert[1])
        if stale:
            st = stale_cell(st)
        spark = snap.sparks.get((name, "endpoint.ttfb_ms", (("vantage", vantage),)), [])
        cells = (
            st,
            (name, ""),
            (vantage, ""),
            (fmt_ms(row.p50_ms), ""),
            (fmt_ms(p95), st_p95),
            (fmt_ms(row.p99_ms), ""),
            (fmt_avail(avail_pct), st_av),
            (f"{err * 100:.0f}%" if err is not None else "—", st_err),
            (sparkline(spark[-40:], 10) if spark else "", "spark"),
            (fmt_age(now - polled), "stale" if stale else "muted"),
        )
        rank_level = WARN if stale and level < WARN else level
        rows.append(
            Row(
                key=f"endpoint:{name}:{vantage}", rank=(-rank_level, name, vantage), cells=_fade(cells, stale),
                ref=Ref("endpoint", name, vantage), level=rank_level,
                search=_search(name, vantage, row.url, state, "stale" if stale else "", tags=tags), tags=tags,
            )
        )
    return rows


_FORMATS: dict[str, Callable[[Any], str]] = {
    "ms": fmt_ms, "%": fmt_pct, "frac": lambda v: fmt_pct(v * 100 if isinstance(v, (int, float)) else v), "": fmt_num,
}
# The Latency pane's cells after state, name and vantage: which slot a kind's Column fills.
_LATENCY_SLOTS = ("p50", "p95", "p99", "avail", "err")


def _kind_latency_rows(snap: Snapshot, sev: Severity) -> list[Row]:
    """Rows of the registered probe kinds that show in the Latency pane (kinds/base.Kind: ``columns``,
    ``state``, ``up_metric``). Levels come from the rules, as every other figure's: a failing
    check is its up-metric's rule at 0, a working one the worst of its columns' metrics."""
    rows: list[Row] = []
    now = snap.now
    for kind in registered_kinds():
        if kind.pane != "latency":  # "health" kinds show in their host's drill-down
            continue
        for r in snap.checks.get(kind.name) or ():
            d = r["data"] or {}
            name, vantage = r["target"], r["name"] or "local"
            labels = {"vantage": vantage}
            stale = is_stale(d.get("t", r["t"]), d.get("interval"), now)
            word, failing = kind.state(d)
            figures: dict[str, Cell] = {}
            for col in kind.columns:
                v = d.get(col.key)
                style = figure_level(sev, col.metric, v, name, labels)[1] if col.metric else ""
                figures[col.slot] = (_FORMATS.get(col.unit, fmt_num)(v) if v is not None else "—", style)
            level = _FROM_SEV[sev.check_level(kind, d, name, vantage)]
            st = state_cell(level, word if failing or level == OK else ("slow" if level == WARN else "SLOW"))
            if stale:
                st = stale_cell(st)
            cells = (
                st,
                (f"{name} ({kind.name})", ""),  # the name first: it survives a narrow column
                (vantage, ""),
                *(figures.get(slot, ("", "")) for slot in _LATENCY_SLOTS),
                ("", "spark"),
                (fmt_age(now - d.get("t", r["t"])), "stale" if stale else "muted"),
            )
            rank_level = WARN if stale and level < WARN else level
            rows.append(Row(
                key=f"{kind.name}:{name}:{vantage}", rank=(-rank_level, name, kind.name, vantage),
                cells=_fade(cells, stale), ref=Ref(kind.name, name, vantage), level=rank_level,
                search=_search(kind.name, kind.title, name, vantage, word, d.get("reason"), "stale" if stale else ""),
            ))
    return rows


class _ViewContext:
    """kinds/base.ViewContext over one snapshot; ``tags``, ``stale`` and ``polled`` are the row's."""

    def __init__(self, snap: Snapshot, sev: Severity):
        self._snap, self._sev = snap, sev
        self.now = snap.now
        self.tags: Mapping[str, str] = {}
        self.stale = False
        self.polled = snap.now
        self._index: dict[tuple[str, str, str], dict[str, Any]] | None = None
        self._states: dict[str, str] | None = None

    def level(self, metric: str, value: Any, target: str, labels: Mapping[str, str] | None = None) -> tuple[int, str]:
        return figure_level(self._sev, metric, value, target, labels, self.tags)

    def age(self, seconds: float | None) -> str:
        return fmt_age(seconds)

    def num(self, v: Any) -> str:
        return fmt_num(v)

    def spark(self, target: str, metric: str, labels: Mapping[str, str], width: int, lo: float, hi: float) -> str:
        points = self._snap.sparks.get((target, metric, tuple(sorted(labels.items()))), [])
        return sparkline(points[-4 * width:], width, lo, hi) if points else ""

    def row(self, kind: str, target: str, name: str = "") -> Mapping[str, Any] | None:
        if self._index is None:
            self._index = {(k, r["target"], r["name"]): r["data"] or {}
                           for k, rows in self._snap.kind_rows.items() for r in rows}
        return self._index.get((kind, target, name))

    def host_state(self, target: str) -> str | None:
        if self._states is None:
            self._states = {host: row.state for host, _, row in self._snap.host_rows()}
        return self._states.get(target)


def _bind_kind_rows(snap: Snapshot, kind: Any, host_tags: Mapping[str, Mapping[str, str]],
                    sev: Severity) -> Callable[[], list[Row]]:
    return lambda: _kind_pane_rows(snap, kind, host_tags, sev)


def _kind_pane_rows(snap: Snapshot, kind: Any, host_tags: Mapping[str, Mapping[str, str]], sev: Severity) -> list[Row]:
    """A host kind's rows in its pane: the kind's ``view`` gives the level, the word and the
    cells (from the rules in force); every pane adds the state mark, staleness and the age."""
    rows = []
    now = snap.now
    ctx = _ViewContext(snap, sev)
    for r in snap.kind_rows.get(kind.name) or ():
        d = r["data"] or {}
        host, name = r["target"], r["name"]
        tags = host_tags.get(host, {})
        t = d.get("t")
        polled = t if is_number(t) and math.isfinite(t) else r["t"]
        stale = is_stale(polled, d.get("interval"), now)
        ctx.tags, ctx.stale, ctx.polled = tags, stale, polled
        v = kind.view(host, name, d, ctx)
        st = state_cell(v.level if v.state_level is None else v.state_level, v.word)
        if stale:
            st = stale_cell(st)
        cells = (st, *v.cells, (fmt_age(now - polled), "stale" if stale else "muted"))
        rank_level = WARN if stale and v.level < WARN else v.level
        rows.append(Row(
            key=f"{kind.name}:{host}" + (f":{name}" if kind.label else ""), rank=(-rank_level, *v.rank),
            cells=_fade(cells, stale), ref=Ref(kind.name, host, name), level=rank_level,
            search=_search(*v.search, tags=tags), tags=tags,
        ))
    return rows


def alert_level(a: Alert) -> int:
    if a.state == "resolved":
        return OK
    if a.state == "pending":
        return UNKNOWN
    return CRIT if a.severity == "critical" else WARN


def _alert_rows(snap: Snapshot, host_tags: Mapping[str, Mapping[str, str]],
                rule_for: Mapping[str, float] | None = None) -> list[Row]:
    rows = []
    now = snap.now
    rule_for = rule_for or {}
    for a in snap.alerts:
        level = alert_level(a)
        quiet = a.acked or a.silenced or a.inhibited or bool(a.suppressed_by)
        sev = ("✖ CRIT", "crit") if a.severity == "critical" else ("▲ warn", "warn")
        if a.state != "firing" or quiet:
            sev = (sev[0], "muted")
        state = "flapping" if a.flapping else a.state
        ack = ("acked" if a.acked else "muted" if a.silenced else "inhib" if a.inhibited
               else "held" if a.suppressed_by else "")
        # Why it is held (a window, a parent down) reads in the summary: "... · suppressed: bastion down"
        what = (a.summary or a.rule) + (f" · suppressed: {a.suppressed_by}" if a.suppressed_by else "")
        tags = {**host_tags.get(a.target, {}), **a.labels, "rule": a.rule, "severity": a.severity}
        # A pending alert says when it fires ("in 6d"), not how long it has waited: a
        # week-long `for` then reads as not urgent at a glance.
        fires_in = alert_fires_in(a, rule_for.get(a.rule), now)
        far = fires_in is not None and fires_in > FAR_PENDING_S
        cells = (
            sev,
            (state, _lvl(level) if not quiet else "muted"),
            (a.target, ""),
            (what, ""),
            (f"in {fmt_age(max(fires_in, 0.0))}", "muted") if fires_in is not None else (fmt_age(now - a.since), ""),
            (ack, "ok" if ack else ""),
        )
        state_order = {"firing": 0, "pending": 1, "resolved": 2}.get(a.state, 3)
        # Firing: worst and longest first. Pending: soonest to fire first, so a latency
        # alert two minutes from paging is not buried under week-long `for` rules.
        order = (fires_in if fires_in is not None else 0.0) if a.state == "pending" else -(now - a.since)
        # Far-off pending alerts (eleven "security updates, in 7d") fold into one line after every
        # other pending one (rank 2 in the second place): they must not bury what fires soon.
        sink = 2 if far else 1 if quiet else 0
        rows.append(
            Row(
                key=f"alert:{a.id}",
                rank=(state_order, sink, -level if a.state != "pending" else 0, order, a.target, a.id),
                cells=cells, ref=Ref("alert", a.target, a.id), level=level if not quiet else min(level, UNKNOWN),
                search=_search(a.id, a.rule, a.target, a.severity, a.state, what, ack,
                               "flapping" if a.flapping else "", tags=tags),
                tags=tags, fold=FAR_PENDING if far else "",
            )
        )
    return rows


FAR_PENDING = "far-pending"
FOLD_KEY = f"fold:{FAR_PENDING}"


def far_pending_row(folded: Sequence[Row], opened: bool) -> Row:
    """The one line that stands for the far-off pending alerts (``Row.fold == FAR_PENDING``,
    sorted soonest first): how many, when the first fires, and that Enter opens or folds it."""
    n = len(folded)
    soonest = folded[0].rank[3] if folded else FAR_PENDING_S
    targets = sorted({r.ref.target for r in folded})
    what = f"fire in {fmt_age(soonest)} or later"  # how many: in the first column
    return Row(
        key=FOLD_KEY, rank=(1, 2, 0, float("-inf"), "", ""),
        cells=((("▾ " if opened else "▸ ") + str(n), "muted"), ("pending", "muted"),
               (targets[0] if len(targets) == 1 else f"{len(targets)} targets", "muted"),
               (what + (": ⏎ folds" if opened else ": ⏎ opens"), "muted"),
               (f"in {fmt_age(soonest)}", "muted"), ("", "")),
        ref=Ref("fold", "", FAR_PENDING), level=UNKNOWN,
        search=_search("pending", "later", *targets, *(r.search for r in folded)),
    )


def build_view(snap: Snapshot, endpoint_tags: Mapping[str, Mapping[str, str]] | None = None,
               rule_for: Mapping[str, float] | None = None, pause: Callable[[], None] | None = None,
               severity: Severity | None = None) -> View:
    """Rows for every pane. ``rule_for``: each rule's `for` in seconds (pending alerts sort by time to fire).
    ``pause`` is called between panes: the UI's worker waits there while keys are being pressed.
    ``severity``: the rules in force (``Severity.for_config(config)``), which colour every figure;
    the built-in rules when None."""
    sev = severity if severity is not None else builtin_severity()
    host_tags: dict[str, Mapping[str, str]] = {}
    for host, _, row in snap.host_rows():
        if row.tags:
            host_tags[host] = dict(row.tags)
    builders: dict[str, Callable[[], list[Row]]] = {
        "health": lambda: _health_rows(snap, host_tags, sev),
        "latency": lambda: _latency_rows(snap, endpoint_tags or {}, sev) + _kind_latency_rows(snap, sev),
        **{k.pane: _bind_kind_rows(snap, k, host_tags, sev) for k in host_kinds() if k.pane},
        "alerts": lambda: _alert_rows(snap, host_tags, rule_for),
    }
    rows: dict[str, list[Row]] = {}
    for pane, build in builders.items():
        if pause is not None:
            pause()
        rows[pane] = build()
    for pane in rows.values():
        pane.sort(key=lambda r: r.rank)
    return View(now=snap.now, rows=rows, summary=summarize(snap, rows))


def summarize(snap: Snapshot, rows: Mapping[str, list[Row]]) -> Summary:
    s = Summary(error=snap.error)
    s.hosts_total = len(snap.hosts)
    host_ts = []
    for _, stored, row in snap.host_rows():
        t = row.t if row.t is not None else stored
        host_ts.append(t)
        if is_stale(t, row.interval, snap.now):
            s.hosts_stale += 1  # not down: nobody has looked lately
        elif row.state == "ok":
            s.hosts_up += 1
        else:
            s.hosts_down += 1
    s.hosts_age = snap.now - max(host_ts) if host_ts else None
    for a in snap.alerts:
        if a.state == "firing":
            crit = a.severity == "critical"
            if a.silenced:
                s.silenced += 1
            elif a.inhibited:
                pass  # its parent's alert (host down) is the one to look at
            elif a.suppressed_by:
                s.held += 1  # a window or a down parent holds it: the parent's alert is the one to look at
            elif a.acked:
                s.crit_acked += crit
                s.warn_acked += not crit
            elif crit:
                s.crit += 1
            else:
                s.warn += 1
        elif a.state == "pending":
            s.pending += 1
        if a.acked and a.state != "resolved":
            s.acked += 1
    ts = [r["t"] for kind in (snap.hosts, snap.patches, snap.caches, snap.backups, snap.endpoints) for r in kind]
    s.last_poll_age = snap.now - max(ts) if ts else None
    s.collector = "live" if snap.collector_running else ("stopped" if snap.collector else "none")
    s.notify_queued, s.notify_failing = snap.notify
    s.maintenance = [_maint.label(o, snap.now) for o in snap.windows]
    return s


def notify_counts(store: Any) -> tuple[int, int]:
    """(queued, failing) notifications over every [[notify]] target, for the header."""
    counts = store.notify_counts()
    return sum(c["queued"] for c in counts.values()), sum(c["failing"] for c in counts.values())


def notify_cell(s: Summary, brief: bool = False) -> Cell | None:
    """The header's "notify: 3 queued, 1 failing" (warn while any fails), or None when none waits."""
    q, f = s.notify_queued, s.notify_failing
    if not q and not f:
        return None
    if brief:
        return (f"notify {q}q {f}f" if f else f"notify {q}q"), ("warn" if f else "muted")
    return "notify: " + ", ".join(x for x in (f"{q} queued" if q else "", f"{f} failing" if f else "") if x), \
        ("warn" if f else "muted")


def header_counts(s: Summary, brief: bool = False) -> list[list[Cell]]:
    """The fleet header's hosts and alerts, as groups of ``(text, level)`` pieces (the header
    draws a separator between groups). ``brief``: the short forms, for 80 columns.

    Honest by construction: a critical that is firing shows as one even when acked
    (``✖ 1 crit (1 acked)``), silenced ones are counted (``2 silenced``), and hosts nobody
    has polled lately are ``stale``, never ``down`` (``hosts 2 stale 6m``). The brief forms
    fit 80 columns beside the collector and poll parts: ``9/12 up ◌1 │ ✖ 3 (1 ack) ▲ 1``."""
    hosts: list[Cell] = []
    fresh = s.hosts_total - s.hosts_stale
    if s.hosts_total and not fresh:
        age = f" {fmt_age(s.hosts_age)}" if s.hosts_age is not None else ""
        hosts.append((f"{s.hosts_total} hosts stale{age}" if brief else f"hosts {s.hosts_total} stale{age}", "warn"))
    else:
        level = "muted" if not s.hosts_total else "crit" if s.hosts_down else "ok"
        hosts.append((f"{s.hosts_up}/{s.hosts_total} up" if brief else f"hosts {s.hosts_up}/{s.hosts_total} up", level))
        if s.hosts_stale:  # brief: the Health pane's stale mark (help's legend says it)
            hosts.append((f" ◌{s.hosts_stale}" if brief else f" · {s.hosts_stale} stale", "warn"))
    alerts: list[Cell] = []
    for n, acked, sym, word, level in ((s.crit, s.crit_acked, "✖", "crit", "crit"),
                                       (s.warn, s.warn_acked, "▲", "warn", "warn")):
        if not n and not acked:
            continue
        if alerts:
            alerts.append((" ", ""))
        alerts.append((f"{sym} {n + acked}" + ("" if brief else f" {word}"), level if n else "muted"))
        if acked:
            alerts.append((f" ({acked} ack)" if brief else f" ({acked} acked)", "muted"))
    if s.silenced:
        alerts.append((" · " if alerts else "", "muted"))
        alerts.append((f"{s.silenced} silenced", "muted"))
    if s.held:
        alerts.append((" · " if alerts else "", "muted"))
        alerts.append((f"{s.held} held", "muted"))
    if not alerts:
        alerts.append(("● no alerts firing", "ok"))
    for m in s.maintenance:  # a window running now: "maint: sat-patching until 04:00"
        alerts.append((" · ", "muted"))
        alerts.append((f"maint {m.split(' until ')[0]}" if brief else f"maint: {m}", "muted"))
    return [hosts, alerts]


# --- filtering -------------------------------------------------------------------------------


def match_all(row: Row) -> bool:
    """The empty filter (``compile_filter("")``): callers may test for it with ``is``."""
    return True


def compile_filter(text: str) -> Callable[[Row], bool]:
    """``web`` matches text anywhere in the row; ``role=db`` matches a tag (or state=, host=)."""
    terms = [t for t in text.strip().lower().split() if t]
    if not terms:
        return match_all

    def match(row: Row) -> bool:
        for term in terms:
            if "=" in term and not term.startswith("="):
                k, _, v = term.partition("=")
                tags = {kk.lower(): str(vv).lower() for kk, vv in row.tags.items()}
                if k in tags:
                    if tags[k] != v and not (v.endswith("*") and tags[k].startswith(v[:-1])):
                        return False
                    continue
                if k in ("host", "target"):
                    if row.ref.target.lower() != v:
                        return False
                    continue
                if k == "state":
                    if v not in row.cells[0][0].lower() and v not in row.search:
                        return False
                    continue
                return False
            if term not in row.search:
                return False
        return True

    return match


def now_clock() -> float:
    return time.time()
