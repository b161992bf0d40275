"""The SLA report: per endpoint availability, TTFB-p95 compliance and error budget over
7 days and the ``--since`` period, the burn-rate alert times, and MTTA/MTTR of the
alert queue by severity and tier against ``[sla] targets``, breaches listed.

``sla_report(store, cfg, since=..., now=...)`` returns the JSON shape; ``to_markdown``
and ``to_json`` render it. How time is counted (time-weighted by poll, maintenance
windows in or out) is opsdash/sla.py's, and every report states it.

- **Availability** of an endpoint over a period: up time / covered time of its
  ``endpoint.up`` series (all vantages), each poll standing until the next
  (sla.py). **Budget**: ``(1 - slo/100) x covered``; burned = down time; left =
  budget - burned (negative: overspent).
- **TTFB p95**: the 95th percentile (linear interpolation, stats.percentile) of the
  period's raw ``endpoint.ttfb_ms`` polls, against ``slo.ttfb_p95_ms``; and
  **compliance**: the share of time the collector's windowed ``endpoint.ttfb_p95_ms``
  was at or under the target (time-weighted like availability).
- **Burn-rate alert times**: the store's ``endpoint.up`` polls replayed through the
  collector's own burn windows (sla.BurnTracker) and the burn-rate rules in force
  (an AlertEngine without a store): when each fired and resolved. Polls from 3 days
  before the period are read so the longest window is full at its start.
- **MTTA / MTTR**: an episode is an alert's transition to firing (from ok or
  pending) up to its transition to resolved. Time to ack: to the first ack given
  during it (an ack still in force when it fired: 0). Severity: the highest it
  reached; tier: the tier it fired at (the ``from`` of its first escalation, else
  the rule's tier for that severity, else the alert row's). A **breach**: not acked
  within the tier's respond target (also when never acked and it fired longer than
  that), or not resolved within ``resolve_targets`` when set.

Nothing here imports Textual; time is passed in.
"""

from __future__ import annotations

import heapq
import json
import statistics
import time
from typing import Any, Iterable, Mapping, Sequence

from ..alerts.engine import AlertEngine
from ..alerts.rules import builtin_rules, rules_from_config, tags_from_config
from ..config import Config, SLAConfig, format_duration
from ..model import Sample, iso
from ..sla import BURN_ALERTS, BURN_METRICS, _LONGEST, burn_trackers, covered, excluded_intervals, poll_cap
from ..stats import percentile
from ..store import Store
from ..textsafe import json_safe, redact_url
from .markdown import md

__all__ = ["METHOD", "response_times", "sla_report", "to_json", "to_markdown"]

WEEK = 7 * 86400.0
METHOD = ("time-weighted by poll: each endpoint.up poll stands for the time until the next poll of its "
          "vantage (at most interval + 1.2 x max(300s, interval)); time without polls is not counted")
_METRICS = ("endpoint.up", "endpoint.ttfb_ms", "endpoint.ttfb_p95_ms")


def _maint_note(exclude: bool) -> str:
    return ("maintenance windows excluded (`[sla] exclude_maintenance = true`)" if exclude
            else "maintenance windows counted (`[sla] exclude_maintenance = false`)")


def _periods(since: float) -> list[float]:
    return sorted({min(WEEK, since), since})


def _period_figures(series: Mapping[str, list[tuple[str, Any, Any]]], e: Any, start: float, now: float,
                    period: float, exclude: bool, windows: Sequence[Any]) -> dict[str, Any]:
    cap = poll_cap(e.interval)
    ex = excluded_intervals(windows, e.name, e.tags, start, now) if exclude and windows else None
    cov = up = exs = 0.0
    for _v, ts, vs in series.get("endpoint.up", ()):
        c, g, x = covered(ts, vs, start, now, cap, ex)
        cov, up, exs = cov + c, up + g, exs + x
    down = cov - up
    slo = e.slo.availability
    avail = 100.0 * up / cov if cov > 0 else None
    out: dict[str, Any] = {
        "period_s": period, "since": iso(start), "covered_s": round(cov, 3), "excluded_s": round(exs, 3),
        "up_s": round(up, 3), "down_s": round(down, 3),
        "availability_percent": round(avail, 4) if avail is not None else None,
        "slo_availability": slo, "slo_met": (avail >= slo) if avail is not None and slo is not None else None,
        "budget_s": None, "budget_burned_s": None, "budget_left_s": None, "budget_left_percent": None,
    }
    if slo is not None and cov > 0:
        budget = (1.0 - slo / 100.0) * cov
        out.update(budget_s=round(budget, 3), budget_burned_s=round(down, 3), budget_left_s=round(budget - down, 3),
                   budget_left_percent=round(100.0 * (budget - down) / budget, 2) if budget > 0 else None)
    # TTFB: the period's raw polls (by count), and time under the target (time-weighted)
    raw: list[float] = []
    for _v, ts, vs in series.get("endpoint.ttfb_ms", ()):
        raw.extend(v for t, v in zip(ts, vs) if start <= t <= now and not (ex and ex.contains(t)))
    p95 = percentile(raw, 95) if raw else None
    target = e.slo.ttfb_p95_ms
    comp = None
    if target is not None:
        pc = pg = 0.0
        for _v, ts, vs in series.get("endpoint.ttfb_p95_ms", ()):
            c, g, _x = covered(ts, vs, start, now, cap, ex, good=lambda v: v <= target)
            pc, pg = pc + c, pg + g
        comp = round(100.0 * pg / pc, 4) if pc > 0 else None
    out["ttfb"] = {"p95_ms": round(p95, 3) if p95 is not None else None, "polls": len(raw), "slo_p95_ms": target,
                   "met": (p95 <= target) if p95 is not None and target is not None else None,
                   "compliance_percent": comp}
    return out


def _burn_alerts(cfg: Config, ups: Mapping[str, list[tuple[str, Any, Any]]], start: float,
                 now: float) -> dict[str, list[dict[str, Any]]]:
    """{endpoint: [burn-rate alert episodes overlapping [start, now]]}: the polls replayed
    through the collector's burn windows and the burn-rate rules in force."""
    rules = [r for r in rules_from_config(cfg) if r.metric in BURN_METRICS]
    if not rules:
        return {}
    factors = {b.rule: b for b in BURN_ALERTS}
    trackers = burn_trackers(cfg)
    tags = tags_from_config(cfg)
    engine = AlertEngine(rules, tags=lambda t: tags.get(t, {}))
    out: dict[str, list[dict[str, Any]]] = {}
    for name, tracker in trackers.items():
        streams = [((t, v, up) for t, up in zip(ts, vs)) for v, ts, vs in ups.get(name, ())]
        open_: dict[str, dict[str, Any]] = {}
        episodes: list[dict[str, Any]] = []
        batch: list[Sample] = []

        def run(batch: list[Sample]) -> None:
            for ev in engine.observe(batch):
                if ev.to_state == "firing" and ev.from_state != "firing":
                    b = factors.get(ev.rule)
                    open_[ev.alert_id] = {
                        "rule": ev.rule, "severity": ev.severity, "factor": b.factor if b else None,
                        "windows": b.windows if b else None, "fired_at": ev.t, "resolved_at": None,
                        "value": ev.value}
                elif ev.to_state in ("resolved", "ok") and ev.alert_id in open_:
                    ep = open_.pop(ev.alert_id)
                    ep["resolved_at"] = ev.t
                    episodes.append(ep)

        for t, vantage, up in heapq.merge(*streams):
            tracker.add(vantage, t, up >= 0.5)
            batch.extend(Sample(t, name, m, v) for m, v in tracker.rates(t).items())
            if len(batch) >= 5000:
                run(batch)
                batch = []
        run(batch)
        episodes.extend(open_.values())
        keep = [ep for ep in episodes if ep["resolved_at"] is None or ep["resolved_at"] >= start]
        for ep in keep:
            end = ep["resolved_at"]
            ep["duration_s"] = round((end if end is not None else now) - ep["fired_at"], 3)
            ep["fired_at"], ep["resolved_at"] = iso(ep["fired_at"]), iso(end)
            ep["value"] = round(ep["value"], 3) if ep["value"] is not None else None
        keep.sort(key=lambda ep: (ep["fired_at"], ep["rule"]))
        out[name] = keep
    return out


def response_times(store: Store, cfg: Config | None, since: float, now: float) -> dict[str, Any]:
    """MTTA and MTTR by severity and tier over episodes that fired in [since, now], breaches listed."""
    sla = cfg.sla if cfg is not None else SLAConfig()
    rules = {r.name: r for r in (rules_from_config(cfg) if cfg is not None else builtin_rules(None))}
    rows = {a.id: a for a in store.alerts(now=now)}
    acks: dict[str, list[Any]] = {}
    for ak in store.acks(since=0.0):
        acks.setdefault(ak.alert_id, []).append(ak)
    escal: dict[str, list[tuple[float, str | None, str]]] = {}
    for t, aid, _who, frm, to in store.escalations():
        escal.setdefault(aid, []).append((t, frm, to))
    by_alert: dict[str, list[Any]] = {}
    for tr in store.transitions(since=since, until=now):
        by_alert.setdefault(tr.alert_id, []).append(tr)

    episodes = []
    for aid, trs in by_alert.items():
        cur: dict[str, Any] | None = None
        for tr in trs:
            if tr.to_state == "firing" and tr.from_state in ("ok", "pending"):
                if cur is not None:  # a firing without its resolve (store written by hand): close it here
                    episodes.append(cur)
                cur = {"id": aid, "rule": tr.rule, "target": tr.target, "severity": tr.severity or "warning",
                       "start": tr.t, "end": None}
            elif cur is not None and tr.to_state == "firing" and tr.severity == "critical":
                cur["severity"] = "critical"
            elif cur is not None and tr.to_state == "resolved":
                cur["end"] = tr.t
                episodes.append(cur)
                cur = None
        if cur is not None:
            episodes.append(cur)

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    breaches = []
    for ep in episodes:
        aid, start, end = ep["id"], ep["start"], ep["end"]
        stop = end if end is not None else now
        ack_t = None
        for ak in acks.get(aid, ()):
            if start <= ak.t <= stop:
                ack_t = ak.t if ack_t is None else min(ack_t, ak.t)
            elif ak.t < start and (ak.cleared_at is None or ak.cleared_at > start) and (
                    ak.expires_at is None or ak.expires_at > start):
                ack_t = start  # acked before it fired, and the ack still held (sticky)
        tier = next((frm for t, frm, _to in escal.get(aid, ()) if start <= t <= stop and frm), None)
        if tier is None and ep["rule"] in rules:
            tier = rules[ep["rule"]].tier_for(ep["severity"])
        if tier is None and aid in rows:
            tier = rows[aid].tier
        tier = tier or "L1"
        tta = ack_t - start if ack_t is not None else None
        ttr = end - start if end is not None else None
        g = groups.setdefault((ep["severity"], tier), {
            "severity": ep["severity"], "tier": tier, "alerts": 0, "acked": 0, "resolved": 0,
            "_tta": [], "_ttr": [], "respond_target_s": sla.respond_s.get(tier),
            "resolve_target_s": sla.resolve_s.get(tier), "breaches": 0})
        g["alerts"] += 1
        if tta is not None:
            g["acked"] += 1
            g["_tta"].append(tta)
        if ttr is not None:
            g["resolved"] += 1
            g["_ttr"].append(ttr)
        base = {"id": aid, "rule": ep["rule"], "target": ep["target"], "severity": ep["severity"], "tier": tier,
                "fired_at": iso(start), "acked_at": iso(ack_t), "resolved_at": iso(end),
                "tta_s": round(tta, 3) if tta is not None else None, "ttr_s": round(ttr, 3) if ttr is not None else None}
        respond = sla.respond_s.get(tier)
        if respond is not None:
            waited = tta if tta is not None else stop - start
            if waited > respond:
                why = (f"acked after {format_duration(round(tta))}" if tta is not None else
                       f"not acked in {format_duration(round(waited))}" + ("" if end is not None else " (still firing)"))
                breaches.append({**base, "kind": "respond", "target_s": respond, "over_s": round(waited - respond, 3),
                                 "why": why})
                g["breaches"] += 1
        resolve = sla.resolve_s.get(tier)
        if resolve is not None:
            took = ttr if ttr is not None else now - start
            if took > resolve:
                why = (f"resolved after {format_duration(round(took))}" if ttr is not None
                       else f"not resolved in {format_duration(round(took))}")
                breaches.append({**base, "kind": "resolve", "target_s": resolve, "over_s": round(took - resolve, 3),
                                 "why": why})
                g["breaches"] += 1
    out_groups = []
    for (_sev, _tier), g in sorted(groups.items(), key=lambda kv: (kv[0][0] != "critical", kv[0][1])):
        tta, ttr = g.pop("_tta"), g.pop("_ttr")
        g["mtta_s"] = round(statistics.fmean(tta), 3) if tta else None
        g["mttr_s"] = round(statistics.fmean(ttr), 3) if ttr else None
        out_groups.append(g)
    breaches.sort(key=lambda b: (b["fired_at"] or "", b["kind"]))
    return {"respond_targets_s": dict(sla.respond_s), "resolve_targets_s": dict(sla.resolve_s),
            "episodes": len(episodes), "groups": out_groups, "breaches": breaches}


def sla_report(store: Store, cfg: Config, *, since: float = 30 * 86400.0, now: float | None = None) -> dict[str, Any]:
    """The report as a dict (the JSON shape); ``since`` in seconds (the longest period)."""
    now = time.time() if now is None else now
    exclude = cfg.sla.exclude_maintenance
    windows = tuple(cfg.maintenance)
    periods = _periods(since)
    longest_cap = max((poll_cap(e.interval) for e in cfg.endpoints), default=0.0)
    read_from = now - max(periods) - _LONGEST - longest_cap
    names = {e.name for e in cfg.endpoints}
    # {endpoint: {metric: [(vantage, times, values)]}}: one indexed read per series
    series: dict[str, dict[str, list[tuple[str, Any, Any]]]] = {}
    for target, metric, labels, ts, vs in store.series_arrays(read_from, now, metrics=lambda m: m in _METRICS):
        if target in names:
            series.setdefault(target, {}).setdefault(metric, []).append((labels.get("vantage", ""), ts, vs))
    burns = _burn_alerts(cfg, {n: s.get("endpoint.up", []) for n, s in series.items()}, now - since, now)
    endpoints = []
    for e in cfg.endpoints:
        s = series.get(e.name, {})
        endpoints.append({
            "name": e.name, "url": redact_url(e.url),
            "slo": {"availability": e.slo.availability, "ttfb_p95_ms": e.slo.ttfb_p95_ms},
            "vantages": sorted({v for v, _ts, _vs in s.get("endpoint.up", ())}),
            "periods": {format_duration(p): _period_figures(s, e, now - p, now, p, exclude, windows) for p in periods},
            "burn_alerts": burns.get(e.name, []),
        })
    return {
        "generated_at": iso(now), "since": iso(now - since), "until": iso(now), "window_s": since,
        "periods": [format_duration(p) for p in periods],
        "method": METHOD, "exclude_maintenance": exclude, "maintenance": _maint_note(exclude),
        "endpoints": endpoints,
        "response": response_times(store, cfg, now - since, now),
    }


# --- rendering ---------------------------------------------------------------------------------


def to_json(report: Mapping[str, Any]) -> str:
    return json_safe(json.dumps(report, indent=2, ensure_ascii=False)) + "\n"


def _d(s: float | None) -> str:
    if s is None:
        return "-"
    sign = "-" if s < 0 else ""
    return sign + format_duration(round(abs(s)))


def _pct(v: float | None, places: int = 3) -> str:
    return "-" if v is None else f"{v:.{places}f}%"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [_row(*header), _row(*["---"] * len(header)), *(_row(*r) for r in rows)]


def endpoint_rows(r: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The endpoint table's cells (Markdown-escaped): the CLI, the handover and the TUI share them."""
    rows = []
    for e in r["endpoints"]:
        slo = e["slo"]
        for label, p in e["periods"].items():
            t = p["ttfb"]
            met = "" if p["slo_met"] is None else (" ok" if p["slo_met"] else " BREACHED")
            rows.append((
                md(e["name"]), label, _pct(p["availability_percent"]) + met,
                f"{slo['availability']:g}%" if slo["availability"] is not None else "-",
                _d(p["budget_s"]), _d(p["budget_burned_s"]),
                f"{_d(p['budget_left_s'])} ({p['budget_left_percent']:.1f}%)" if p["budget_left_percent"] is not None
                else _d(p["budget_left_s"]),
                f"{t['p95_ms']:.0f} ms" if t["p95_ms"] is not None else "-",
                f"{slo['ttfb_p95_ms']:g} ms" if slo["ttfb_p95_ms"] is not None else "-",
                _pct(t["compliance_percent"], 2),
            ))
    return rows


ENDPOINT_HEADER = ("endpoint", "period", "availability", "SLO", "budget", "burned", "left", "TTFB p95", "p95 SLO",
                   "time under p95 SLO")


def to_markdown(r: Mapping[str, Any]) -> str:
    L = [f"# SLA report {r['since']} → {r['until']}", "",
         f"Availability is {r['method']}; {r['maintenance']}.", ""]
    L += [f"## Endpoints ({len(r['endpoints'])})", ""]
    L += _table(ENDPOINT_HEADER, endpoint_rows(r)) if r["endpoints"] else ["None."]
    L.append("")
    burns = [(e["name"], b) for e in r["endpoints"] for b in e["burn_alerts"]]
    L += [f"## Burn-rate alerts ({len(burns)})", ""]
    L += _table(("endpoint", "rule", "severity", "burn", "windows", "fired", "resolved", "for"), (
        (md(n), md(b["rule"]), b["severity"], f"> {b['factor']:g}x" if b["factor"] is not None else "-",
         b["windows"] or "-", b["fired_at"], b["resolved_at"] or "still firing", _d(b["duration_s"]))
        for n, b in burns)) if burns else ["None."]
    L.append("")
    resp = r["response"]
    L += [f"## Response: MTTA and MTTR by severity and tier ({resp['episodes']} alerts fired)", "",
          "Targets: respond " + ", ".join(f"{k} < {_d(v)}" for k, v in sorted(resp["respond_targets_s"].items()))
          + ("; resolve " + ", ".join(f"{k} < {_d(v)}" for k, v in sorted(resp["resolve_targets_s"].items()))
             if resp["resolve_targets_s"] else "") + ".", ""]
    L += _table(("severity", "tier", "alerts", "acked", "MTTA", "respond target", "resolved", "MTTR", "resolve target",
                 "breaches"), (
        (g["severity"], g["tier"], g["alerts"], g["acked"], _d(g["mtta_s"]), _d(g["respond_target_s"]),
         g["resolved"], _d(g["mttr_s"]), _d(g["resolve_target_s"]), g["breaches"]) for g in resp["groups"]
    )) if resp["groups"] else ["None."]
    L.append("")
    L += [f"## Breaches ({len(resp['breaches'])})", ""]
    L += _table(("fired", "target", "rule", "severity", "tier", "target time", "what happened", "over by"), (
        (b["fired_at"], md(b["target"]), md(b["rule"]), b["severity"], b["tier"],
         f"{b['kind']} < {_d(b['target_s'])}", md(b["why"]), _d(b["over_s"])) for b in resp["breaches"]
    )) if resp["breaches"] else ["None."]
    return "\n".join(L).rstrip("\n") + "\n"
