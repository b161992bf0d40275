"""The shift handover report, and the per-rule noise table.

``handover(store, cfg, since=..., now=...)`` collects, from the store, what the
next shift needs: a one-paragraph summary; alerts still open (severity, since,
value, ack with who and note, silence and when it ends); alerts that resolved
during the shift with how long they fired; silences that end in the next 12
hours; maintenance windows that ran in the shift, run now or start in the
next 12 hours (alerts a window or a down parent holds say so: ``suppressed_by``);
hosts with security updates or a reboot pending (latest "patches"
rows); backups stale or with a failed restore test (latest "backup" rows);
endpoints that breached their latency or availability SLO, with the shift's
p95 (from samples); acks given and notes left during the shift; resolved P1
incidents whose postmortem is due (48 h after the resolve) or late.

``to_markdown`` pastes cleanly into chat or a wiki: every string that came from
a host, an endpoint or a person goes through ``md()`` (``clean`` for control
characters, then Markdown escaping of \\ | * _ ` [ ] < >). ``to_json`` carries the
same content.

``noise_table(store, now, days=7)`` is the Noise screen's table: per rule,
pages per day, flap %, time to ack, worst first.

When no collector refreshes the store, the report says so first ("data is 6m
old: no collector is running", report/staleness.py; ``stale`` in the JSON).

Nothing here imports Textual; time is passed in.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

from .. import maintenance as _maint
from ..alerts.rules import builtin_rules, rules_from_config, tags_from_config
from ..alerts.severity import Severity
from ..config import Config, format_duration
from ..kinds.registry import kinds as registered_kinds
from ..model import Alert, BackupRow, PatchesRow, iso
from ..stats import percentile
from ..store import Store
from ..textsafe import json_safe, redact_url
from .markdown import md  # here too: the other reports import it from handover
from .staleness import staleness_line

__all__ = ["handover", "md", "noise_table", "to_json", "to_markdown"]

SILENCE_HORIZON = 12 * 3600.0

# A pending alert whose `for` ends further off than this is not open yet: the TUI folds it into
# one line (ui/data.py) and the handover lists it as "pending, would fire in ...", not as open.
FAR_PENDING_S = 3600.0


def fires_in(a: Alert, for_s: float | None, now: float) -> float | None:
    """Seconds until a pending alert fires (its `for` has run), or None (not pending, `for` unknown)."""
    if a.state != "pending" or for_s is None:
        return None
    return max(0.0, a.since + for_s - now)


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    return format_duration(max(0, round(s)))


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if v != v:
        return "NaN"
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


# --- collecting ----------------------------------------------------------------------------


def _fired_at(trs: Sequence[Any]) -> float | None:
    """When the episode ending with the last transition started firing."""
    t = None
    for tr in trs:
        if tr.to_state == "firing" and tr.from_state in ("ok", "pending"):
            t = tr.t
    return t


def _silence_for(silences: Sequence[Any], a: Alert) -> Any:
    full = {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}
    hits = [s for s in silences if s.matches(full)]
    return max(hits, key=lambda s: s.ends_at) if hits else None


def _past_warn(sev: Severity, tags: Mapping[str, Mapping[str, str]], metric: str, value: Any, target: str,
               labels: Mapping[str, str] | None = None) -> bool:
    """Past a rule's warn now (alerts/severity.py): what needs the next shift's eye, by the rules in force."""
    return sev.level(metric, value, target, labels, tags.get(target)) in ("warning", "critical")


def _patches(store: Store, sev: Severity, tags: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    out = []
    for row in store.latest("patches"):
        p = PatchesRow.from_json(row["data"] or {}).patches
        if p is None:
            continue
        sec, reboot = p.security, p.reboot_required
        host = row["target"]
        if not (_past_warn(sev, tags, "patches.security", sec, host)
                or _past_warn(sev, tags, "patches.reboot_required", 1.0 if reboot else 0.0, host)):
            continue
        pkgs = [x.name for x in p.packages if x.security]
        out.append({"host": row["target"], "security": sec, "pending": p.pending,
                    "reboot_required": reboot, "reboot_reason": p.reboot_reason,
                    "security_packages": pkgs[:20], "checked_at": iso(row["t"])})
    out.sort(key=lambda r: (-r["security"], not r["reboot_required"], r["host"]))
    return out


def _security(store: Store) -> list[dict[str, Any]]:
    """Hosts whose security probe found something, or could not run a command (named)."""
    out = []
    for row in store.latest("security"):
        d = row["data"] or {}
        j = d.get("security") or {}
        findings = list(j.get("issues") or [])
        errors = list(j.get("errors") or []) + ([d["error"]] if d.get("error") else [])
        if findings or errors:
            out.append({"host": row["target"], "issues": findings, "errors": errors, "checked_at": iso(row["t"])})
    out.sort(key=lambda r: (-len(r["issues"]), r["host"]))
    return out


def _checks(store: Store) -> list[dict[str, Any]]:
    """Every registered probe kind's checks that are failing now, with the kind's own line
    ("DNS shop-a from local: NXDOMAIN for shop.example.com")."""
    out = []
    for kind in registered_kinds():
        for row in store.latest(kind.name):
            d = row["data"] or {}
            line = kind.handover_line(row["target"], row["name"], d)
            if line:
                out.append({"kind": kind.name, "check": row["target"], "vantage": row["name"], "line": line,
                            "checked_at": iso(row["t"])})
    return out


def _backups(store: Store, now: float, sev: Severity, tags: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    out = []
    for row in store.latest("backup"):
        job = BackupRow.from_json(row["data"] or {}, row["name"])
        b = job.status
        age = b.age_s
        if age is not None:
            age = age + max(0.0, now - row["t"])
        max_age = job.max_age
        rt = b.restore_test
        # stale: past backup-age's warn (the job's max_age, unless a [[rules]] entry says otherwise)
        stale = age is not None and _past_warn(sev, tags, "backup.age_s", age, row["target"], {"backup": b.name})
        failed = rt is not None and not rt.ok
        error = b.error
        if not (stale or failed or (error and age is None)):
            continue
        problems = []
        if stale:
            problems.append("stale")
        if failed:
            problems.append("restore test failed")
        if error and age is None:
            problems.append("probe failed")
        out.append({
            "host": row["target"], "backup": b.name, "kind": b.kind,
            "problems": problems, "age_s": age, "max_age_s": max_age, "last_backup": iso(b.last_backup),
            "restore_test": ({"ok": rt.ok, "at": iso(rt.at), "detail": rt.detail, "duration_s": rt.duration_s}
                             if rt is not None else None),
            "error": error,
        })
    return out


def _slo(store: Store, cfg: Config | None, since: float, now: float) -> list[dict[str, Any]]:
    if cfg is None:
        return []
    out = []
    for e in cfg.endpoints:
        slo = e.slo
        if slo.availability is None and slo.ttfb_p95_ms is None:
            continue
        ttfb = [v for _, v in store.history(e.name, "endpoint.ttfb_ms", since, now)]
        up = [v for _, v in store.history(e.name, "endpoint.up", since, now)]
        if not ttfb and not up:
            continue
        p95 = percentile(ttfb, 95) if ttfb else None
        avail = 100.0 * sum(up) / len(up) if up else None
        breached = []
        if slo.ttfb_p95_ms is not None and p95 is not None and p95 > slo.ttfb_p95_ms:
            breached.append("latency")
        if slo.availability is not None and avail is not None and avail < slo.availability:
            breached.append("availability")
        if not breached:
            continue
        out.append({"endpoint": e.name, "url": redact_url(e.url), "breached": breached, "p95_ms": p95,
                    "slo_p95_ms": slo.ttfb_p95_ms, "availability": avail, "slo_availability": slo.availability,
                    "samples": len(ttfb), "polls": len(up)})
    return out


def _postmortems_due(store: Store, cfg: Config | None, now: float) -> list[dict[str, Any]]:
    """Resolved P1 incidents (a severity with a `postmortem` target) whose postmortem is due or late."""
    from ..incidents import postmortems_due

    return postmortems_due(store, cfg, now)


def _sla_week(store: Store, cfg: Config | None, start: float, now: float) -> list[dict[str, Any]]:
    """The SLA section: per endpoint with an availability SLO, the last 7 days' availability and
    budget left (report/sla.py), and the burn-rate alerts firing during the shift."""
    if cfg is None or not any(e.slo.availability is not None for e in cfg.endpoints):
        return []
    from .sla import sla_report  # report/sla.py renders with md() from here

    r = sla_report(store, cfg, since=7 * 86400.0, now=now)
    out = []
    for e in r["endpoints"]:
        p = e["periods"]["7d"]
        if e["slo"]["availability"] is None or p["availability_percent"] is None:
            continue
        out.append({"endpoint": e["name"], "availability_percent": p["availability_percent"],
                    "slo_availability": e["slo"]["availability"], "budget_left_percent": p["budget_left_percent"],
                    "budget_left_s": p["budget_left_s"], "exclude_maintenance": r["exclude_maintenance"],
                    "burn_alerts": [b for b in e["burn_alerts"]
                                    if b["resolved_at"] is None or b["resolved_at"] >= (iso(start) or "")]})
    return out


def handover(store: Store, cfg: Config | None = None, *, since: float = 8 * 3600.0,
             now: float | None = None) -> dict[str, Any]:
    """The shift report as a dict (the JSON shape); ``since`` is the shift's length in seconds."""
    now = time.time() if now is None else now
    start = now - since
    alerts = store.alerts(now=now)
    by_id = {a.id: a for a in alerts}

    open_alerts = []
    rule_for = {r.name: r.for_s for r in (rules_from_config(cfg) if cfg is not None else builtin_rules(None))}
    later = {a.id: t for a in alerts if (t := fires_in(a, rule_for.get(a.rule), now)) is not None and t > FAR_PENDING_S}
    pending_later = [{"id": a.id, "rule": a.rule, "target": a.target, "severity": a.severity, "since": iso(a.since),
                      "fires_in_s": later[a.id], "fires_at": iso(now + later[a.id]), "summary": a.summary}
                     for a in sorted((a for a in alerts if a.id in later), key=lambda a: (later[a.id], a.target))]
    silences, acks = store.active_silences(now), store.active_acks(now)  # read once, not per alert
    for a in sorted((a for a in alerts if a.state in ("pending", "firing") and a.id not in later),
                    key=lambda a: (a.state != "firing", a.severity != "critical", a.since)):
        sil = _silence_for(silences, a)
        ack = acks.get(a.id)
        open_alerts.append({
            "id": a.id, "rule": a.rule, "target": a.target, "labels": a.labels, "severity": a.severity,
            "state": a.state, "since": iso(a.since), "for_s": now - a.since, "value": a.value, "summary": a.summary,
            "tier": a.tier, "flapping": a.flapping, "inhibited": a.inhibited, "runbook": a.runbook,
            "suppressed_by": a.suppressed_by,
            "ack": ({"who": ack.who, "note": ack.note, "at": iso(ack.t), "sticky": ack.sticky,
                     "expires_at": iso(ack.expires_at)} if ack else None),
            "silence": ({"id": sil.id, "who": sil.who, "note": sil.note, "ends_at": iso(sil.ends_at),
                         "ends_in_s": sil.ends_at - now} if sil else None),
            "notes": [{"t": iso(n.t), "who": n.who, "text": n.text} for n in store.notes(alert_id=a.id)][-5:],
        })

    trs = store.transitions(since=0.0, until=now)
    by_alert: dict[str, list[Any]] = {}
    for tr in trs:
        by_alert.setdefault(tr.alert_id, []).append(tr)
    resolved = []
    fired_in_shift = 0
    critical_in_shift = 0
    for aid, lst in by_alert.items():
        for k, tr in enumerate(lst):
            if tr.t < start:
                continue
            if tr.to_state == "firing" and tr.from_state in ("ok", "pending"):
                fired_in_shift += 1
                critical_in_shift += tr.severity == "critical"
            if tr.to_state == "resolved":
                fired = _fired_at(lst[:k + 1])
                a = by_id.get(aid)
                resolved.append({
                    "id": aid, "rule": tr.rule, "target": tr.target, "severity": tr.severity,
                    "fired_at": iso(fired), "resolved_at": iso(tr.t),
                    "duration_s": (tr.t - fired) if fired is not None else None,
                    "reason": tr.reason, "summary": a.summary if a else "",
                })
    resolved.sort(key=lambda r: r["resolved_at"] or "")

    expiring = []
    for s in store.active_silences(now):
        if s.ends_at - now <= SILENCE_HORIZON:
            expiring.append({"id": s.id, "matchers": s.matchers, "who": s.who, "note": s.note,
                             "ends_at": iso(s.ends_at), "ends_in_s": s.ends_at - now,
                             "until_resolved": s.until_resolved})
    expiring.sort(key=lambda s: s["ends_in_s"])

    acks = []
    for ak in store.acks(since=start):
        a = by_id.get(ak.alert_id)
        acks.append({"at": iso(ak.t), "who": ak.who, "note": ak.note, "alert_id": ak.alert_id,
                     "rule": a.rule if a else None, "target": a.target if a else None, "sticky": ak.sticky})
    notes = [{"t": iso(n.t), "who": n.who, "target": n.target, "text": n.text}
             for n in store.notes(since=start) if n.alert_id is None]

    sev = Severity.for_config(cfg)
    tags = tags_from_config(cfg) if cfg is not None else {}
    windows = cfg.maintenance if cfg is not None else ()
    maintenance = {
        "during_shift": [o.to_json() for o in _maint.occurrences_between(windows, start, now) if o.end <= now],
        "active": [o.to_json() for o in _maint.active(windows, now)],
        "upcoming": [o.to_json() for o in _maint.upcoming(windows, now, SILENCE_HORIZON)],
    }
    patches = _patches(store, sev, tags)
    backups = _backups(store, now, sev, tags)
    slo = _slo(store, cfg, start, now)
    report: dict[str, Any] = {
        "generated_at": iso(now), "since": iso(start), "until": iso(now), "window_s": since,
        "stale": staleness_line(store, now),  # None while a collector keeps the store fresh
        "summary": "",
        "counts": {"fired": fired_in_shift, "fired_critical": critical_in_shift, "resolved": len(resolved),
                   "open": len(open_alerts), "open_acked": sum(1 for a in open_alerts if a["ack"]),
                   "open_silenced": sum(1 for a in open_alerts if a["silence"])},
        "open_alerts": open_alerts,
        "pending_later": pending_later,
        "resolved_alerts": resolved,
        "silences_expiring": expiring,
        "maintenance": maintenance,
        "patches": patches,
        "security": _security(store),
        "checks": _checks(store),
        "backups": backups,
        "slo_breaches": slo,
        "sla": _sla_week(store, cfg, start, now),
        "acks": acks,
        "notes": notes,
        "postmortems_due": _postmortems_due(store, cfg, now),
    }
    report["summary"] = _summary(report)
    return report


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 page``, ``2 pages``: one way to count things in every report and screen."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


_plural = plural


def _summary(r: Mapping[str, Any]) -> str:
    c = r["counts"]
    parts = [f"Shift {r['since']} to {r['until']} ({_dur(r['window_s'])}):"]
    fired = _plural(c["fired"], "alert") + " fired"
    if c["fired_critical"]:
        fired += f" ({c['fired_critical']} critical)"
    parts.append(fired + f", {c['resolved']} resolved;")
    crit_open = sum(1 for a in r["open_alerts"] if a["severity"] == "critical" and a["state"] == "firing")
    still = f"{c['open']} still open"
    if c["open"]:
        still += f" ({crit_open} critical firing, {c['open_acked']} acked, {c['open_silenced']} silenced)"
    if r.get("pending_later"):
        still += f"; {len(r['pending_later'])} pending, would fire in {_dur(r['pending_later'][0]['fires_in_s'])} or later"
    parts.append(still + ".")
    extra = []
    if r["silences_expiring"]:
        extra.append(_plural(len(r["silences_expiring"]), "silence ends", "silences end") + " within 12h")
    if r["patches"]:
        extra.append(_plural(len(r["patches"]), "host needs", "hosts need") + " security updates or a reboot")
    if r["backups"]:
        fails = sum(1 for b in r["backups"] if "restore test failed" in b["problems"])
        stale = sum(1 for b in r["backups"] if "stale" in b["problems"])
        bits = []
        if fails:
            bits.append(_plural(fails, "failed restore test"))
        if stale:
            bits.append(_plural(stale, "stale backup"))
        if not bits:
            bits.append(_plural(len(r["backups"]), "backup problem"))
        extra.append(" and ".join(bits))
    if r["slo_breaches"]:
        extra.append(_plural(len(r["slo_breaches"]), "endpoint") + " breached an SLO")
    if r["notes"]:
        extra.append(_plural(len(r["notes"]), "note") + " for the next shift")
    if r.get("postmortems_due"):
        late = sum(1 for p in r["postmortems_due"] if p["state"] == "late")
        extra.append(_plural(len(r["postmortems_due"]), "postmortem") + " due" + (f" ({late} late)" if late else ""))
    if extra:
        parts.append("; ".join(extra).capitalize() + ".")
    else:
        parts.append("Nothing else needs attention.")
    return " ".join(parts)


# --- rendering -------------------------------------------------------------------------------


def to_json(report: Mapping[str, Any]) -> str:
    # json_safe: ensure_ascii=False leaves C1 controls and bidi overrides raw for the terminal.
    return json_safe(json.dumps(report, indent=2, ensure_ascii=False)) + "\n"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _section(title: str, items: Sequence[Any], lines: Callable[[Sequence[Any]], list[str]]) -> list[str]:
    """``## title (n)``, then the items' lines or ``None.``, each block followed by a blank line."""
    return [f"## {title} ({len(items)})", "", *(lines(items) if items else ["None."]), ""]


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [_row(*header), _row(*["---"] * len(header)), *(_row(*cells) for cells in rows)]


def _open_alert_lines(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    def row(a: Mapping[str, Any]) -> tuple[object, ...]:
        ack, sil = a["ack"], a["silence"]
        ack_s = md(ack["who"]) + (f": {md(ack['note'])}" if ack["note"] else "") if ack else "-"
        sil_s = (f"until {sil['ends_at']} ({_dur(sil['ends_in_s'])}) by {md(sil['who'])}"
                 + (f": {md(sil['note'])}" if sil["note"] else "")) if sil else "-"
        state = a["state"] + (" (flapping)" if a["flapping"] else "") + (" (inhibited)" if a["inhibited"] else "")
        if a.get("suppressed_by"):
            state += f" (suppressed: {md(a['suppressed_by'])})"
        return (a["severity"].upper(), state, md(a["target"]), md(a["rule"]),
                f"{a['since']} ({_dur(a['for_s'])})", md(_num(a["value"])), ack_s, sil_s)

    out = _table(("severity", "state", "target", "rule", "since", "value", "ack", "silence"), map(row, alerts))
    notes = [(a, n) for a in alerts for n in a["notes"]]
    if notes:
        out += ["", "What was tried:"]
        out += [f"- {md(a['target'])} / {md(a['rule'])}: {n['t']} {md(n['who'])}: {md(n['text'])}" for a, n in notes]
    return out


def _pending_later_lines(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    return _table(("severity", "target", "rule", "pending since", "would fire"), (
        (a["severity"].upper(), md(a["target"]), md(a["rule"]), a["since"],
         f"in {_dur(a['fires_in_s'])} ({a['fires_at']})") for a in alerts))


def _resolved_lines(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    return _table(("target", "rule", "severity", "fired", "resolved", "duration"), (
        (md(x["target"]), md(x["rule"]), x["severity"] or "-", x["fired_at"] or "before the window",
         x["resolved_at"], _dur(x["duration_s"])) for x in alerts))


def _silence_lines(silences: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- #{s['id']} " + ", ".join(f"{md(k)}={md(v)}" for k, v in s["matchers"].items())
            + f": ends {s['ends_at']} (in {_dur(s['ends_in_s'])}), by {md(s['who'])}"
            + (f": {md(s['note'])}" if s["note"] else "") for s in silences]


def _window_lines(windows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    return [f"- {when}: {md(w['name'])} " + ", ".join(f"{md(k)}={md(v)}" for k, v in w["match"].items())
            + f" from {w['start']} to {w['end']}" + (f" (every {md(w['every'])}, {md(w['tz'])})" if w["every"] else "")
            for when, w in windows]


def _patch_lines(patches: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for p in patches:
        bits = []
        if p["security"]:
            bits.append(f"{p['security']} security update{'s' if p['security'] != 1 else ''}"
                        + (f" ({', '.join(md(x) for x in p['security_packages'][:8])})" if p["security_packages"] else ""))
        if p["reboot_required"]:
            bits.append("reboot required" + (f": {md(p['reboot_reason'])}" if p["reboot_reason"] else ""))
        out.append(f"- {md(p['host'])}: " + "; ".join(bits))
    return out


def _security_lines(hosts: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {md(h['host'])}: " + "; ".join(md(x) for x in [*h["issues"], *h["errors"]]) for h in hosts]


def _check_lines(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {md(c['line'])}" for c in checks]


def _backup_lines(backups: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for b in backups:
        bits = [", ".join(b["problems"])]
        if b["age_s"] is not None:
            bits.append(f"last backup {_dur(b['age_s'])} ago" + (f" (max {_dur(b['max_age_s'])})" if b["max_age_s"] else ""))
        rt = b["restore_test"]
        if rt and rt["ok"] is False:
            bits.append(f"restore test at {md(rt['at'])} failed" + (f": {md(rt['detail'])}" if rt["detail"] else ""))
        if b["error"]:
            bits.append(f"error: {md(b['error'])}")
        out.append(f"- {md(b['host'])} / {md(b['backup'])}: " + "; ".join(bits))
    return out


def _slo_lines(breaches: Sequence[Mapping[str, Any]]) -> list[str]:
    return _table(("endpoint", "breached", "p95 (shift)", "p95 SLO", "availability", "SLO"), (
        (md(e["endpoint"]), ", ".join(e["breached"]),
         f"{_num(e['p95_ms'])} ms" if e["p95_ms"] is not None else "-",
         f"{_num(e['slo_p95_ms'])} ms" if e["slo_p95_ms"] is not None else "-",
         f"{e['availability']:.2f}%" if e["availability"] is not None else "-",
         f"{e['slo_availability']:g}%" if e["slo_availability"] is not None else "-") for e in breaches))


def _sla_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for e in rows:
        left = e["budget_left_percent"]
        line = (f"- {md(e['endpoint'])}: {e['availability_percent']:.3f}% (SLO {e['slo_availability']:g}%), "
                + (f"error budget left {left:.1f}%" if left is not None else "no error budget")
                + (" (maintenance excluded)" if e["exclude_maintenance"] else " (maintenance counted)"))
        for b in e["burn_alerts"]:
            line += f"; {md(b['rule'])} fired {b['fired_at']}" + (f", resolved {b['resolved_at']}" if b["resolved_at"] else ", still firing")
        out.append(line)
    return out


def _ack_lines(acks: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {a['at']} {md(a['who'])} acked {md(a['target'] or '?')} / {md(a['rule'] or a['alert_id'])}"
            + (" (sticky)" if a["sticky"] else "") + (f": {md(a['note'])}" if a["note"] else "") for a in acks]


def _note_lines(notes: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {n['t']} {md(n['who'])}" + (f" on {md(n['target'])}" if n["target"] else "")
            + f": {md(n['text'], 2000)}" for n in notes]


def _postmortem_lines(due: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- incident {p['id']} ({md(p['severity'])}, {md(p['owner'] or 'unassigned')}): {md(p['text'])}: "
            + (f"**late** by {_dur(-p['due_in_s'])} (due {p['due_at']})" if p["state"] == "late"
               else f"due {p['due_at']} (in {_dur(p['due_in_s'])})")
            + f"; resolved {p['resolved_at']}" + (f"; draft written {p['draft_at']}" if p["draft_at"] else "")
            for p in due]


def to_markdown(r: Mapping[str, Any]) -> str:
    """GitHub-flavoured Markdown; every remote or human string escaped with ``md``."""
    L: list[str] = [f"# Shift handover {r['since']} → {r['until']}", ""]
    if r.get("stale"):
        L += [f"> **{md(r['stale'], None)}**", ""]
    L += [md(r["summary"], None), ""]
    L += _section("Open alerts", r["open_alerts"], _open_alert_lines)
    if r.get("pending_later"):
        L += _section("Pending, would fire in more than 1h", r["pending_later"], _pending_later_lines)
    L += _section("Fired and resolved during the shift", r["resolved_alerts"], _resolved_lines)
    L += _section("Silences ending in the next 12 hours", r["silences_expiring"], _silence_lines)
    m = r.get("maintenance") or {}
    windows = ([("ran", w) for w in m.get("during_shift", [])] + [("running now", w) for w in m.get("active", [])]
               + [("next 12h", w) for w in m.get("upcoming", [])])
    if windows:
        L += _section("Maintenance windows", windows, _window_lines)
    L += _section("Patches: security updates or reboot pending", r["patches"], _patch_lines)
    L += _section("Security: findings or checks that could not run", r.get("security") or [], _security_lines)
    if r.get("checks"):  # only when a probe kind's check is failing: no empty section per kind
        L += _section("Checks failing (DNS, journeys, databases ...)", r["checks"], _check_lines)
    L += _section("Backups: stale or restore test failed", r["backups"], _backup_lines)
    L += _section("Endpoints that breached their SLO", r["slo_breaches"], _slo_lines)
    if r.get("sla"):
        L += _section("SLA: the last 7 days", r["sla"], _sla_lines)
    L += _section("Acks during the shift", r["acks"], _ack_lines)
    L += _section("Notes for the next shift", r["notes"], _note_lines)
    if r.get("postmortems_due"):
        L += _section("Postmortems due or late", r["postmortems_due"], _postmortem_lines)
    return "\n".join(L).rstrip("\n") + "\n"


# --- the Noise screen's table ---------------------------------------------------------------


def noise_table(store: Store, now: float, days: float = 7) -> list[dict[str, Any]]:
    """Per rule over the last ``days``: pages, pages per day, flap %, time to ack; worst first.

    A page is a firing transition that was not inhibited, not while the alert was
    flapping and not silenced (plus escalations to critical and a firing alert that
    stopped flapping). ``flap_percent``: the share of the rule's alerts that flapped.
    ``median_ack_s``: from a page to the first ack of that alert after it (unacked
    pages are counted in ``unacked``). Rows: rule, pages, pages_per_day, alerts,
    flap_episodes, flap_percent, acked, unacked, median_ack_s.
    """
    since = now - days * 86400.0
    trs = store.transitions(since=since, until=now)
    silences = store.silences(since=since)
    acks: dict[str, list[float]] = {}
    for ak in store.acks(since=since):
        acks.setdefault(ak.alert_id, []).append(ak.t)
    labels = {a.id: a.labels for a in store.alerts(now=now)}
    rows: dict[str, dict[str, Any]] = {}
    flapping: set[str] = set()
    flapped: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = {}
    ack_times: dict[str, list[float]] = {}
    for tr in trs:
        r = rows.setdefault(tr.rule, {"rule": tr.rule, "pages": 0, "flap_episodes": 0, "acked": 0, "unacked": 0})
        seen.setdefault(tr.rule, set()).add(tr.alert_id)
        if tr.to_state == "flapping":
            flapping.add(tr.alert_id)
            flapped.setdefault(tr.rule, set()).add(tr.alert_id)
            r["flap_episodes"] += 1
            continue
        settle = tr.from_state == "flapping"
        if settle:
            flapping.discard(tr.alert_id)
        is_page = (
            (tr.to_state == "firing" and tr.from_state in ("ok", "pending") and tr.alert_id not in flapping)
            or (settle and tr.to_state == "firing")
            or (tr.from_state == "firing" and tr.to_state == "firing" and tr.severity == "critical"
                and "escalated" in tr.reason and tr.alert_id not in flapping)
        )
        if not is_page or "inhibited:" in tr.reason:
            continue
        full = {**labels.get(tr.alert_id, {}), "target": tr.target, "rule": tr.rule, "alertname": tr.rule,
                "severity": tr.severity or ""}
        if any(s.t <= tr.t < s.ends_at and (s.expired_at is None or tr.t < s.expired_at) and s.matches(full)
               for s in silences):
            continue
        r["pages"] += 1
        later = [t for t in acks.get(tr.alert_id, ()) if t >= tr.t]
        if later:
            r["acked"] += 1
            ack_times.setdefault(tr.rule, []).append(min(later) - tr.t)
        else:
            r["unacked"] += 1
    out = []
    for rule, r in rows.items():
        n_alerts = len(seen.get(rule, ()))
        r["alerts"] = n_alerts
        r["pages_per_day"] = round(r["pages"] / days, 2) if days else float(r["pages"])
        r["flap_percent"] = round(100.0 * len(flapped.get(rule, ())) / n_alerts, 1) if n_alerts else 0.0
        at = ack_times.get(rule)
        r["median_ack_s"] = statistics.median(at) if at else None
        out.append(r)
    out.sort(key=lambda r: (-r["pages_per_day"], -r["flap_percent"], -(r["median_ack_s"] or 0.0), r["rule"]))
    return out
