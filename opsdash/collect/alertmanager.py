"""Alertmanager as a source: its alerts in opsdash's queue, silences both ways.

- ``GET /api/v2/alerts`` -> the store's ``alerts`` table, ``source =
  "alertmanager:<name>"``, id ``am-<fingerprint>``. ``status.state`` gives the
  state (active/suppressed -> firing, unprocessed -> pending), ``inhibitedBy``
  sets ``inhibited``; ``annotations.summary`` and ``annotations.runbook_url``
  are the summary and runbook. An alert that is no longer listed is resolved.
  Everything in an alert is untrusted remote text: stored raw, escaped by
  the viewers.
- ``GET /api/v2/silences``: Alertmanager's own active silences are mirrored
  into the store's ``silences`` table (``external_id = "<source>/<id>"``,
  who = ``createdBy``, note = ``comment``), so the queue shows them and the
  alerts they cover show as silenced. Only silences whose matchers are all
  plain equality can be mirrored (the store matches by equality); a regex or
  negative silence still suppresses the alert in Alertmanager and in
  ``opsdash once`` (``silencedBy``), but is not listed in the queue.
- A silence made in opsdash on Alertmanager alerts is created there
  (``POST /api/v2/silences``, ``push_silence``) and expired there
  (``DELETE /api/v2/silence/{id}``, ``expire_silence``).

- A ``[[maintenance]]`` window that is running is mirrored as a silence for the
  rest of its run (``mirror_windows``), so Alertmanager's own routes stay quiet too.
  Its comment carries ``[opsdash maintenance NAME@START]``: the poll that finds it
  listed does not create it again, and it is not mirrored back as a local silence
  (the engine holds opsdash's alerts itself: ``suppressed_by``).

The alert engine leaves alerts whose ``source`` is not "opsdash" alone.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import logging

import httpx

from .. import maintenance as _maint
from ..config import Config, MaintenanceConfig, SourceConfig
from ..errors import ParseError, ProbeError
from ..model import Alert, iso
from .jobs import Sink
from .prom import instance_host, match_host, source_row
from .source_http import Reply, SourceDown, http_client, request_body, request_json, safe_url

__all__ = [
    "AMAlert",
    "AMSilence",
    "AlertmanagerSilences",
    "alert_target",
    "create_alertmanager_silence",
    "expire_alertmanager_silence",
    "expire_silence",
    "expire_silence_sync",
    "parse_alerts",
    "parse_silences",
    "poll_alertmanager",
    "push_silence",
    "push_silence_sync",
    "to_alert",
]

CRITICAL_SEVERITIES = {"critical", "page", "error", "high", "emergency", "alert", "fatal", "p1", "sev1"}
_MARK = re.compile(r"\[opsdash #(\d+)\]")
_WINDOW_MARK = "[opsdash maintenance "
log = logging.getLogger("opsdash.collect")


def source_label(name: str) -> str:
    return f"alertmanager:{name}"


# --- pure ----------------------------------------------------------------------------------


def parse_time(s: Any) -> float | None:
    """RFC 3339 with any number of fraction digits (Go prints up to 9) and Z or an offset."""
    if not isinstance(s, str) or not s:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s.strip())
    if not m:
        raise ParseError(f"not an RFC 3339 time: {s[:40]!r}")
    base, frac, tz = m.groups()
    frac = (frac or ".0")[:7]
    d = _dt.datetime.fromisoformat(base + frac + ("+00:00" if tz == "Z" else tz))
    return d.timestamp()


@dataclass(frozen=True)
class AMAlert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # active | suppressed | unprocessed
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    starts_at: float | None
    generator_url: str | None = None


@dataclass(frozen=True)
class AMSilence:
    id: str
    state: str  # active | pending | expired
    matchers: tuple[dict[str, Any], ...]
    created_by: str
    comment: str
    starts_at: float | None
    ends_at: float | None

    @property
    def equality_matchers(self) -> dict[str, str] | None:
        """{name: value} when every matcher is a plain equality, else None."""
        out = {}
        for m in self.matchers:
            if m.get("isRegex") or m.get("isEqual") is False:
                return None
            out[str(m.get("name"))] = str(m.get("value"))
        return out


def _strs(d: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in d.items()} if isinstance(d, dict) else {}


def parse_alerts(doc: Any) -> list[AMAlert]:
    """The reply of ``GET /api/v2/alerts`` (a JSON list)."""
    if not isinstance(doc, list):
        raise ParseError("Alertmanager /api/v2/alerts: expected a JSON list")
    out = []
    for i, a in enumerate(doc):
        if not isinstance(a, dict) or "fingerprint" not in a or "labels" not in a:
            raise ParseError(f"Alertmanager alert #{i} without fingerprint/labels")
        st = a.get("status") if isinstance(a.get("status"), dict) else {}
        out.append(AMAlert(
            fingerprint=str(a["fingerprint"]),
            labels=_strs(a["labels"]),
            annotations=_strs(a.get("annotations")),
            state=str(st.get("state") or "active"),
            silenced_by=tuple(str(x) for x in st.get("silencedBy") or ()),
            inhibited_by=tuple(str(x) for x in st.get("inhibitedBy") or ()),
            starts_at=parse_time(a.get("startsAt")),
            generator_url=a.get("generatorURL") or None,  # may be missing
        ))
    return out


def parse_silences(doc: Any) -> list[AMSilence]:
    if not isinstance(doc, list):
        raise ParseError("Alertmanager /api/v2/silences: expected a JSON list")
    out = []
    for i, s in enumerate(doc):
        if not isinstance(s, dict) or "id" not in s:
            raise ParseError(f"Alertmanager silence #{i} without id")
        st = s.get("status") if isinstance(s.get("status"), dict) else {}
        out.append(AMSilence(
            id=str(s["id"]), state=str(st.get("state") or "active"),
            matchers=tuple(m for m in s.get("matchers") or () if isinstance(m, dict)),
            created_by=str(s.get("createdBy") or ""), comment=str(s.get("comment") or ""),
            starts_at=parse_time(s.get("startsAt")), ends_at=parse_time(s.get("endsAt")),
        ))
    return out


def alert_target(labels: Mapping[str, str], config: Config | None, source_name: str) -> str:
    """The host an alert is about: a configured host when ``instance`` matches one (the same
    rule as Prometheus hosts), else the host part of ``instance``, else ``job``, else the source."""
    inst = labels.get("instance")
    if inst:
        h = match_host(config.hosts, inst) if config is not None else None
        return h.name if h else instance_host(inst)
    return labels.get("job") or source_label(source_name)


def severity_of(labels: Mapping[str, str]) -> str:
    return "critical" if labels.get("severity", "").lower() in CRITICAL_SEVERITIES else "warning"


def to_alert(a: AMAlert, source_name: str, config: Config | None = None, now: float | None = None) -> Alert:
    sev = severity_of(a.labels)
    return Alert(
        id=f"am-{a.fingerprint}",
        rule=a.labels.get("alertname", "alertmanager"),
        target=alert_target(a.labels, config, source_name),
        severity=sev,
        state="pending" if a.state == "unprocessed" else "firing",
        since=a.starts_at if a.starts_at is not None else (time.time() if now is None else now),
        value=None,
        summary=a.annotations.get("summary") or a.annotations.get("description") or "",
        runbook=a.annotations.get("runbook_url") or a.annotations.get("runbook") or "",
        tier=a.labels.get("tier") or ("L2" if sev == "critical" else "L1"),
        silenced=bool(a.silenced_by),
        inhibited=bool(a.inhibited_by),
        labels=dict(a.labels),
        source=source_label(source_name),
    )


# --- HTTP -------------------------------------------------------------------------------------


async def _get_json(client: httpx.AsyncClient, cfg: SourceConfig, path: str) -> Any:
    status, doc = await request_json(client, cfg, "GET", path)
    if status != 200:
        raise SourceDown(f"alertmanager {cfg.name}: GET {path}: HTTP {status}", state="error")
    return doc


def _am_matchers(matchers: Mapping[str, str] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(matchers, Mapping):
        return [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()]
    return [{"name": m["name"], "value": m["value"], "isRegex": bool(m.get("isRegex", False)),
             "isEqual": bool(m.get("isEqual", True))} for m in matchers]


async def create_alertmanager_silence(
    source_cfg: SourceConfig, matchers: Mapping[str, str] | Sequence[Mapping[str, Any]], ends_at: float,
    who: str, note: str, *, starts_at: float | None = None,
) -> str:
    """POST /api/v2/silences; returns Alertmanager's silence id. ``matchers`` are Alertmanager
    label matchers: {name: value} (equality) or [{"name", "value", "isRegex", "isEqual"}]."""
    ms = _am_matchers(matchers)
    if not ms:
        raise ProbeError("a silence needs at least one matcher")
    body = {
        "matchers": ms,
        "startsAt": _rfc3339(time.time() if starts_at is None else starts_at),
        "endsAt": _rfc3339(ends_at),
        "createdBy": who or "opsdash",
        "comment": note or f"silenced from opsdash by {who or 'opsdash'}",  # Alertmanager requires one
    }
    r = await _one_request(source_cfg, "POST", "/api/v2/silences", body)
    if r.status != 200:
        raise ProbeError(f"alertmanager {source_cfg.name}: creating the silence: HTTP {r.status}: "
                         f"{r.text().strip()[:200]}")
    try:
        return str(json.loads(r.body)["silenceID"])
    except (ValueError, KeyError, TypeError):
        raise ParseError(f"alertmanager {source_cfg.name}: no silenceID in the reply") from None


async def expire_alertmanager_silence(source_cfg: SourceConfig, silence_id: str) -> bool:
    """DELETE /api/v2/silence/{id}. True when expired now, False when it was already gone."""
    if not re.fullmatch(r"[A-Za-z0-9-]+", silence_id):
        raise ProbeError(f"not an Alertmanager silence id: {silence_id[:60]!r}")
    r = await _one_request(source_cfg, "DELETE", f"/api/v2/silence/{silence_id}")
    if r.status == 200:
        return True
    if r.status == 404 or (r.status == 500 and "already expired" in r.text()):
        return False
    raise ProbeError(f"alertmanager {source_cfg.name}: expiring silence {silence_id}: HTTP {r.status}: "
                     f"{r.text().strip()[:200]}")


async def _one_request(cfg: SourceConfig, method: str, path: str, body: Any = None) -> Reply:
    """One capped request under one deadline: httpx's timeout is per read, and a server
    that drips a byte a second would otherwise hold a silence command for ever."""
    try:
        async with http_client(cfg) as client, asyncio.timeout(cfg.timeout + 1):
            return await request_body(client, cfg, method, path, json_body=body)
    except TimeoutError:
        raise SourceDown(f"alertmanager {cfg.name} ({safe_url(cfg.url)}): {method} {path}: "
                         f"no reply within {cfg.timeout:g}s", state="timeout") from None


def _rfc3339(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- the poll -----------------------------------------------------------------------------------


@dataclass
class AMState:
    cfg: SourceConfig
    alerts: list[Alert] = field(default_factory=list)
    silences: list[AMSilence] = field(default_factory=list)
    ok: bool = False
    error: str | None = None
    last_ok: float | None = None


async def poll_alertmanager(sink: Sink, cfg: SourceConfig, state: AMState) -> None:
    t = sink.clock()
    try:
        # Two small GETs in turn under one deadline: a gather cancelled at shutdown
        # leaves an orphaned child whose CancelledError asyncio reports as a traceback.
        async with http_client(cfg) as client, asyncio.timeout(cfg.timeout + 1):
            alerts_doc = await _get_json(client, cfg, "/api/v2/alerts")
            silences_doc = await _get_json(client, cfg, "/api/v2/silences")
        am_alerts, am_silences = parse_alerts(alerts_doc), parse_silences(silences_doc)
    except (asyncio.TimeoutError, ProbeError) as e:
        err = e if isinstance(e, ProbeError) else SourceDown(
            f"alertmanager {cfg.name} ({safe_url(cfg.url)}): no reply within {cfg.timeout:g}s", state="timeout")
        state.ok, state.error = False, str(err)
        # Alerts already in the store stay as they are (not resolved: we do not know).
        sink.emit([], [("source", cfg.name, "", t, source_row(cfg, t, err.state, str(err), last_ok=state.last_ok,
                                                              alerts=len(state.alerts)), None)])
        raise err from None
    alerts = [to_alert(a, cfg.name, sink.config, t) for a in am_alerts]
    windows = sink.config.maintenance
    if windows:
        await mirror_windows(cfg, sink.config, windows, am_silences, t)
    state.alerts, state.silences = alerts, am_silences
    state.ok, state.error, state.last_ok = True, None, t
    if sink.store is not None:
        await asyncio.to_thread(sync_store, sink.store, cfg.name, alerts, am_silences, t)
    sink.emit([], [("source", cfg.name, "", t, source_row(
        cfg, t, "ok", None, last_ok=t, alerts=len(alerts),
        suppressed=sum(1 for a in am_alerts if a.state == "suppressed"),
        silenced=sum(1 for a in am_alerts if a.silenced_by), inhibited=sum(1 for a in am_alerts if a.inhibited_by),
        silences=sum(1 for s in am_silences if s.state == "active")), None)])


def _ext_ids(external_id: str | None) -> list[tuple[str, str]]:
    out = []
    for part in (external_id or "").split(","):
        src, sep, sid = part.strip().rpartition("/")
        if sep and src and sid:
            out.append((src, sid))
    return out


def sync_store(store: Any, source_name: str, alerts: Sequence[Alert], silences: Sequence[AMSilence], now: float) -> None:
    """Write one poll's alerts and silences to the store (in a thread: SQLite blocks)."""
    src = source_label(source_name)
    before = {a.id: a for a in store.alerts(states=("pending", "firing"), now=now) if a.source == src}
    seen = set()
    for a in alerts:
        seen.add(a.id)
        tier = store.alert_tier(a.id)
        if tier is not None:
            a.tier = tier  # an escalation made in opsdash sticks
        old = before.get(a.id)
        if old is None or old.state != a.state:
            store.add_transition(now, a.id, a.rule, a.target, old.state if old else "ok", a.state, a.severity, None,
                                 f"from Alertmanager {source_name}")
        store.upsert_alert(a, now)
    for aid, old in before.items():
        if aid not in seen:
            store.add_transition(now, aid, old.rule, old.target, old.state, "resolved", old.severity, None,
                                 f"no longer listed by Alertmanager {source_name}")
            old.state = "resolved"
            store.upsert_alert(old, now)
    _mirror_silences(store, source_name, silences, now)


def _mirror_silences(store: Any, source_name: str, silences: Sequence[AMSilence], now: float) -> None:
    local = store.silences(since=0.0)
    by_ext: dict[str, Any] = {}
    for s in local:
        for src, sid in _ext_ids(s.external_id):
            if src == source_name:
                by_ext[sid] = s
    local_ids = {s.id: s for s in local}
    live = {s.id: s for s in silences if s.state in ("active", "pending")}
    for sid, s in live.items():
        if sid in by_ext or _WINDOW_MARK in s.comment:
            continue  # known, or a window we mirrored (the engine holds our alerts itself)
        m = _MARK.search(s.comment)
        if m and int(m.group(1)) in local_ids:
            mine = local_ids[int(m.group(1))]  # made by opsdash; heal a lost external_id
            if not any(src == source_name and x == sid for src, x in _ext_ids(mine.external_id)):
                ext = ",".join([*(f"{a}/{b}" for a, b in _ext_ids(mine.external_id)), f"{source_name}/{sid}"])
                store.set_silence_external_id(mine.id, ext)
            continue
        eq = s.equality_matchers
        if eq is None or s.ends_at is None:
            continue
        store.add_silence(eq, ends_at=s.ends_at, who=s.created_by or "alertmanager", note=s.comment,
                          t=min(s.starts_at or now, now), external_id=f"{source_name}/{sid}")
    for sid, s in by_ext.items():
        if sid not in live and s.expired_at is None and s.ends_at > now:
            store.expire_silence(s.id, now)


# --- maintenance windows -------------------------------------------------------------------------


def window_mark(o: _maint.Occurrence) -> str:
    return f"{_WINDOW_MARK}{o.name}@{iso(o.start)}]"


def window_matchers(w: MaintenanceConfig, config: Config | None) -> list[dict[str, Any]]:
    """A window's matchers as Alertmanager label matchers: ``rule`` is ``alertname``; ``target``
    matches the ``instance`` label by the host's name or address, with any port (as
    alert_target reads it); other labels as they are."""
    out = []
    for k, v in w.match.items():
        if k in ("rule", "alertname"):
            out.append({"name": "alertname", "value": v, "isRegex": False, "isEqual": True})
        elif k == "target":
            h = config.host(v) if config is not None else None
            names = sorted({v, h.address} if h is not None else {v})
            alt = "|".join(re.escape(x) for x in names)
            out.append({"name": "instance", "value": f"({alt})(:[0-9]+)?", "isRegex": True, "isEqual": True})
        else:
            out.append({"name": k, "value": v, "isRegex": False, "isEqual": True})
    return out


async def mirror_windows(cfg: SourceConfig, config: Config | None, windows: Sequence[MaintenanceConfig],
                         silences: Sequence[AMSilence], now: float) -> list[str]:
    """Create a silence in this Alertmanager for each window running now that it does not
    list yet (by the mark in its comment), ending when the window ends. Returns the ids made.
    A failure is logged and tried again at the next poll."""
    listed = " ".join(s.comment for s in silences if s.state in ("active", "pending"))
    made = []
    for o in _maint.active(windows, now):
        mark = window_mark(o)
        if mark in listed:
            continue
        try:
            made.append(await create_alertmanager_silence(
                cfg, window_matchers(o.window, config), o.end, "opsdash",
                f"maintenance {o.name} until {iso(o.end)} {mark}", starts_at=now))
        except ProbeError as e:
            log.warning("alertmanager %s: cannot mirror maintenance %s as a silence: %s", cfg.name, o.name, e)
    return made


# --- the queue's hooks ---------------------------------------------------------------------------


def _full(a: Alert) -> dict[str, str]:
    return {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}


def translate_matchers(matchers: Mapping[str, str], alerts: Iterable[Alert]) -> list[dict[str, Any]] | None:
    """opsdash silence matchers -> Alertmanager matchers, for these matched Alertmanager alerts.

    ``rule`` -> ``alertname``; ``target`` and ``severity`` (opsdash's words) become the
    alerts' own ``instance`` / ``severity`` labels (equality for one value, an anchored
    alternation for several). None when a key cannot be expressed: dropping a matcher
    would silence more than asked."""
    alerts = list(alerts)
    out: list[dict[str, Any]] = []
    for k, v in matchers.items():
        if k in ("rule", "alertname"):
            out.append({"name": "alertname", "value": v, "isRegex": False, "isEqual": True})
            continue
        if k in ("target", "severity"):
            label = "instance" if k == "target" else "severity"
            vals = sorted({a.labels.get(label) for a in alerts})  # type: ignore[misc]
            if not vals or None in vals:
                return None
            if len(vals) == 1:
                out.append({"name": label, "value": vals[0], "isRegex": False, "isEqual": True})
            else:
                out.append({"name": label, "value": "|".join(re.escape(x) for x in vals), "isRegex": True,
                            "isEqual": True})
            continue
        out.append({"name": k, "value": v, "isRegex": False, "isEqual": True})
    return out


async def push_silence(store: Any, config: Config, silence_id: int) -> dict[str, str]:
    """Hook for the queue, after ``silence()`` wrote local silence ``silence_id``: create it
    in every Alertmanager source that has alerts it matches, and record the ids in the
    silence's ``external_id``. Returns {source: Alertmanager id, or "error: ..."}."""
    sil = next((s for s in store.silences(since=0.0) if s.id == silence_id), None)
    if sil is None:
        return {}
    sources = [c for c in config.sources if c.kind == "alertmanager"]
    alerts = await asyncio.to_thread(store.alerts, states=("pending", "firing"))
    result: dict[str, str] = {}
    ext = _ext_ids(sil.external_id)
    for cfg in sources:
        if any(src == cfg.name for src, _ in ext):
            continue
        mine = [a for a in alerts if a.source == source_label(cfg.name) and sil.matches(_full(a))]
        if not mine:
            continue
        ms = translate_matchers(sil.matchers, mine)
        if ms is None:
            result[cfg.name] = "error: these matchers cannot be expressed as Alertmanager label matchers"
            continue
        try:
            am_id = await create_alertmanager_silence(cfg, ms, sil.ends_at, sil.who,
                                                      f"{sil.note or 'silenced from opsdash'} [opsdash #{sil.id}]")
        except ProbeError as e:
            result[cfg.name] = f"error: {e}"
            continue
        result[cfg.name] = am_id
        ext.append((cfg.name, am_id))
    if ext != _ext_ids(sil.external_id):
        await asyncio.to_thread(store.set_silence_external_id, sil.id, ",".join(f"{a}/{b}" for a, b in ext))
    return result


async def expire_silence(store: Any, config: Config, silence_id: int) -> dict[str, str]:
    """Hook for the queue, after ``unsilence()`` expired local silence ``silence_id``: expire
    its Alertmanager copies. Returns {source: "expired" | "already gone" | "error: ..."}."""
    sil = next((s for s in store.silences(since=0.0) if s.id == silence_id), None)
    if sil is None:
        return {}
    by_name = {c.name: c for c in config.sources if c.kind == "alertmanager"}
    result: dict[str, str] = {}
    for src, am_id in _ext_ids(sil.external_id):
        cfg = by_name.get(src)
        if cfg is None:
            result[src] = "error: no such [[sources]] entry"
            continue
        try:
            result[src] = "expired" if await expire_alertmanager_silence(cfg, am_id) else "already gone"
        except ProbeError as e:
            result[src] = f"error: {e}"
    return result


def push_silence_sync(store: Any, config: Config | None, silence_id: int) -> dict[str, str]:
    """``push_silence`` for callers without an event loop (the CLI, a TUI worker thread).

    Does nothing (and returns {}) when the config has no Alertmanager source.
    """
    if config is None or not any(c.kind == "alertmanager" for c in config.sources):
        return {}
    return asyncio.run(push_silence(store, config, silence_id))


def expire_silence_sync(store: Any, config: Config | None, silence_id: int) -> dict[str, str]:
    if config is None or not any(c.kind == "alertmanager" for c in config.sources):
        return {}
    return asyncio.run(expire_silence(store, config, silence_id))


@dataclass(frozen=True)
class AlertmanagerSilences:
    """The :class:`~opsdash.alerts.mirror.AlertmanagerMirror` of a config's Alertmanager
    sources, for callers that must not import collect/ (the TUI gets it from commands/run.py)."""

    config: Config | None

    def push_silence(self, store: Any, silence_id: int) -> dict[str, str]:
        return push_silence_sync(store, self.config, silence_id)

    def expire_silence(self, store: Any, silence_id: int) -> dict[str, str]:
        return expire_silence_sync(store, self.config, silence_id)


def alerts_json(alerts: Iterable[Alert]) -> list[dict[str, Any]]:
    return [{**a.to_json(), "labels": dict(a.labels)} for a in alerts]

