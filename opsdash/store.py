"""The SQLite store: the one place state lives.

WAL mode, one writer (the collector) and any number of readers (TUI, once,
handover, tune). ``synchronous=NORMAL`` in WAL survives a kill -9 of the
process with every committed transaction; acks, silences and notes are
committed as soon as they are written, samples once per poll.

Schema versions are applied in order by ``_MIGRATIONS``; never edit a
released migration, append a new one.
"""

from __future__ import annotations

import json
import os
from array import array
from itertools import chain
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .errors import StoreError
from .model import Alert, Sample

_MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        metric TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        UNIQUE (target, metric, labels)
    );
    CREATE TABLE samples (
        series_id INTEGER NOT NULL REFERENCES series(id),
        t REAL NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_series_t ON samples (series_id, t);
    CREATE INDEX samples_t ON samples (t);
    CREATE TABLE latest (
        kind TEXT NOT NULL,          -- host | endpoint | cache | backup | patches | source
        target TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        t REAL NOT NULL,
        data TEXT NOT NULL,          -- JSON, the contract's shape
        raw TEXT,                    -- last raw probe output (untrusted text)
        PRIMARY KEY (kind, target, name)
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        rule TEXT NOT NULL,
        target TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        since REAL NOT NULL,
        value REAL,
        summary TEXT NOT NULL DEFAULT '',
        runbook TEXT NOT NULL DEFAULT '',
        tier TEXT NOT NULL DEFAULT 'L1',
        flapping INTEGER NOT NULL DEFAULT 0,
        inhibited INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'opsdash',
        updated_at REAL NOT NULL,
        resolved_at REAL
    );
    CREATE INDEX alerts_state ON alerts (state);
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        alert_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        target TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        severity TEXT,
        value REAL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX transitions_t ON transitions (t);
    CREATE INDEX transitions_alert ON transitions (alert_id, t);
    CREATE TABLE acks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        sticky INTEGER NOT NULL DEFAULT 0,
        expires_at REAL,
        cleared_at REAL,
        cleared_reason TEXT
    );
    CREATE INDEX acks_alert ON acks (alert_id);
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        matchers TEXT NOT NULL,      -- JSON {"label": "value"}, where "target" and "rule" match those
        note TEXT NOT NULL DEFAULT '',
        ends_at REAL NOT NULL,
        until_resolved INTEGER NOT NULL DEFAULT 0,
        expired_at REAL,
        external_id TEXT             -- the Alertmanager silence id, when created there
    );
    CREATE TABLE notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        target TEXT,
        alert_id TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX notes_t ON notes (t);
    CREATE TABLE escalations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        alert_id TEXT NOT NULL,
        who TEXT NOT NULL,
        from_tier TEXT,
        to_tier TEXT NOT NULL
    );
    CREATE TABLE collector (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        heartbeat REAL NOT NULL,
        stats TEXT
    );
    """,
    # 2: series reads (history, tune) straight from the index: it carries the value too,
    # so SQLite never visits the table; it replaces the (series_id, t) index.
    """
    CREATE INDEX samples_series_t_value ON samples (series_id, t, value);
    DROP INDEX samples_series_t;
    """,
    # 3: notifications (opsdash/notify): the outbox and what each [[notify]] target was last told.
    """
    CREATE TABLE notify_outbox (
        id TEXT PRIMARY KEY,         -- the notification id receivers dedupe on (stable across retries)
        target TEXT NOT NULL,        -- the [[notify]] name
        event TEXT NOT NULL,         -- firing | resolved | escalation
        grp TEXT NOT NULL,           -- what a storm groups by (the rule)
        created_at REAL NOT NULL,
        ready_at REAL NOT NULL,      -- created_at + group_window: events of the group join until then
        alerts TEXT NOT NULL,        -- JSON list of the alert events it carries
        attempts INTEGER NOT NULL DEFAULT 0,  -- > 0: sealed, nothing joins any more
        next_try REAL NOT NULL,
        last_error TEXT,
        sent_at REAL
    );
    CREATE INDEX notify_outbox_unsent ON notify_outbox (target, sent_at, created_at);
    CREATE TABLE notify_sent (
        target TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        status TEXT NOT NULL,        -- firing | resolved: what the target was last told of the alert
        since REAL NOT NULL,         -- the episode (the alert's since) it was told of
        severity TEXT,
        tier TEXT,
        t REAL NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',  -- the alert event as last sent (Alertmanager re-posts it)
        PRIMARY KEY (target, alert_id)
    );
    """,
    # 4: why a firing alert is held back (a maintenance window, a parent down): the notifier
    # reads it like a silence (alerts/engine.py "Holds").
    """
    ALTER TABLE alerts ADD COLUMN suppressed_by TEXT;
    """,
    # 5: incidents (opsdash/incidents.py): the incident, what happened to it (status changes,
    # notes, escalations, links: each timed and by whom), its linked alerts and its triage
    # checklist; and config writes (tune --write), which an incident's timeline shows.
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,             -- opened at
        who TEXT NOT NULL,
        text TEXT NOT NULL,          -- the report in plain words
        severity TEXT NOT NULL,      -- a [[severities]] name: P1 .. P4
        owner TEXT,
        status TEXT NOT NULL,        -- investigating | identified | monitoring | resolved
        tier TEXT NOT NULL DEFAULT 'L1',
        resolved_at REAL
    );
    CREATE TABLE incident_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id INTEGER NOT NULL,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        kind TEXT NOT NULL,          -- open | status | note | escalation | link | unlink | checklist | severity | owner
        text TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX incident_events_incident ON incident_events (incident_id, t);
    CREATE TABLE incident_alerts (
        incident_id INTEGER NOT NULL,
        alert_id TEXT NOT NULL,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        PRIMARY KEY (incident_id, alert_id)
    );
    CREATE TABLE incident_checklist (
        incident_id INTEGER NOT NULL,
        item TEXT NOT NULL,          -- symptoms | reproduction | environment | tried
        text TEXT NOT NULL,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        PRIMARY KEY (incident_id, item)
    );
    CREATE TABLE config_writes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        source TEXT NOT NULL,        -- tune
        path TEXT NOT NULL,
        changes TEXT NOT NULL DEFAULT '[]'  -- JSON list of "rules[disk].warn: 85 -> 90" lines
    );
    CREATE INDEX config_writes_t ON config_writes (t);
    """,
]

SCHEMA_VERSION = len(_MIGRATIONS)


def _labels_json(labels: Mapping[str, str] | None) -> str:
    return json.dumps(dict(sorted((labels or {}).items())), separators=(",", ":"))


def current_user() -> str:
    """Who acks: $USER, else $LOGNAME, else the login of this process (cron, sudo -i, containers)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no environment variable and no passwd entry
        return "unknown"


@dataclass(frozen=True)
class Ack:
    id: int
    alert_id: str
    t: float
    who: str
    note: str
    sticky: bool
    expires_at: float | None
    cleared_at: float | None


@dataclass(frozen=True)
class Silence:
    id: int
    t: float
    who: str
    matchers: dict[str, str]
    note: str
    ends_at: float
    until_resolved: bool
    expired_at: float | None
    external_id: str | None

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.matchers.items())


@dataclass(frozen=True)
class Note:
    id: int
    t: float
    who: str
    target: str | None
    alert_id: str | None
    text: str


@dataclass(frozen=True)
class Transition:
    id: int
    t: float
    alert_id: str
    rule: str
    target: str
    from_state: str
    to_state: str
    severity: str | None
    value: float | None
    reason: str


@dataclass(frozen=True)
class NotifySent:
    """What one [[notify]] target was last told of one alert (level-triggered delivery compares
    the alert's state now with this, every poll)."""

    target: str
    alert_id: str
    status: str  # firing | resolved
    since: float
    severity: str | None
    tier: str | None
    t: float
    data: dict[str, Any]


@dataclass(frozen=True)
class NotifyEvent:
    """One alert event to enqueue: it joins an open notification of its group or starts one."""

    id: str  # the event id (the notification's id when it starts one)
    target: str
    event: str  # firing | resolved | escalation
    grp: str
    window: float  # group window in seconds (0: a notification of its own)
    alert: dict[str, Any]


@dataclass(frozen=True)
class OutboxRow:
    id: str
    target: str
    event: str
    grp: str
    created_at: float
    ready_at: float
    alerts: list[dict[str, Any]]
    attempts: int
    next_try: float
    last_error: str | None
    sent_at: float | None


@dataclass
class AlertWrites:
    """Alert changes the engine holds until the store commits them.

    The engine changes state in memory at once and adds the change here; the
    collector's writer commits the lot with the next poll's samples. A batch that
    fails (store locked, disk full) is kept and merged with newer changes, so the
    store catches up as soon as it can be written: memory and store disagree for
    no longer than the store is unavailable.

    - ``rows``: alert id -> (Alert, t) to upsert, or None to delete; the newest wins.
    - ``transitions``: rows for the transitions table, in order.
    - ``ack_clears``: (alert id, reason, t, only_non_sticky); acks given after t stay.
    - ``resolved``: (labels of an alert that resolved, t): ends the until-resolved
      silences that match it, unless one of ``firing`` (labels of the alerts firing
      when the batch was taken) still matches.
    - ``pages``: (event, alert id, labels) whose ``notify`` is cleared if an ack or a
      silence holds the page at commit time.
    """

    rows: dict[str, "tuple[Alert, float] | None"] = field(default_factory=dict)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    ack_clears: list[tuple[str, str, float, bool]] = field(default_factory=list)
    resolved: list[tuple[dict[str, str], float]] = field(default_factory=list)
    firing: list[dict[str, str]] = field(default_factory=list)
    pages: list[tuple[Any, str, dict[str, str]]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # the transitions' events, for whoever logs them once written

    def __bool__(self) -> bool:
        return bool(self.rows or self.transitions or self.ack_clears or self.resolved or self.pages)

    def __len__(self) -> int:
        return len(self.rows) + len(self.transitions)

    def merge_newer(self, newer: "AlertWrites") -> "AlertWrites":
        """This (older, unwritten) batch followed by ``newer``: one batch to write."""
        self.rows.update(newer.rows)
        self.transitions += newer.transitions
        self.ack_clears += newer.ack_clears
        self.resolved += newer.resolved
        self.firing = newer.firing or self.firing
        self.pages += newer.pages
        self.events += newer.events
        return self


class Store:
    """A connection to the store. Thread-safe: one lock serialises use of the connection."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = 5.0):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._series: dict[tuple[str, str, str], int] = {}
        self._sample_sids: dict[tuple[Any, ...], int] = {}  # write_poll's: (target, metric, label items) -> id
        # latest(raw=False): rows parsed so far and the sorted list, per kind
        self._latest_cache: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._latest_sorted: dict[str, list[dict[str, Any]]] = {}
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Created 0600 like the handover file (acks, notes and hosts' output are private);
                # SQLite gives its -wal and -shm files the database file's mode.
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self._db = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
            else:
                self._check_version()
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the store: {e}") from None
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open the store: {e.strerror or e}") from None

    # --- plumbing ------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from None

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer opsdash (schema {version} > {SCHEMA_VERSION})"
                )
            for i in range(version, SCHEMA_VERSION):
                for stmt in _MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_version(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version}, this opsdash reads {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- samples -------------------------------------------------------------------

    def _series_id(self, db: sqlite3.Connection, target: str, metric: str, labels: str) -> int:
        key = (target, metric, labels)
        sid = self._series.get(key)
        if sid is None:
            db.execute("INSERT OR IGNORE INTO series (target, metric, labels) VALUES (?, ?, ?)", key)
            sid = db.execute(
                "SELECT id FROM series WHERE target = ? AND metric = ? AND labels = ?", key
            ).fetchone()[0]
            self._series[key] = sid
        return sid

    def write_samples(self, samples: Iterable[Sample]) -> int:
        rows = []
        with self._tx() as db:
            for s in samples:
                rows.append((self._series_id(db, s.target, s.metric, _labels_json(s.labels)), s.t, s.value))
            db.executemany("INSERT INTO samples (series_id, t, value) VALUES (?, ?, ?)", rows)
        return len(rows)

    def write_poll(
        self, samples: Iterable[Sample], latest: Iterable[tuple[str, str, str, float, Mapping[str, Any], str | None]],
        alerts: "AlertWrites | None" = None,
        heartbeat: tuple[int, float, float, Mapping[str, Any]] | None = None,
    ) -> None:
        """One transaction for a batch of polls: samples, their latest rows, the alert
        engine's changes since the last batch, and the collector's ``heartbeat`` (pid,
        started, now, stats) when given (all or nothing: the caller keeps them on failure)."""
        known = self._sample_sids
        added: list[tuple[Any, ...]] = []
        try:
            with self._tx() as db:
                if alerts is not None:
                    self._apply_alert_writes(db, alerts)
                rows = []
                for s in samples:
                    # The series id by the sample's own fields: no labels JSON per sample, only per new series.
                    key = (s.target, s.metric, tuple(s.labels.items()) if s.labels else ())
                    sid = known.get(key)
                    if sid is None:
                        sid = known[key] = self._series_id(db, s.target, s.metric, _labels_json(s.labels))
                        added.append(key)
                    rows.append((sid, s.t, s.value))
                db.executemany("INSERT INTO samples (series_id, t, value) VALUES (?, ?, ?)", rows)
                self._write_latest(db, latest)
                if heartbeat is not None:
                    self._heartbeat(db, *heartbeat)
        except BaseException:
            # A series inserted in a transaction that rolled back does not exist: forget its id.
            for key in added:
                sid = known.pop(key, None)
                self._series = {k: v for k, v in self._series.items() if v != sid}
            raise

    def _write_latest(
        self, db: sqlite3.Connection, latest: Iterable[tuple[str, str, str, float, Mapping[str, Any], str | None]]
    ) -> None:
        # Only the newest row per (kind, target, name) is written: older ones in the batch are not
        # encoded. A newer row without raw output keeps an older one's, as COALESCE would have.
        newest: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for row in latest:
            key = (row[0], row[1], row[2])
            if row[5] is None and (prev := newest.get(key)) is not None and prev[5] is not None:
                row = (*row[:5], prev[5])
            newest[key] = row
        db.executemany(
            "INSERT INTO latest (kind, target, name, t, data, raw) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, target, name) DO UPDATE SET t = excluded.t, data = excluded.data, "
            "raw = COALESCE(excluded.raw, latest.raw)",
            [(k, tg, n, t, json.dumps(d), raw) for k, tg, n, t, d, raw in newest.values()],
        )

    def series(self, *, target: str | None = None, metric: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
        sql, args = "SELECT target, metric, labels FROM series WHERE 1=1", []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if metric is not None:
            sql += " AND metric = ?"
            args.append(metric)
        return [(t, m, json.loads(lab)) for t, m, lab in self._query(sql + " ORDER BY target, metric", args)]

    def history(
        self,
        target: str,
        metric: str,
        since: float,
        until: float | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[tuple[float, float]]:
        """(t, value) for one series (or every label set of target+metric if labels is None)."""
        sql = (
            "SELECT s.t, s.value FROM samples s JOIN series r ON r.id = s.series_id "
            "WHERE r.target = ? AND r.metric = ? AND s.t >= ?"
        )
        args: list[Any] = [target, metric, since]
        if labels is not None:
            sql += " AND r.labels = ?"
            args.append(_labels_json(labels))
        if until is not None:
            sql += " AND s.t <= ?"
            args.append(until)
        return [(t, v) for t, v in self._query(sql + " ORDER BY s.t", args)]

    def iter_samples(self, since: float, until: float | None = None, batch: int = 50000) -> Iterator[Sample]:
        """Every sample in time order (for replay and tune)."""
        names = {
            sid: (t, m, json.loads(lab)) for sid, t, m, lab in self._query("SELECT id, target, metric, labels FROM series")
        }
        last_t, last_rowid = since, -1
        until = until if until is not None else float("inf")
        while True:
            rows = self._query(
                "SELECT rowid, series_id, t, value FROM samples WHERE (t > ? OR (t = ? AND rowid > ?)) AND t <= ? "
                "ORDER BY t, rowid LIMIT ?",
                (last_t, last_t, last_rowid, until, batch),
            )
            if not rows:
                return
            for rowid, sid, t, v in rows:
                target, metric, labels = names[sid]
                yield Sample(t, target, metric, v, labels)
            last_rowid, _, last_t, _ = rows[-1]

    def series_arrays(
        self, since: float, until: float | None = None, metrics: Callable[[str], bool] | None = None
    ) -> Iterator[tuple[str, str, dict[str, str], array, array]]:
        """Each series from ``since`` as (target, metric, labels, times, values), the two
        as ``array("d")``: one indexed query per series, no per-sample objects (tune
        reads a week of a thousand series this way)."""
        until = float("inf") if until is None else until
        for sid, target, metric, labels in self._query("SELECT id, target, metric, labels FROM series ORDER BY id"):
            if metrics is not None and not metrics(metric):
                continue
            rows = self._query(
                "SELECT t, value FROM samples WHERE series_id = ? AND t >= ? AND t <= ? ORDER BY t", (sid, since, until)
            )
            if rows:
                flat = array("d", chain.from_iterable(rows))  # t0, v0, t1, v1 ... built in C
                yield target, metric, json.loads(labels), flat[0::2], flat[1::2]

    def prune(self, now: float, retention: float) -> int:
        with self._tx() as db:
            n = db.execute("DELETE FROM samples WHERE t < ?", (now - retention,)).rowcount
            db.execute("DELETE FROM transitions WHERE t < ?", (now - retention,))
        return n

    # --- latest snapshots ---------------------------------------------------------

    def put_latest(self, kind: str, target: str, name: str, t: float, data: Mapping[str, Any], raw: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO latest (kind, target, name, t, data, raw) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, target, name) DO UPDATE SET t = excluded.t, data = excluded.data, "
                "raw = COALESCE(excluded.raw, latest.raw)",
                (kind, target, name, t, json.dumps(data), raw),
            )

    def latest(self, kind: str, target: str | None = None, *, raw: bool = True) -> list[dict[str, Any]]:
        """The latest reading of each thing of ``kind`` (optionally of one target).

        ``raw=False`` (what a viewer polling every second wants) leaves out the raw
        probe output and parses only rows written since the last call: a thousand
        hosts cost a cheap query, not a thousand JSON documents, per refresh. The
        dicts returned then are shared between calls: treat them as read-only.
        """
        if raw or target is not None:
            sql, args = "SELECT target, name, t, data, raw FROM latest WHERE kind = ?", [kind]
            if target is not None:
                sql += " AND target = ?"
                args.append(target)
            return [
                {"target": tg, "name": n, "t": t, "data": json.loads(d), "raw": r}
                for tg, n, t, d, r in self._query(sql + " ORDER BY target, name", args)
            ]
        # Which rows changed: compare each row's t with what we parsed last time. (Not a
        # watermark on t: t is when a poll started, so a slow poll writes an older t.)
        cache = self._latest_cache.setdefault(kind, {})
        stamps = {(tg, n): t for tg, n, t in self._query("SELECT target, name, t FROM latest WHERE kind = ?", (kind,))}
        stale = [k for k in cache if k not in stamps]
        for k in stale:
            del cache[k]
        todo = [k for k, t in stamps.items() if k not in cache or cache[k]["t"] != t]
        for i in range(0, len(todo), 400):
            chunk = todo[i : i + 400]
            where = " OR ".join(["(target = ? AND name = ?)"] * len(chunk))
            args: list[Any] = [kind] + [x for k in chunk for x in k]
            for tg, n, t, d in self._query(f"SELECT target, name, t, data FROM latest WHERE kind = ? AND ({where})", args):
                cache[(tg, n)] = {"target": tg, "name": n, "t": t, "data": json.loads(d), "raw": None}
        changed = bool(stale or todo)
        rows = self._latest_sorted.get(kind)
        if changed or rows is None:
            rows = self._latest_sorted[kind] = [cache[k] for k in sorted(cache)]
        return list(rows)

    def retain_latest(self, targets: Mapping[str, set[str]]) -> int:
        """Delete the latest rows of ``kind`` whose target is not in ``targets[kind]``."""
        n = 0
        with self._tx() as db:
            for kind, keep in targets.items():
                gone = [(kind, t) for (t,) in db.execute("SELECT DISTINCT target FROM latest WHERE kind = ?", (kind,))
                        if t not in keep]
                db.executemany("DELETE FROM latest WHERE kind = ? AND target = ?", gone)
                n += len(gone)
        return n

    # --- alerts -----------------------------------------------------------------------

    # The tier is a viewer's (an escalation writes it): the engine's upsert offers the rule's
    # tier for the severity, and a row still open keeps a higher tier someone escalated it to.
    # Decided inside the write, so an escalation committed a moment before is never undone.
    # A new episode (the row was resolved) starts from the rule's tier again. "L1" < "L2" < "L3".
    _UPSERT_ALERT = (
        "INSERT INTO alerts (id, rule, target, labels, severity, state, since, value, summary, runbook, tier,"
        " flapping, inhibited, source, updated_at, resolved_at, suppressed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (id) DO UPDATE SET severity=excluded.severity, state=excluded.state, since=excluded.since,"
        " value=excluded.value, summary=excluded.summary, runbook=excluded.runbook,"
        " tier=CASE WHEN alerts.state != 'resolved' AND alerts.tier > excluded.tier THEN alerts.tier"
        " ELSE excluded.tier END,"
        " flapping=excluded.flapping, inhibited=excluded.inhibited, labels=excluded.labels,"
        " suppressed_by=excluded.suppressed_by,"
        " updated_at=excluded.updated_at, resolved_at=excluded.resolved_at"
    )

    @staticmethod
    def _alert_row(a: Alert, now: float) -> tuple[Any, ...]:
        return (
            a.id, a.rule, a.target, _labels_json(a.labels), a.severity, a.state, a.since, a.value,
            a.summary, a.runbook, a.tier, int(a.flapping), int(a.inhibited), a.source, now,
            now if a.state == "resolved" else None, a.suppressed_by,
        )

    def upsert_alert(self, a: Alert, now: float) -> None:
        with self._tx() as db:
            db.execute(self._UPSERT_ALERT, self._alert_row(a, now))

    def delete_alert(self, alert_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))

    def write_alerts(self, w: "AlertWrites") -> None:
        """Commit the engine's held alert changes in one transaction (see AlertWrites)."""
        with self._tx() as db:
            self._apply_alert_writes(db, w)

    def _apply_alert_writes(self, db: sqlite3.Connection, w: "AlertWrites") -> None:
        for aid, row in w.rows.items():
            if row is None:
                db.execute("DELETE FROM alerts WHERE id = ?", (aid,))
            else:
                db.execute(self._UPSERT_ALERT, self._alert_row(*row))
        db.executemany(
            "INSERT INTO transitions (t, alert_id, rule, target, from_state, to_state, severity, value, reason)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            w.transitions,
        )
        for aid, reason, t, only_non_sticky in w.ack_clears:
            # Only acks given before the change: one a viewer wrote while this change waited
            # for the store is about the new state and stays.
            sql = ("UPDATE acks SET cleared_at = ?, cleared_reason = ? WHERE alert_id = ? AND cleared_at IS NULL"
                   " AND t <= ?")
            db.execute(sql + (" AND sticky = 0" if only_non_sticky else ""), (t, reason, aid, t))
        if w.resolved:
            silences = [s for s in self._silences_in(db, min(t for _, t in w.resolved))
                        if s.until_resolved and s.expired_at is None]
            for full, t in w.resolved:
                for s in silences:
                    if s.t <= t < s.ends_at and s.matches(full) and not any(s.matches(o) for o in w.firing):
                        db.execute("UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL", (t, s.id))
        if w.pages:
            for ev, aid, full in w.pages:
                acked = db.execute(
                    "SELECT 1 FROM acks WHERE alert_id = ? AND cleared_at IS NULL AND t <= ?"
                    " AND (expires_at IS NULL OR expires_at > ?) LIMIT 1", (aid, ev.t, ev.t)).fetchone()
                if acked or any(s.expired_at is None and s.t <= ev.t < s.ends_at and s.matches(full)
                                for s in self._silences_in(db, ev.t)):
                    ev.notify = False

    def alerts(self, *, states: Sequence[str] | None = None, now: float | None = None) -> list[Alert]:
        """Alerts with their ack and silence state resolved at ``now``."""
        now = time.time() if now is None else now
        sql = (
            "SELECT id, rule, target, labels, severity, state, since, value, summary, runbook, tier, flapping,"
            " inhibited, source, suppressed_by FROM alerts"
        )
        args: list[Any] = []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args.extend(states)
        rows = self._query(sql + " ORDER BY since", args)
        silences = self.active_silences(now)
        acks = self.active_acks(now)  # one query, not one per alert (1000 alerts, every second)
        out = []
        for r in rows:
            labels = json.loads(r[3])
            a = Alert(
                id=r[0], rule=r[1], target=r[2], labels=labels, severity=r[4], state=r[5], since=r[6],
                value=r[7], summary=r[8], runbook=r[9], tier=r[10], flapping=bool(r[11]),
                inhibited=bool(r[12]), source=r[13], suppressed_by=r[14],
            )
            ack = acks.get(a.id)
            if ack:
                a.acked, a.ack_note, a.ack_by = True, ack.note, ack.who
            full = {**labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}
            a.silenced = any(s.matches(full) for s in silences)
            out.append(a)
        return out

    def alert(self, alert_id: str, now: float | None = None) -> Alert | None:
        return next((a for a in self.alerts(now=now) if a.id == alert_id), None)

    def add_transition(
        self, t: float, alert_id: str, rule: str, target: str, from_state: str, to_state: str,
        severity: str | None, value: float | None, reason: str,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO transitions (t, alert_id, rule, target, from_state, to_state, severity, value, reason)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (t, alert_id, rule, target, from_state, to_state, severity, value, reason),
            )

    def transitions(self, since: float = 0.0, until: float | None = None, alert_id: str | None = None) -> list[Transition]:
        sql = "SELECT id, t, alert_id, rule, target, from_state, to_state, severity, value, reason FROM transitions WHERE t >= ?"
        args: list[Any] = [since]
        if until is not None:
            sql += " AND t <= ?"
            args.append(until)
        if alert_id is not None:
            sql += " AND alert_id = ?"
            args.append(alert_id)
        return [Transition(*r) for r in self._query(sql + " ORDER BY t, id", args)]

    # --- acks -------------------------------------------------------------------------

    def add_ack(
        self, alert_id: str, *, who: str, note: str = "", sticky: bool = False,
        expires_at: float | None = None, t: float | None = None,
    ) -> int:
        t = time.time() if t is None else t
        with self._tx() as db:
            db.execute(
                "UPDATE acks SET cleared_at = ?, cleared_reason = 'replaced' WHERE alert_id = ? AND cleared_at IS NULL",
                (t, alert_id),
            )
            return db.execute(
                "INSERT INTO acks (alert_id, t, who, note, sticky, expires_at) VALUES (?,?,?,?,?,?)",
                (alert_id, t, who, note, int(sticky), expires_at),
            ).lastrowid or 0

    def clear_acks(self, alert_id: str, *, reason: str, t: float | None = None, only_non_sticky: bool = False) -> int:
        t = time.time() if t is None else t
        sql = "UPDATE acks SET cleared_at = ?, cleared_reason = ? WHERE alert_id = ? AND cleared_at IS NULL"
        if only_non_sticky:
            sql += " AND sticky = 0"
        with self._tx() as db:
            return db.execute(sql, (t, reason, alert_id)).rowcount

    def active_ack(self, alert_id: str, now: float) -> Ack | None:
        rows = self._query(
            "SELECT id, alert_id, t, who, note, sticky, expires_at, cleared_at FROM acks WHERE alert_id = ?"
            " AND cleared_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY t DESC LIMIT 1",
            (alert_id, now),
        )
        return Ack(*rows[0][:5], bool(rows[0][5]), rows[0][6], rows[0][7]) if rows else None

    def active_acks(self, now: float) -> dict[str, Ack]:
        """The ack in force per alert id (the latest, as ``active_ack`` picks)."""
        rows = self._query(
            "SELECT id, alert_id, t, who, note, sticky, expires_at, cleared_at FROM acks"
            " WHERE cleared_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY t, id",
            (now,),
        )
        return {r[1]: Ack(*r[:5], bool(r[5]), r[6], r[7]) for r in rows}  # later rows win

    def acks(self, since: float = 0.0) -> list[Ack]:
        rows = self._query(
            "SELECT id, alert_id, t, who, note, sticky, expires_at, cleared_at FROM acks WHERE t >= ? ORDER BY t", (since,)
        )
        return [Ack(*r[:5], bool(r[5]), r[6], r[7]) for r in rows]

    # --- silences -------------------------------------------------------------------

    def add_silence(
        self, matchers: Mapping[str, str], *, ends_at: float, who: str, note: str = "",
        until_resolved: bool = False, t: float | None = None, external_id: str | None = None,
    ) -> int:
        t = time.time() if t is None else t
        with self._tx() as db:
            return db.execute(
                "INSERT INTO silences (t, who, matchers, note, ends_at, until_resolved, external_id) VALUES (?,?,?,?,?,?,?)",
                (t, who, _labels_json(matchers), note, ends_at, int(until_resolved), external_id),
            ).lastrowid or 0

    def expire_silence(self, silence_id: int, t: float | None = None) -> bool:
        t = time.time() if t is None else t
        with self._tx() as db:
            return db.execute(
                "UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL", (t, silence_id)
            ).rowcount > 0

    def set_silence_external_id(self, silence_id: int, external_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE silences SET external_id = ? WHERE id = ?", (external_id, silence_id))

    def silences(self, *, since: float = 0.0) -> list[Silence]:
        with self._lock:
            try:
                return self._silences_in(self._db, since)
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from None

    @staticmethod
    def _silences_in(db: sqlite3.Connection, since: float) -> list[Silence]:
        rows = db.execute(
            "SELECT id, t, who, matchers, note, ends_at, until_resolved, expired_at, external_id FROM silences"
            " WHERE ends_at >= ? ORDER BY t",
            (since,),
        ).fetchall()
        return [Silence(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], bool(r[6]), r[7], r[8]) for r in rows]

    def active_silences(self, now: float) -> list[Silence]:
        return [s for s in self.silences(since=now) if s.expired_at is None and s.t <= now < s.ends_at]

    # --- notes and escalations ------------------------------------------------------

    def add_note(self, text: str, *, who: str, target: str | None = None, alert_id: str | None = None,
                 t: float | None = None) -> int:
        t = time.time() if t is None else t
        with self._tx() as db:
            return db.execute(
                "INSERT INTO notes (t, who, target, alert_id, text) VALUES (?,?,?,?,?)", (t, who, target, alert_id, text)
            ).lastrowid or 0

    def notes(self, since: float = 0.0, *, target: str | None = None, alert_id: str | None = None) -> list[Note]:
        sql, args = "SELECT id, t, who, target, alert_id, text FROM notes WHERE t >= ?", [since]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if alert_id is not None:
            sql += " AND alert_id = ?"
            args.append(alert_id)
        return [Note(*r) for r in self._query(sql + " ORDER BY t", args)]

    def add_escalation(self, alert_id: str, *, who: str, from_tier: str | None, to_tier: str, t: float | None = None) -> bool:
        """Raise the alert's tier from ``from_tier`` to ``to_tier`` and record who did it, in one
        transaction; False (nothing written) when the tier is no longer ``from_tier`` (someone
        else escalated meanwhile). ``from_tier`` None: whatever it is now."""
        t = time.time() if t is None else t
        with self._tx() as db:
            row = db.execute("SELECT tier FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is not None and from_tier is not None and row[0] != from_tier:
                return False
            db.execute(
                "INSERT INTO escalations (t, alert_id, who, from_tier, to_tier) VALUES (?,?,?,?,?)",
                (t, alert_id, who, from_tier if from_tier is not None else (row[0] if row else None), to_tier),
            )
            db.execute("UPDATE alerts SET tier = ? WHERE id = ?", (to_tier, alert_id))
            return True

    def escalations(self, alert_id: str | None = None) -> list[tuple[float, str, str, str | None, str]]:
        sql, args = "SELECT t, alert_id, who, from_tier, to_tier FROM escalations", []
        if alert_id is not None:
            sql += " WHERE alert_id = ?"
            args.append(alert_id)
        return [tuple(r) for r in self._query(sql + " ORDER BY t", args)]  # type: ignore[misc]

    # --- the collector's heartbeat ---------------------------------------------------

    def heartbeat(self, pid: int, started_at: float, now: float, stats: Mapping[str, Any] | None = None) -> None:
        with self._tx() as db:
            self._heartbeat(db, pid, started_at, now, stats)

    @staticmethod
    def _heartbeat(db: sqlite3.Connection, pid: int, started_at: float, now: float,
                   stats: Mapping[str, Any] | None = None) -> None:
        db.execute(
            "INSERT INTO collector (id, pid, started_at, heartbeat, stats) VALUES (1, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET pid=excluded.pid, started_at=excluded.started_at,"
            " heartbeat=excluded.heartbeat, stats=excluded.stats",
            (pid, started_at, now, json.dumps(stats or {})),
        )

    def collector_status(self) -> dict[str, Any] | None:
        rows = self._query("SELECT pid, started_at, heartbeat, stats FROM collector WHERE id = 1")
        if not rows:
            return None
        pid, started, hb, stats = rows[0]
        return {"pid": pid, "started_at": started, "heartbeat": hb, "stats": json.loads(stats or "{}")}

    def collector_running(self, now: float, max_age: float = 30.0) -> bool:
        """True when a collector wrote a heartbeat recently and is alive: what the header
        shows. Whether a collector may start is the collector lock's answer, not this."""
        st = self.collector_status()
        if not st or now - st["heartbeat"] > max_age:
            return False
        try:
            os.kill(st["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def alert_tier(self, alert_id: str) -> str | None:
        """The tier an alert row carries now (an escalation raises it), or None if there is no row."""
        rows = self._query("SELECT tier FROM alerts WHERE id = ?", (alert_id,))
        return rows[0][0] if rows else None

    # --- notifications (opsdash/notify): outbox and sent state ------------------------
    # Written by the collector's process only: the reconcile step (from its writer) enqueues,
    # the delivery task seals, marks sent or failed. Each call is one transaction.

    _OUTBOX_COLS = "id, target, event, grp, created_at, ready_at, alerts, attempts, next_try, last_error, sent_at"

    @staticmethod
    def _outbox_row(r: Sequence[Any]) -> OutboxRow:
        return OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9], r[10])

    def notify_sent(self, target: str | None = None) -> dict[tuple[str, str], NotifySent]:
        sql, args = "SELECT target, alert_id, status, since, severity, tier, t, data FROM notify_sent", []
        if target is not None:
            sql += " WHERE target = ?"
            args.append(target)
        return {(r[0], r[1]): NotifySent(*r[:7], json.loads(r[7])) for r in self._query(sql, args)}

    def enqueue_notifications(self, events: Iterable[NotifyEvent], sent: Iterable[NotifySent], now: float) -> int:
        """One transaction: the events into the outbox (each joins the open notification of its
        target, event and group whose window has not closed, else starts one) and the new sent
        state. Committed before anything is sent: a kill -9 after this loses nothing. Returns
        how many notifications were started."""
        started = 0
        with self._tx() as db:
            for ev in events:
                row = None
                if ev.window > 0:
                    row = db.execute(
                        "SELECT id, alerts FROM notify_outbox WHERE target = ? AND event = ? AND grp = ?"
                        " AND sent_at IS NULL AND attempts = 0 AND ready_at > ? ORDER BY created_at LIMIT 1",
                        (ev.target, ev.event, ev.grp, now)).fetchone()
                if row is not None:
                    members = json.loads(row[1])
                    if not any(m.get("event_id") == ev.id for m in members):
                        members.append(ev.alert)
                        db.execute("UPDATE notify_outbox SET alerts = ? WHERE id = ?", (json.dumps(members), row[0]))
                    continue
                started += db.execute(
                    "INSERT OR IGNORE INTO notify_outbox (id, target, event, grp, created_at, ready_at, alerts,"
                    " next_try) VALUES (?,?,?,?,?,?,?,?)",
                    (ev.id, ev.target, ev.event, ev.grp, now, now + ev.window, json.dumps([ev.alert]), now),
                ).rowcount
            db.executemany(
                "INSERT INTO notify_sent (target, alert_id, status, since, severity, tier, t, data)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (target, alert_id) DO UPDATE SET status=excluded.status,"
                " since=excluded.since, severity=excluded.severity, tier=excluded.tier, t=excluded.t,"
                " data=excluded.data",
                [(s.target, s.alert_id, s.status, s.since, s.severity, s.tier, s.t, json.dumps(s.data)) for s in sent],
            )
        return started

    def claim_notification(self, target: str, now: float) -> OutboxRow | None:
        """The target's oldest unsent notification if it is due (its group window closed, its
        retry time come), sealed (attempts + 1: nothing joins it any more) in the same
        transaction. FIFO per target: while the oldest waits for a retry, the rest wait too,
        so a receiver learns of a resolve only after the firing it ends."""
        with self._tx() as db:
            r = db.execute(f"SELECT {self._OUTBOX_COLS} FROM notify_outbox WHERE target = ? AND sent_at IS NULL"
                           " ORDER BY created_at, id LIMIT 1", (target,)).fetchone()
            if r is None or r[5] > now or r[8] > now:
                return None
            db.execute("UPDATE notify_outbox SET attempts = attempts + 1 WHERE id = ?", (r[0],))
        row = self._outbox_row(r)
        return OutboxRow(**{**row.__dict__, "attempts": row.attempts + 1})

    def notification_sent(self, notification_id: str, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE notify_outbox SET sent_at = ?, last_error = NULL WHERE id = ?", (now, notification_id))

    def notification_rejected(self, notification_id: str, error: str, now: float) -> None:
        """The receiver refused it for good (a 4xx): done with, the error kept for `notify status`."""
        with self._tx() as db:
            db.execute("UPDATE notify_outbox SET sent_at = ?, last_error = ? WHERE id = ?", (now, error, notification_id))

    def notification_failed(self, notification_id: str, error: str, next_try: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE notify_outbox SET last_error = ?, next_try = ? WHERE id = ?",
                       (error, next_try, notification_id))

    def notifications(self, *, target: str | None = None, unsent_only: bool = False,
                      limit: int | None = None) -> list[OutboxRow]:
        """Outbox rows, oldest first."""
        sql, args = f"SELECT {self._OUTBOX_COLS} FROM notify_outbox WHERE 1=1", []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if unsent_only:
            sql += " AND sent_at IS NULL"
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._outbox_row(r) for r in self._query(sql, args)]

    def notify_counts(self) -> dict[str, dict[str, Any]]:
        """Per target: queued (not sent, no failed attempt), failing (not sent, the last attempt
        failed), sent, rejected (refused for good), the oldest unsent's creation time, the last
        error of an unsent one and the last send."""
        rows = self._query(
            "SELECT target, SUM(sent_at IS NULL AND last_error IS NULL), SUM(sent_at IS NULL AND last_error IS NOT NULL),"
            " SUM(sent_at IS NOT NULL AND last_error IS NULL), SUM(sent_at IS NOT NULL AND last_error IS NOT NULL),"
            " MIN(CASE WHEN sent_at IS NULL THEN created_at END), MAX(CASE WHEN last_error IS NULL THEN sent_at END)"
            " FROM notify_outbox GROUP BY target")
        out = {r[0]: {"queued": r[1] or 0, "failing": r[2] or 0, "sent": r[3] or 0, "rejected": r[4] or 0,
                      "oldest_unsent": r[5], "last_sent": r[6], "last_error": None} for r in rows}
        for target, err in self._query(
                "SELECT target, last_error FROM notify_outbox WHERE sent_at IS NULL AND last_error IS NOT NULL"
                " ORDER BY created_at DESC"):
            if target in out and out[target]["last_error"] is None:
                out[target]["last_error"] = err
        return out

    def prune_notifications(self, before: float) -> int:
        """Forget sent notifications and resolved sent-state older than ``before``."""
        with self._tx() as db:
            n = db.execute("DELETE FROM notify_outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (before,)).rowcount
            db.execute("DELETE FROM notify_sent WHERE status = 'resolved' AND t < ?", (before,))
        return n

    # --- incidents (opsdash/incidents.py) and config writes --------------------------
    # Written by viewers (the CLI, the TUI); each call is one committed transaction.

    _INCIDENT_COLS = "id, t, who, text, severity, owner, status, tier, resolved_at"

    def add_incident(self, text: str, *, severity: str, who: str, owner: str | None = None,
                     status: str = "investigating", t: float | None = None) -> int:
        t = time.time() if t is None else t
        with self._tx() as db:
            iid = db.execute(
                "INSERT INTO incidents (t, who, text, severity, owner, status) VALUES (?,?,?,?,?,?)",
                (t, who, text, severity, owner, status)).lastrowid or 0
            db.execute("INSERT INTO incident_events (incident_id, t, who, kind, text, data) VALUES (?,?,?,?,?,?)",
                       (iid, t, who, "open", text, json.dumps({"severity": severity, "owner": owner,
                                                                "status": status})))
        return iid

    def incident(self, incident_id: int) -> "IncidentRow | None":
        rows = self._query(f"SELECT {self._INCIDENT_COLS} FROM incidents WHERE id = ?", (incident_id,))
        return IncidentRow(*rows[0]) if rows else None

    def incidents(self, *, open_only: bool = False, since: float = 0.0) -> list["IncidentRow"]:
        """Incidents opened since ``since`` (and every one still open), oldest first."""
        sql = f"SELECT {self._INCIDENT_COLS} FROM incidents WHERE (t >= ? OR resolved_at IS NULL OR resolved_at >= ?)"
        if open_only:
            sql += " AND status != 'resolved'"
        return [IncidentRow(*r) for r in self._query(sql + " ORDER BY t, id", (since, since))]

    def update_incident(self, incident_id: int, *, who: str, kind: str, text: str = "",
                        data: Mapping[str, Any] | None = None, t: float | None = None,
                        **fields: Any) -> None:
        """Change the incident's ``fields`` (status, severity, owner, tier, resolved_at) and
        record the event ``kind`` with its ``text`` in the same transaction."""
        allowed = {"status", "severity", "owner", "tier", "resolved_at"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"not an incident field: {', '.join(sorted(bad))}")
        t = time.time() if t is None else t
        with self._tx() as db:
            if fields:
                sets = ", ".join(f"{k} = ?" for k in fields)
                db.execute(f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), incident_id))
            db.execute("INSERT INTO incident_events (incident_id, t, who, kind, text, data) VALUES (?,?,?,?,?,?)",
                       (incident_id, t, who, kind, text, json.dumps(dict(data or {}))))

    def incident_events(self, incident_id: int) -> list["IncidentEvent"]:
        return [IncidentEvent(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in self._query(
            "SELECT id, incident_id, t, who, kind, text, data FROM incident_events WHERE incident_id = ?"
            " ORDER BY t, id", (incident_id,))]

    def link_incident_alert(self, incident_id: int, alert_id: str, *, who: str, t: float | None = None) -> bool:
        """Link an alert to the incident; False if it was linked already (nothing written)."""
        t = time.time() if t is None else t
        with self._tx() as db:
            n = db.execute("INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id, t, who) VALUES (?,?,?,?)",
                           (incident_id, alert_id, t, who)).rowcount
            if n:
                db.execute("INSERT INTO incident_events (incident_id, t, who, kind, text, data) VALUES (?,?,?,?,?,?)",
                           (incident_id, t, who, "link", alert_id, "{}"))
        return n > 0

    def unlink_incident_alert(self, incident_id: int, alert_id: str, *, who: str, t: float | None = None) -> bool:
        t = time.time() if t is None else t
        with self._tx() as db:
            n = db.execute("DELETE FROM incident_alerts WHERE incident_id = ? AND alert_id = ?",
                           (incident_id, alert_id)).rowcount
            if n:
                db.execute("INSERT INTO incident_events (incident_id, t, who, kind, text, data) VALUES (?,?,?,?,?,?)",
                           (incident_id, t, who, "unlink", alert_id, "{}"))
        return n > 0

    def incident_alerts(self, incident_id: int) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY t, alert_id", (incident_id,))]

    def set_incident_checklist(self, incident_id: int, item: str, text: str, *, who: str,
                               t: float | None = None) -> None:
        t = time.time() if t is None else t
        with self._tx() as db:
            db.execute("INSERT INTO incident_checklist (incident_id, item, text, t, who) VALUES (?,?,?,?,?)"
                       " ON CONFLICT (incident_id, item) DO UPDATE SET text=excluded.text, t=excluded.t,"
                       " who=excluded.who", (incident_id, item, text, t, who))
            db.execute("INSERT INTO incident_events (incident_id, t, who, kind, text, data) VALUES (?,?,?,?,?,?)",
                       (incident_id, t, who, "checklist", text, json.dumps({"item": item})))

    def incident_checklist(self, incident_id: int) -> dict[str, tuple[str, float, str]]:
        """item -> (text, t, who)."""
        return {r[0]: (r[1], r[2], r[3]) for r in self._query(
            "SELECT item, text, t, who FROM incident_checklist WHERE incident_id = ?", (incident_id,))}

    def add_config_write(self, source: str, path: str, changes: Sequence[str], *, who: str,
                         t: float | None = None) -> int:
        t = time.time() if t is None else t
        with self._tx() as db:
            return db.execute("INSERT INTO config_writes (t, who, source, path, changes) VALUES (?,?,?,?,?)",
                              (t, who, source, path, json.dumps(list(changes)))).lastrowid or 0

    def config_writes(self, since: float = 0.0, until: float | None = None) -> list["ConfigWrite"]:
        sql, args = "SELECT id, t, who, source, path, changes FROM config_writes WHERE t >= ?", [since]
        if until is not None:
            sql += " AND t <= ?"
            args.append(until)
        return [ConfigWrite(*r[:5], tuple(json.loads(r[5]))) for r in self._query(sql + " ORDER BY t, id", args)]


@dataclass(frozen=True)
class IncidentRow:
    id: int
    t: float
    who: str
    text: str
    severity: str
    owner: str | None
    status: str
    tier: str
    resolved_at: float | None


@dataclass(frozen=True)
class IncidentEvent:
    id: int
    incident_id: int
    t: float
    who: str
    kind: str
    text: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ConfigWrite:
    id: int
    t: float
    who: str
    source: str
    path: str
    changes: tuple[str, ...]
