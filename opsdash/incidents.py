"""Incidents: a report in plain words, the alerts it is about, its status, triage and timeline.

An incident is opened from what a user said ("checkout is slow for customers"),
with a severity from ``Config.severities`` (P1..P4 by default) and an owner.

- **Proposals** (``propose``, a pure function): the alerts and targets the
  incident may be about, each with its reasons: *time* (the alert fired or
  changed within 30 minutes either side of the open, or was firing then),
  *words* (a word of the text is a host's or endpoint's name, a part of it or
  of its URL), *symptom* (a word like "slow" or "down" names the kind of
  metric the alert's rule watches) and *tags* (a word is a tag value of the
  target, like "eu-west" or "db"). The responder links or unlinks them.
- **Status** goes investigating -> identified -> monitoring -> resolved; each
  change is an event with its time, who and note (a fix that did not hold may
  go back; resolved -> anything reopens).
- **Checklist**: the definition of ready: symptoms, reproduction, environment,
  what was tried. ``escalate`` refuses while an item is empty and names it
  (``NotReady.item``).
- **Timeline** (``timeline``): the incident's own events, and for the linked
  alerts their transitions, acks, notes, escalations, the silences and
  maintenance windows that covered them; config writes (``tune --write``);
  package changes on linked hosts as the store has them (the patches probe
  keeps the time of the last apt/dnf transaction and the pending count's
  history, not the package list).
- **Error budget burned** (``budget_burned``): a simple availability figure of
  our own (``sla.py`` did not exist when this was written): for an endpoint
  with an availability SLO, the down time during the incident (share of
  ``endpoint.up`` polls that failed x duration) over 30 days' budget; for a
  latency SLO, the polls slower than the target over 5 % of 30 days' polls.

No Textual, no I/O beyond the store; time is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from . import maintenance as _maint
from .alerts.rules import builtin_rules, rules_from_config
from .config import Config, SeverityConfig, DEFAULT_SEVERITIES, format_duration
from .errors import OpsdashError
from .model import Alert, PatchesRow, iso
from .store import IncidentRow, Store, Transition

__all__ = [
    "CHECKLIST", "PROPOSE_WINDOW_S", "STATUSES", "Entry", "IncidentError", "NotReady", "Proposal",
    "Target", "UnknownIncident", "add_note", "budget_burned", "escalate", "find", "link", "missing_items",
    "open_incident", "parse_id", "postmortems_due", "propose", "set_checklist", "set_status",
    "targets_from_config", "timeline", "unlink", "view",
]

STATUSES = ("investigating", "identified", "monitoring", "resolved")
CHECKLIST = ("symptoms", "reproduction", "environment", "tried")
CHECKLIST_LABELS = {"symptoms": "symptoms", "reproduction": "reproduction", "environment": "environment",
                    "tried": "what was tried"}
_ITEM_ALIASES = {"symptom": "symptoms", "repro": "reproduction", "reproduce": "reproduction", "env": "environment",
                 "what-was-tried": "tried", "what_was_tried": "tried", "tries": "tried"}
TIERS = ("L1", "L2", "L3")
PROPOSE_WINDOW_S = 30 * 60.0
BUDGET_PERIOD_S = 30 * 86400.0


class IncidentError(OpsdashError):
    pass


class UnknownIncident(IncidentError):
    def __init__(self, text: str):
        super().__init__(f"{text}: no such incident (see `opsdash incident list`)")


class NotReady(IncidentError):
    """Escalation asked with an empty checklist item: the item to fill first."""

    def __init__(self, incident_id: int, item: str):
        self.item = item
        label = f" ({CHECKLIST_LABELS[item]})" if CHECKLIST_LABELS[item] != item else ""
        super().__init__(f"incident {incident_id}: checklist item \"{item}\"{label} is empty; "
                         f"fill it first: opsdash incident checklist {incident_id} {item} TEXT")


# --- finding and changing ---------------------------------------------------------------------


def parse_id(text: str | int) -> int:
    """12, "12", "#12", "INC-12" -> 12."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(?:#|inc-?)?(\d{1,12})\s*", str(text), re.IGNORECASE)
    if not m:
        raise UnknownIncident(str(text)[:40])
    return int(m.group(1))


def find(store: Store, text: str | int) -> IncidentRow:
    inc = store.incident(parse_id(text))
    if inc is None:
        raise UnknownIncident(str(text)[:40])
    return inc


def severity_of(name: str, severities: Sequence[SeverityConfig] = DEFAULT_SEVERITIES) -> SeverityConfig | None:
    return next((s for s in severities if s.name.lower() == name.lower()), None)


def open_incident(store: Store, text: str, *, who: str, now: float, severity: str | None = None,
                  owner: str | None = None, severities: Sequence[SeverityConfig] = DEFAULT_SEVERITIES) -> IncidentRow:
    text = " ".join(text.split())
    if not text:
        raise IncidentError("an incident needs a description, like \"customers can't log in\"")
    if severity is None:  # the least severe but one: P3 of P1..P4 (a report is not an outage until triaged)
        sev = severities[max(0, len(severities) - 2)]
    else:
        sev = severity_of(severity, severities)
        if sev is None:
            raise IncidentError(f"--severity: expected one of {', '.join(s.name for s in severities)}, got \"{severity[:40]}\"")
    iid = store.add_incident(text, severity=sev.name, who=who, owner=owner or None, t=now)
    inc = store.incident(iid)
    assert inc is not None
    return inc


def set_status(store: Store, ref: str | int, status: str, *, who: str, now: float, note: str = "") -> tuple[str, str]:
    """Move the incident to ``status``; returns (from, to). Resolving stamps resolved_at; any move
    away from resolved reopens it."""
    inc = find(store, ref)
    status = status.strip().lower()
    if status not in STATUSES:
        raise IncidentError(f"status: expected one of {', '.join(STATUSES)}, got \"{status[:40]}\"")
    if status == inc.status:
        raise IncidentError(f"incident {inc.id} is already {status}")
    store.update_incident(inc.id, who=who, kind="status", text=note.strip(), t=now,
                          data={"from": inc.status, "to": status}, status=status,
                          resolved_at=now if status == "resolved" else None)
    return inc.status, status


def add_note(store: Store, ref: str | int, text: str, *, who: str, now: float) -> None:
    inc = find(store, ref)
    if not text.strip():
        raise IncidentError("a note needs some text")
    store.update_incident(inc.id, who=who, kind="note", text=text.strip(), t=now)


def checklist_item(name: str) -> str:
    key = name.strip().lower()
    key = _ITEM_ALIASES.get(key, key)
    if key not in CHECKLIST:
        raise IncidentError(f"checklist item: expected one of {', '.join(CHECKLIST)}, got \"{name[:40]}\"")
    return key


def set_checklist(store: Store, ref: str | int, item: str, text: str, *, who: str, now: float) -> str:
    inc = find(store, ref)
    key = checklist_item(item)
    if not text.strip():
        raise IncidentError(f"checklist {key}: needs some text")
    store.set_incident_checklist(inc.id, key, text.strip(), who=who, t=now)
    return key


def missing_items(store: Store, incident_id: int) -> list[str]:
    have = store.incident_checklist(incident_id)
    return [k for k in CHECKLIST if not (have.get(k, ("",))[0] or "").strip()]


def escalate(store: Store, ref: str | int, *, who: str, now: float) -> tuple[str, str]:
    """To the next tier, only when the checklist is complete (NotReady names the first empty item)."""
    inc = find(store, ref)
    missing = missing_items(store, inc.id)
    if missing:
        raise NotReady(inc.id, missing[0])
    i = TIERS.index(inc.tier) if inc.tier in TIERS else 0
    to = TIERS[min(i + 1, len(TIERS) - 1)]
    if to == inc.tier:
        raise IncidentError(f"incident {inc.id} is already at {to}, the top tier")
    store.update_incident(inc.id, who=who, kind="escalation", t=now, data={"from": inc.tier, "to": to}, tier=to)
    return inc.tier, to


def link(store: Store, ref: str | int, alert_ref: str, *, who: str, now: float) -> tuple[IncidentRow, Alert, bool]:
    from .alerts.queue import find_alert

    inc = find(store, ref)
    a = find_alert(store, alert_ref, now=now)
    return inc, a, store.link_incident_alert(inc.id, a.id, who=who, t=now)


def unlink(store: Store, ref: str | int, alert_ref: str, *, who: str, now: float) -> tuple[IncidentRow, str, bool]:
    inc = find(store, ref)
    linked = store.incident_alerts(inc.id)
    hits = [x for x in linked if x == alert_ref] or [x for x in linked if x.startswith(alert_ref.strip())]
    if len(hits) != 1:
        raise IncidentError(f"{alert_ref[:40]}: " + ("not linked to" if not hits else "ambiguous among the alerts of")
                            + f" incident {inc.id}")
    return inc, hits[0], store.unlink_incident_alert(inc.id, hits[0], who=who, t=now)


# --- proposals (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A host or endpoint as the proposer sees it."""

    name: str
    kind: str  # host | endpoint
    url: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """An alert (``alert_id`` set) or a target without an alert the incident may be about."""

    target: str
    kind: str  # host | endpoint | ""
    reasons: tuple[str, ...]
    score: int
    alert_id: str | None = None
    rule: str | None = None
    state: str | None = None
    severity: str | None = None
    since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "rule": self.rule, "target": self.target, "kind": self.kind or None,
                "state": self.state, "severity": self.severity, "since": iso(self.since),
                "score": self.score, "reasons": list(self.reasons)}


def targets_from_config(cfg: Config | None) -> dict[str, Target]:
    if cfg is None:
        return {}
    out = {h.name: Target(h.name, "host", "", dict(h.tags)) for h in cfg.hosts}
    out.update({e.name: Target(e.name, "endpoint", e.url, dict(e.tags)) for e in cfg.endpoints})
    return out


_STOP = frozenset("""the and for are but not you your our can cant can't with from this that have has was were
is it its of on in to at by be as or an a we they them their there here when what which who why how all any
some very just now again still also get got getting been being do does did done dont don't wont won't
customers customer users user people site page pages http https www com org net html index""".split())

# A word in the report -> the metric families it points at (a substring of the rule's metric).
_SYMPTOMS: dict[str, tuple[str, ...]] = {}
for _words, _metrics in (
    ("slow slowness slowly sluggish latency lag laggy timeout timeouts timing hang hangs hanging loading spinner",
     ("ttfb", "latency", "load1")),
    ("down unreachable outage offline unavailable dead 502 503 504 refused connect", ("up", "error_rate")),
    ("error errors failing fails fail failed broken 500 crash crashes exception", ("error_rate", "up")),
    ("disk full space storage", ("disk",)),
    ("memory oom swap", ("mem", "swap")),
    ("cpu load busy", ("cpu", "load1")),
    ("cache stale hitrate", ("cache",)),
    ("backup backups restore", ("backup",)),
    ("patch patches update updates upgrade reboot", ("patches",)),
):
    for _w in _words.split():
        _SYMPTOMS[_w] = _metrics


def words(text: str) -> set[str]:
    """Lower-case words of 3+ characters (hyphenated names kept whole and in parts), no stop words."""
    out: set[str] = set()
    for tok in re.findall(r"[a-z0-9][a-z0-9._\-/]*[a-z0-9]|[a-z0-9]", text.lower()):
        for w in {tok, *re.split(r"[._/\-]+", tok)}:
            if len(w) >= 3 and w not in _STOP:
                out.add(w)
    return out


def target_terms(t: Target) -> set[str]:
    """What a report may call the target: its name, the parts of its name, its URL's host
    and path parts (not scheme, port, "www" or the top-level domain)."""
    terms = {t.name.lower(), *(p for p in re.split(r"[._\-]+", t.name.lower()) if len(p) >= 3)}
    if t.url:
        m = re.match(r"^[a-z]+://(?:[^@/]*@)?([^/:?#]+)(?::\d+)?([^?#]*)", t.url.lower())
        if m:
            host = m.group(1)
            labels = host.split(".")
            terms.update(x for x in labels[:-1] if len(x) >= 3 and not x.isdigit())
            terms.update(p for p in re.split(r"[/._\-]+", m.group(2)) if len(p) >= 3)
    return {x for x in terms if x not in _STOP}


def _rule_metric(rule: str, labels: Mapping[str, str], metrics: Mapping[str, str]) -> str:
    return metrics.get(rule) or labels.get("metric") or rule


def propose(text: str, opened_at: float, alerts: Iterable[Alert], transitions: Iterable[Transition],
            targets: Mapping[str, Target], *, window: float = PROPOSE_WINDOW_S,
            rule_metrics: Mapping[str, str] | None = None, exclude: Iterable[str] = ()) -> list[Proposal]:
    """The alerts (then the targets without one) the incident may be about, best first.

    ``transitions``: the store's, around the open (``changed`` is judged from them);
    ``rule_metrics``: rule name -> metric, for the symptom words; ``exclude``: alert ids
    already linked. A proposal needs a reason beyond time alone to score above 1."""
    ws = words(text)
    rule_metrics = rule_metrics or {}
    excluded = set(exclude)
    changed: dict[str, float] = {}
    for tr in transitions:
        if abs(tr.t - opened_at) <= window:
            prev = changed.get(tr.alert_id)
            if prev is None or abs(tr.t - opened_at) < abs(prev - opened_at):
                changed[tr.alert_id] = tr.t
    symptoms = {m for w in ws for m in _SYMPTOMS.get(w, ())}

    def target_reasons(name: str) -> tuple[list[str], int]:
        t = targets.get(name) or Target(name, "")
        reasons, score = [], 0
        hit = sorted(ws & target_terms(t))
        if hit:
            reasons.append("words: " + ", ".join(hit))
            score += 3 if name.lower() in ws else 2
        tag_hits = sorted(f"{k}={v}" for k, v in t.tags.items() if v.lower() in ws)
        if tag_hits:
            reasons.append("tags: " + ", ".join(tag_hits))
            score += 1
        return reasons, score

    out: list[Proposal] = []
    alerted: set[str] = set()
    for a in alerts:
        if a.id in excluded:
            continue
        reasons, score = target_reasons(a.target)
        metric = _rule_metric(a.rule, a.labels, rule_metrics)
        sym = sorted(m for m in symptoms if m in metric or m in a.rule)
        if sym and (score or a.id in changed or a.state in ("pending", "firing")):
            reasons.append(f"symptom: {metric}")
            score += 1
        if a.id in changed:
            d = changed[a.id] - opened_at
            reasons.append(f"time: changed {format_duration(round(abs(d)))} {'before' if d <= 0 else 'after'} the open")
            score += 1
        elif a.state in ("pending", "firing") and a.since <= opened_at:
            reasons.append("time: firing at the open")
            score += 1
        if not score:
            continue
        alerted.add(a.target)
        out.append(Proposal(a.target, (targets.get(a.target) or Target("", "")).kind, tuple(reasons), score,
                            a.id, a.rule, a.state, a.severity, a.since))
    for name in targets:
        if name in alerted:
            continue
        reasons, score = target_reasons(name)
        if score:
            out.append(Proposal(name, targets[name].kind, tuple(reasons), score))
    out.sort(key=lambda p: (-p.score, p.alert_id is None, p.state != "firing", p.target, p.rule or ""))
    return out


# --- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    t: float
    source: str  # incident | alert | ack | note | escalation | silence | maintenance | tune | packages
    text: str
    who: str | None = None
    kind: str = ""  # the incident event's kind (status, note, ...), or the entry's own

    def to_json(self) -> dict[str, Any]:
        return {"t": iso(self.t), "source": self.source, "kind": self.kind, "who": self.who, "text": self.text}


def _alert_labels(a: Alert) -> dict[str, str]:
    return {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}


def _event_text(ev: Any) -> str:
    d = ev.data
    if ev.kind == "open":
        return f"opened ({d.get('severity')}" + (f", owner {d['owner']}" if d.get("owner") else "") + f"): {ev.text}"
    if ev.kind == "status":
        return f"status {d.get('from')} → {d.get('to')}" + (f": {ev.text}" if ev.text else "")
    if ev.kind == "note":
        return f"note: {ev.text}"
    if ev.kind == "checklist":
        item = d.get("item", "")
        return f"checklist {CHECKLIST_LABELS.get(item, item)}: {ev.text}"
    if ev.kind == "escalation":
        return f"escalated {d.get('from')} → {d.get('to')}"
    if ev.kind in ("link", "unlink"):
        return f"{ev.kind}ed alert {ev.text}"
    if ev.kind == "postmortem":
        return f"postmortem {ev.text}"
    return f"{ev.kind}: {ev.text}"


def impact_span(store: Store, inc: IncidentRow, now: float, linked: Sequence[str] | None = None) -> tuple[float, float]:
    """How long the incident hurt: from the open, or from the start of a linked alert's episode
    in progress then if earlier, to the resolve (or now)."""
    linked = store.incident_alerts(inc.id) if linked is None else linked
    start = inc.t
    for aid in linked:
        ep = None
        for tr in store.transitions(since=inc.t - 86400.0, until=inc.t, alert_id=aid):
            if tr.from_state in ("ok", "resolved"):
                ep = tr.t
        if ep is not None:
            start = min(start, ep)
    return start, (inc.resolved_at if inc.resolved_at is not None else now)


def span(store: Store, inc: IncidentRow, now: float, linked: Sequence[str] | None = None) -> tuple[float, float]:
    """What the timeline covers: the impact, and the 30 minutes before the open."""
    start, end = impact_span(store, inc, now, linked)
    return min(start, inc.t - PROPOSE_WINDOW_S), end


def timeline(store: Store, inc: IncidentRow, cfg: Config | None, now: float) -> list[Entry]:
    linked = store.incident_alerts(inc.id)
    start, end = span(store, inc, now, linked)
    out = [Entry(ev.t, "incident", _event_text(ev), ev.who, ev.kind) for ev in store.incident_events(inc.id)]
    alerts = {a.id: a for a in store.alerts(now=now)}
    name = {aid: (f"{alerts[aid].rule} on {alerts[aid].target}" if aid in alerts else aid) for aid in linked}
    for aid in linked:
        for tr in store.transitions(since=start, until=end, alert_id=aid):
            val = "" if tr.value is None else f", value {tr.value:g}"
            out.append(Entry(tr.t, "alert", f"{name[aid]}: {tr.from_state} → {tr.to_state}"
                             f" ({tr.severity or '-'}{val})" + (f": {tr.reason}" if tr.reason else ""), kind="transition"))
        acks = [ak for ak in store.acks(since=start) if ak.alert_id == aid and ak.t <= end]
        for ak in acks:
            out.append(Entry(ak.t, "ack", f"acked {name[aid]}" + (" (sticky)" if ak.sticky else "")
                             + (f": {ak.note}" if ak.note else ""), ak.who, "ack"))
        ack_notes = {(ak.t, ak.note) for ak in acks}
        for n in store.notes(since=start, alert_id=aid):
            if n.t <= end and (n.t, n.text) not in ack_notes:  # an ack's note is written as a note too
                out.append(Entry(n.t, "note", f"note on {name[aid]}: {n.text}", n.who, "note"))
        for t, _aid, who, frm, to in store.escalations(aid):
            if start <= t <= end:
                out.append(Entry(t, "escalation", f"escalated {name[aid]} {frm or '?'} → {to}", who, "escalation"))
    labels = [_alert_labels(alerts[aid]) for aid in linked if aid in alerts]
    for s in store.silences(since=start):
        if s.t <= end and any(s.matches(lab) for lab in labels):
            m = ",".join(f"{k}={v}" for k, v in s.matchers.items())
            out.append(Entry(s.t, "silence", f"silence #{s.id} {m} until {iso(s.ends_at)}"
                             + (f": {s.note}" if s.note else ""), s.who, "silence"))
            ended = s.expired_at if s.expired_at is not None else s.ends_at
            if start <= ended <= end:
                out.append(Entry(ended, "silence", f"silence #{s.id} ended", None, "silence-end"))
    if cfg is not None:
        for o in _maint.occurrences_between(cfg.maintenance, start, end):
            if any(_maint.covers(o, lab) for lab in labels):
                out.append(Entry(o.start, "maintenance", f"maintenance {o.name} starts (until {iso(o.end)})", kind="start"))
                if o.end <= end:
                    out.append(Entry(o.end, "maintenance", f"maintenance {o.name} ends", kind="end"))
    for w in store.config_writes(start, end):
        out.append(Entry(w.t, w.source, f"{w.source} --write {w.path}: " + ("; ".join(w.changes) or "no change"),
                         w.who, "config-write"))
    hosts = {alerts[aid].target for aid in linked if aid in alerts}
    hosts = {h for h in hosts if cfg is None or cfg.host(h) is not None}
    out += _package_entries(store, sorted(hosts), start, end)
    out.sort(key=lambda e: e.t)  # stable: same-time entries keep the order they were gathered in
    return out


def _package_entries(store: Store, hosts: Sequence[str], start: float, end: float) -> list[Entry]:
    """Package changes on the hosts, from what the patches probe stores: the time of the last
    apt/dnf transaction (latest row) and drops of the pending count (its series). Which
    packages changed is not stored."""
    out = []
    for h in hosts:
        for row in store.latest("patches", h):
            p = PatchesRow.from_json(row["data"] or {}).patches
            t = p.last_update if p is not None else None
            if p is not None and t is not None and start <= t <= end:
                out.append(Entry(t, "packages", f"{h}: packages upgraded or installed "
                                 f"({p.manager or 'package'} history, last transaction)", kind="history"))
        prev = None
        for t, v in store.history(h, "patches.pending", start - 3600.0, end):
            if prev is not None and v < prev and t >= start:
                out.append(Entry(t, "packages", f"{h}: pending updates {prev:g} → {v:g}", kind="pending"))
            prev = v
    return out


# --- impact -----------------------------------------------------------------------------------


def budget_burned(store: Store, cfg: Config | None, endpoints: Iterable[str], start: float,
                  end: float) -> list[dict[str, Any]]:
    """Per endpoint with an SLO: the error budget (of 30 days) this span burned, in percent.
    A simple figure of our own (see the module doc); one function, so the SLA report's can
    replace it."""
    out = []
    eps = {e.name: e for e in (cfg.endpoints if cfg is not None else ())}
    dur = max(0.0, end - start)
    for name in endpoints:
        e = eps.get(name)
        if e is None or (e.slo.availability is None and e.slo.ttfb_p95_ms is None):
            continue
        row: dict[str, Any] = {"endpoint": name, "window_s": dur, "period_s": BUDGET_PERIOD_S,
                               "availability_slo": e.slo.availability, "down_s": None, "availability_burned_pct": None,
                               "ttfb_p95_slo_ms": e.slo.ttfb_p95_ms, "slow_polls": None, "polls": None,
                               "latency_burned_pct": None}
        up = [v for _, v in store.history(name, "endpoint.up", start, end)]
        if e.slo.availability is not None and up:
            down_s = (1.0 - sum(up) / len(up)) * dur
            budget_s = (1.0 - e.slo.availability / 100.0) * BUDGET_PERIOD_S
            row["down_s"] = down_s
            row["availability_burned_pct"] = 100.0 * down_s / budget_s if budget_s > 0 else None
        ttfb = [v for _, v in store.history(name, "endpoint.ttfb_ms", start, end)]
        if e.slo.ttfb_p95_ms is not None and ttfb:
            slow = sum(1 for v in ttfb if v > e.slo.ttfb_p95_ms)
            allowed = 0.05 * BUDGET_PERIOD_S / e.interval  # 5 % of a period's polls may be slower
            row.update(slow_polls=slow, polls=len(ttfb), latency_burned_pct=100.0 * slow / allowed)
        out.append(row)
    return out


# --- the whole picture ------------------------------------------------------------------------


def view(store: Store, ref: str | int, cfg: Config | None, now: float) -> dict[str, Any]:
    """Everything `incident show` and the postmortem need, as a dict (the JSON shape)."""
    inc = find(store, ref)
    severities = cfg.severities if cfg is not None else DEFAULT_SEVERITIES
    sev = severity_of(inc.severity, severities)
    linked = store.incident_alerts(inc.id)
    alerts = {a.id: a for a in store.alerts(now=now)}
    targets = targets_from_config(cfg)
    rules = rules_from_config(cfg) if cfg is not None else builtin_rules(None)
    rule_metrics = {r.name: r.metric for r in rules}
    trs = store.transitions(since=inc.t - PROPOSE_WINDOW_S, until=inc.t + PROPOSE_WINDOW_S)
    proposals = propose(inc.text, inc.t, alerts.values(), trs, targets, rule_metrics=rule_metrics, exclude=linked)
    start, end = impact_span(store, inc, now, linked)
    entries = timeline(store, inc, cfg, now)
    affected_eps = sorted({alerts[a].target for a in linked if a in alerts and targets.get(alerts[a].target, Target("", "")).kind == "endpoint"})
    affected_hosts = sorted({alerts[a].target for a in linked if a in alerts and targets.get(alerts[a].target, Target("", "")).kind == "host"})
    other = sorted({alerts[a].target for a in linked if a in alerts} - set(affected_eps) - set(affected_hosts))
    checklist = store.incident_checklist(inc.id)
    resolved_at = inc.resolved_at
    pm_due = (resolved_at + sev.postmortem_s) if (sev and sev.postmortem_s and resolved_at is not None) else None
    return {
        "id": inc.id, "text": inc.text, "severity": inc.severity, "owner": inc.owner, "status": inc.status,
        "tier": inc.tier, "opened_at": iso(inc.t), "opened_by": inc.who, "resolved_at": iso(resolved_at),
        "duration_s": (resolved_at if resolved_at is not None else now) - inc.t,
        "targets": {"respond_s": sev.respond_s if sev else None, "resolve_s": sev.resolve_s if sev else None,
                    "postmortem_s": sev.postmortem_s if sev else None},
        "postmortem_due": iso(pm_due),
        "checklist": {k: ({"text": checklist[k][0], "at": iso(checklist[k][1]), "who": checklist[k][2]}
                          if k in checklist else None) for k in CHECKLIST},
        "missing": missing_items(store, inc.id),
        "linked": [({**alerts[a].to_json(), "labels": alerts[a].labels} if a in alerts else {"id": a, "missing": True})
                   for a in linked],
        "proposals": [p.to_json() for p in proposals],
        "impact": {"start": iso(start), "end": iso(end), "duration_s": end - start,
                   "endpoints": affected_eps, "hosts": affected_hosts, "other_targets": other,
                   "budget": budget_burned(store, cfg, affected_eps, start, end),
                   "budget_method": "simple: down share of polls x duration over 30 days' budget; "
                                    "polls over the TTFB SLO over 5% of 30 days' polls"},
        "timeline": [e.to_json() for e in entries],
        "tried": [e.to_json() for e in entries if e.source in ("note", "ack") or (e.source == "incident" and e.kind == "note")]
                 + ([{"t": checklist["tried"][1] and iso(checklist["tried"][1]), "source": "checklist", "kind": "tried",
                      "who": checklist["tried"][2], "text": checklist["tried"][0]}] if "tried" in checklist else []),
        "unknown_sources": ["package names (the patches probe keeps only the last transaction's time and the pending count)",
                            "dnf history (only rpm's last install time is read)"],
    }


def postmortems_due(store: Store, cfg: Config | None, now: float) -> list[dict[str, Any]]:
    """Resolved incidents of a severity that requires a postmortem (P1 by default) whose postmortem
    is not marked done: "due" until ``postmortem_s`` (48 h) after the resolve, "late" after."""
    severities = cfg.severities if cfg is not None else DEFAULT_SEVERITIES
    out = []
    for inc in store.incidents(since=now - 90 * 86400.0):
        sev = severity_of(inc.severity, severities)
        if sev is None or sev.postmortem_s is None or inc.status != "resolved" or inc.resolved_at is None:
            continue
        events = store.incident_events(inc.id)
        if any(ev.kind == "postmortem" and ev.data.get("done") for ev in events):
            continue
        due = inc.resolved_at + sev.postmortem_s
        draft = [ev.t for ev in events if ev.kind == "postmortem" and not ev.data.get("done")]
        out.append({"id": inc.id, "text": inc.text, "severity": inc.severity, "owner": inc.owner,
                    "resolved_at": iso(inc.resolved_at), "due_at": iso(due), "state": "late" if now >= due else "due",
                    "due_in_s": due - now, "draft_at": iso(max(draft)) if draft else None})
    out.sort(key=lambda r: r["due_in_s"])
    return out
