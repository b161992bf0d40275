"""The ``opsdash once`` snapshot: the JSON of the contract, its text rendering,
and the Nagios status it exits with.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any, Iterable, Mapping

from ..alerts.rules import tags_from_config
from ..alerts.severity import CRITICAL, NONE, Severity
from ..kinds.registry import by_name as kind_by_name
from ..model import Alert, iso, load_per_cpu
from ..textsafe import clean

NAGIOS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
_RANK = {"ok": 0, "unknown": 1, "warning": 2, "critical": 3}


def worst(*states: str) -> str:
    return max(states, key=lambda s: _RANK[s], default="ok")


def _down(severity: Severity, metric: str, target: str, labels: dict[str, str] | None,
          tags: Mapping[str, Mapping[str, str]]) -> str:
    """A target that did not answer, by its rule (host-down / endpoint-down on ``*.up`` = 0):
    "critical" with the built-ins; a user who disabled the rule gets "ok" for it."""
    lv = severity.level(metric, 0.0, target, labels, tags.get(target))
    return "ok" if lv == NONE else lv if lv in ("ok", "warning", CRITICAL) else "unknown"


def overall_status(hosts: list[dict[str, Any]], endpoints: list[dict[str, Any]], alerts: Iterable[Alert],
                   severity: Severity | None = None, tags: Mapping[str, Mapping[str, str]] | None = None,
                   checks: Iterable[Mapping[str, Any]] = ()) -> str:
    """The worst level on this snapshot, every threshold from the rules in force.

    The alerts are the rules evaluated on this one snapshot (``instant_alerts``: thresholds
    only, no `for` or attempts), so a warning alert is a value past a rule's warn now, as
    the panes colour it (alerts/severity.py). A host or endpoint that cannot be reached is
    what its down rule says of ``up`` = 0 (critical with the built-ins). Unknown: a probe
    that failed to read (nothing worse). A host nothing tried to reach (``--probe http``,
    or no health probe) is "unknown" and counts for nothing: not probed is not down.
    A probe kind's check counts at its ``level`` (Severity.check_level: a failing one is what
    the rule on its up-metric says of 0, like an endpoint; a working one its figures')."""
    sev = severity if severity is not None else Severity.for_config(None)
    tags = tags or {}
    status = "ok"
    for h in hosts:
        if h["state"] not in ("ok", "unknown"):
            status = worst(status, _down(sev, "host.up", h["name"], None, tags))
        elif h.get("error"):
            status = worst(status, "unknown")
        for section in ("patches",):
            if isinstance(h.get(section), dict) and h[section].get("error"):
                status = worst(status, "unknown")
        for item in (h.get("caches") or []) + (h.get("backups") or []):
            if item.get("error"):
                status = worst(status, "unknown")
    for e in endpoints:
        if e["state"] != "ok":
            status = worst(status, _down(sev, "endpoint.up", e["name"], {"vantage": str(e.get("vantage") or "local")}, tags))
    for c in checks:
        if c.get("level") in _RANK:
            status = worst(status, c["level"])
    for a in alerts:
        # A held alert (a maintenance window, a down parent) is shown, with why, but does not
        # raise the status: the header and the collector do not page on it either.
        if a.state == "firing" and not a.silenced and not a.suppressed_by:
            status = worst(status, "critical" if a.severity == "critical" else "warning")
    return status


def build(collector: Any, alerts: list[Alert], probes: set[str] | None, now: float | None = None,
          source_endpoints: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The ``once`` snapshot. ``source_endpoints``: the Latency rows Prometheus sources fed
    (``collect.sources.source_endpoints``, passed by the command: reports never import collect/)."""
    now = time.time() if now is None else now
    hosts = [hs.to_json(probes) for hs in collector.hosts.values()]
    endpoints = []
    keys = ("name", "url", "vantage", "state", "status", "ttfb_ms", "phases", "samples",
            "p50_ms", "p95_ms", "p99_ms", "error_rate", "cache", "error")
    if probes is None or "http" in probes:
        for ep in collector.config.endpoints:
            if ep.source is not None:
                continue  # quantiles from a Prometheus source, below
            for v in ep.vantage:
                d = collector.endpoint_json(ep, v)
                endpoints.append({k: d[k] for k in keys})
        endpoints += [{k: d.get(k) for k in keys} for d in source_endpoints]
    # The registered probe kinds' rows (dns, journeys, databases ...), as the collector stored them.
    sev = Severity.for_config(collector.config)
    checks = []
    for (k, target, v), row in sorted(collector.checks.rows.items()):
        kind = kind_by_name(k)
        if kind is None or (probes is not None and k not in probes):
            continue
        level = sev.check_level(kind, row, target, v)
        checks.append({"kind": k, "name": target, "vantage": v, "level": "ok" if level == NONE else level,
                       **{x: y for x, y in row.items() if x != "vantage"}})
    return {
        "generated_at": iso(now),
        "status": overall_status(hosts, endpoints, alerts, sev, tags_from_config(collector.config), checks),
        "hosts": hosts,
        "endpoints": endpoints,
        "checks": checks,
        "alerts": [a.to_json() for a in alerts],
    }


# --- text -------------------------------------------------------------------------


def _pct(v: Any) -> str:
    return f"{v:5.1f}%" if isinstance(v, (int, float)) else "    - "


def _load(v: Any) -> str:
    return f"{v:8.2f}" if isinstance(v, (int, float)) else "       -"


def _ms(v: Any) -> str:
    return f"{v:7.1f}" if isinstance(v, (int, float)) else "      -"


def _dur(s: Any) -> str:
    """3d4h, 5h12m, 7m, 42s: two units at most, as people say it."""
    if not isinstance(s, (int, float)):
        return "-"
    s = int(s)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (unit, size) in enumerate(units):
        if s >= size or unit == "s":
            out = f"{s // size}{unit}"
            if i + 1 < len(units) and unit != "s":
                sub, subsize = units[i + 1]
                if (s % size) // subsize:
                    out += f"{(s % size) // subsize}{sub}"
            return out
    return "0s"


_WIDTH = 100
_MAX_ERROR = 2000  # a hostile host's megabyte of "error" is still cut, at a length no real message reaches


def _wrap(first: str, text: Any, indent: int) -> list[str]:
    """``first`` followed by ``text``, wrapped at ``_WIDTH`` with the continuation
    lines indented by ``indent``. Error lines are wrapped, never cut: the end of a
    host-key message holds the presented fingerprint and what to do."""
    return textwrap.wrap(clean(text, limit=_MAX_ERROR), _WIDTH, initial_indent=first,
                         subsequent_indent=" " * indent, break_on_hyphens=False,
                         break_long_words=False) or [first.rstrip()]  # a path or a fingerprint stays whole


def render_text(snap: dict[str, Any]) -> str:
    """A terse, greppable text report. Remote text goes through ``clean``."""
    out = [f"opsdash once  {snap['generated_at']}  status: {snap['status'].upper()}"]
    if snap["hosts"]:
        out.append("")
        out.append("HOSTS      state        cpu    mem   disk  load/cpu  uptime")
    for h in snap["hosts"]:
        name = clean(h["name"], limit=24)
        state = "ok" if h["state"] == "ok" else h["state"].upper()
        hl = h.get("health") or {}
        if h["state"] == "ok" and hl:  # a figure that is None (unknown) prints as "-"; the others still show
            disks = hl.get("disks") or []
            worst_disk = max(disks, key=lambda d: d["percent"], default=None)
            load = load_per_cpu(hl.get("load1"), hl.get("cpus"))
            out.append(
                f"  {name:<10} {state:<10} {_pct(hl.get('cpu_percent'))} {_pct(hl.get('mem_percent'))} "
                f"{_pct(worst_disk['percent'] if worst_disk else None)} {_load(load)}  "
                f"{_dur(hl.get('uptime_s'))}"
                + (f"  ({clean(worst_disk['mount'], limit=30)})" if worst_disk else "")
            )
        else:
            out.extend(_wrap(f"  {name:<10} {state:<10} ", h.get("error") or "", 24))
        p = h.get("patches")
        if isinstance(p, dict):
            if p.get("pending") is not None:
                out.append(
                    f"    patches: {p['pending']} pending, {p['security']} security"
                    + (", REBOOT REQUIRED" if p.get("reboot_required") else "")
                )
            else:
                out.extend(_wrap("    patches: ERROR ", p.get("error") or "not read", 8))
        for c in h.get("caches") or []:
            rate = f"{100 * c['hit_rate']:.1f}% hit" if c.get("hit_rate") is not None else "no rate"
            head = f"    cache {clean(c['name'], limit=20)} ({c['kind']}): {rate}"
            out.extend(_wrap(head + "  ERROR ", c["error"], 8) if c.get("error") else [head])
        for b in h.get("backups") or []:
            rt = b.get("restore_test")
            rts = "no restore test"
            if rt:
                rts = ("restore OK" if rt["ok"] else "RESTORE FAILED") + f" in {rt['duration_s']:.1f}s"
                if not rt["ok"] and rt.get("detail"):
                    rts += f": {rt['detail']}"
            age = _dur(b.get("age_s"))
            text = rts + (f"  ERROR {b['error']}" if b.get("error") else "")
            out.extend(_wrap(f"    backup {clean(b['name'], limit=20)} ({b['kind']}): last {age} ago, ", text, 8))
    if snap["endpoints"]:
        out.append("")
        out.append("ENDPOINTS            state   code   ttfb     p50     p95     p99   err%  cache")
    for e in snap["endpoints"]:
        label = clean(f"{e['name']}@{e['vantage']}", limit=20)
        state = "ok" if e["state"] == "ok" else e["state"].upper()
        err = f"{100 * e['error_rate']:5.1f}" if e.get("error_rate") is not None else "    -"
        out.append(
            f"  {label:<20} {state:<7} {e['status'] or '-':>4} {_ms(e['ttfb_ms'])} {_ms(e['p50_ms'])} "
            f"{_ms(e['p95_ms'])} {_ms(e['p99_ms'])} {err}  {clean(e.get('cache') or '-', limit=10)}"
        )
        if e.get("error") and e["state"] != "ok":
            out.extend(_wrap("    ", e["error"], 4))
    checks = snap.get("checks") or []
    if checks:
        out.append("")
        out.append("CHECKS                         state")
    for c in checks:
        kind = kind_by_name(c["kind"])
        word, failing = kind.state(c) if kind is not None else ("?", False)
        level = c.get("level") or "ok"
        if not failing and level in ("warning", "critical"):
            word = "SLOW" if level == "critical" else "slow"  # a figure past its rule: the alert says which
        label = clean(f"{c['kind']} {c['name']}@{c['vantage']}", limit=30)
        head = f"  {label:<30} {clean(word, limit=10):<9}"
        out.extend(_wrap(head + " ", c.get("reason") or "", 43) if failing else [head.rstrip()])
    firing = [a for a in snap["alerts"] if a["state"] == "firing"]
    if firing:
        out.append("")
        out.append("ALERTS")
        for a in firing:
            sev = "CRIT" if a["severity"] == "critical" else "WARN"
            note = "  (inhibited: its target is down)" if a.get("inhibited") else ""
            note += f"  (suppressed: {a['suppressed_by']})" if a.get("suppressed_by") else ""
            out.extend(_wrap(f"  {sev} {a['tier']:<3} ", (a["summary"] or a["rule"]) + note, 11))
            if a.get("runbook"):
                out.extend(_wrap("           runbook: ", a["runbook"], 20))
    return "\n".join(out) + "\n"
