"""The postmortem draft and the incident sheet, from ``incidents.view``.

``postmortem_markdown(v)``: summary; impact (duration, affected endpoints and
hosts, error budget burned); timeline and what was tried; root cause and
contributing factors left for people to write; action items.
``incident_markdown(v)``: what `opsdash incident show` prints: status, the
checklist, linked and proposed alerts, the timeline.

Every string that came from a host, an endpoint or a person goes through
``handover.md`` (control characters made visible, Markdown escaped); the JSON
goes through ``json_safe``. Nothing here imports Textual or reads a clock.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from ..config import format_duration
from ..textsafe import json_safe
from .handover import md

__all__ = ["incident_markdown", "postmortem_markdown", "to_json"]

TODO = "_To be written._"


def to_json(v: Mapping[str, Any]) -> str:
    return json_safe(json.dumps(v, indent=2, ensure_ascii=False)) + "\n"


def _dur(s: float | None) -> str:
    return "-" if s is None else format_duration(max(0, round(s)))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _timeline_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    if not entries:
        return ["None."]
    return ["| time (UTC) | source | who | what |", "| --- | --- | --- | --- |"] + [
        f"| {e['t']} | {md(e['source'])} | {md(e['who'] or '-')} | {md(e['text'], 1000)} |" for e in entries]


def _budget_lines(budget: Sequence[Mapping[str, Any]], method: str) -> list[str]:
    if not budget:
        return ["- Error budget burned: no affected endpoint has an SLO."]
    out = ["- Error budget burned (of 30 days):"]
    for b in budget:
        bits = []
        if b["availability_slo"] is not None:
            bits.append(f"availability {_pct(b['availability_burned_pct'])} "
                        f"(down {_dur(b['down_s'])} against {b['availability_slo']:g}%)" if b["down_s"] is not None
                        else f"availability: no polls (SLO {b['availability_slo']:g}%)")
        if b["ttfb_p95_slo_ms"] is not None:
            bits.append(f"latency {_pct(b['latency_burned_pct'])} ({b['slow_polls']} of {b['polls']} polls over "
                        f"{b['ttfb_p95_slo_ms']:g} ms)" if b["polls"] else f"latency: no polls (SLO {b['ttfb_p95_slo_ms']:g} ms)")
        out.append(f"  - {md(b['endpoint'])}: " + "; ".join(bits))
    out.append(f"  - method: {md(method, None)}")
    return out


def postmortem_markdown(v: Mapping[str, Any]) -> str:
    imp = v["impact"]
    L = [f"# Postmortem: incident {v['id']}: {md(v['text'])}", "",
         f"_Draft generated from opsdash's incident record. Severity {md(v['severity'])}; "
         f"owner {md(v['owner'] or 'unassigned')}; status {md(v['status'])}._", "",
         "## Summary", "",
         f"{md(v['text'], 2000)}", "",
         f"- Opened {v['opened_at']} by {md(v['opened_by'])}; "
         + (f"resolved {v['resolved_at']} after {_dur(v['duration_s'])}." if v["resolved_at"]
            else f"not resolved ({_dur(v['duration_s'])} so far)."),
         ]
    t = v["targets"]
    if t["resolve_s"] is not None:
        L.append(f"- Targets for {md(v['severity'])}: respond within {_dur(t['respond_s'])}, "
                 f"resolve within {_dur(t['resolve_s'])}.")
    if v["checklist"].get("symptoms"):
        L.append(f"- Symptoms: {md(v['checklist']['symptoms']['text'], 2000)}")
    L += ["", "## Impact", "",
          f"- Duration: {_dur(imp['duration_s'])} ({imp['start']} to {imp['end']}, from the first linked alert's "
          "episode in progress at the open, or the open, to the resolve).",
          "- Affected endpoints: " + (", ".join(md(x) for x in imp["endpoints"]) or "none linked"),
          "- Affected hosts: " + (", ".join(md(x) for x in imp["hosts"]) or "none linked")]
    if imp["other_targets"]:
        L.append("- Other targets: " + ", ".join(md(x) for x in imp["other_targets"]))
    L += _budget_lines(imp["budget"], imp["budget_method"])
    if v["linked"]:
        L += ["", "Linked alerts:", ""]
        for a in v["linked"]:
            if a.get("missing"):
                L.append(f"- {md(a['id'])} (no longer in the store)")
            else:
                L.append(f"- {md(a['rule'])} on {md(a['target'])}: {a['severity']}, {a['state']} since {a['since']}"
                         + (f" ({md(a['summary'])})" if a.get("summary") else ""))
    L += ["", "## Timeline", "", *_timeline_lines(v["timeline"]), "", "## What was tried", ""]
    tried = v["tried"]
    L += [f"- {e['t']} {md(e['who'] or '-')}: {md(e['text'], 2000)}" for e in tried] or ["Nothing recorded."]
    L += ["", "## Root cause", "", TODO, "", "## Contributing factors", "", TODO, "",
          "## Action items", "", "| action | owner | due | ticket |", "| --- | --- | --- | --- |",
          "|  |  |  |  |", "",
          "## What the record does not hold", "",
          *[f"- {md(x, None)}" for x in v.get("unknown_sources", ())], ""]
    return "\n".join(L).rstrip("\n") + "\n"


def incident_markdown(v: Mapping[str, Any]) -> str:
    L = [f"# Incident {v['id']}: {md(v['text'])}", "",
         f"- Severity {md(v['severity'])}, status {md(v['status'])}, tier {md(v['tier'])}, "
         f"owner {md(v['owner'] or 'unassigned')}",
         f"- Opened {v['opened_at']} by {md(v['opened_by'])}"
         + (f"; resolved {v['resolved_at']}" if v["resolved_at"] else f"; open for {_dur(v['duration_s'])}")]
    if v["postmortem_due"]:
        L.append(f"- Postmortem due {v['postmortem_due']}")
    L += ["", "## Checklist (definition of ready)", ""]
    labels = {"symptoms": "Symptoms", "reproduction": "Reproduction", "environment": "Environment",
              "tried": "What was tried"}
    for k, label in labels.items():
        c = v["checklist"].get(k)
        L.append(f"- [{'x' if c else ' '}] {label}: " + (md(c["text"], 2000) if c else "_empty_"))
    L += ["", f"## Linked alerts ({len(v['linked'])})", ""]
    L += [f"- {md(a['id'])} " + (f"{md(a['rule'])} on {md(a['target'])}: {a['severity']}, {a['state']} since {a['since']}"
                                 if not a.get("missing") else "(no longer in the store)") for a in v["linked"]] or ["None."]
    L += ["", f"## Proposed ({len(v['proposals'])})", ""]
    for p in v["proposals"][:15]:
        what = (f"{md(p['alert_id'])} {md(p['rule'])} on {md(p['target'])} ({p['severity']}, {p['state']})"
                if p["alert_id"] else f"target {md(p['target'])} ({p['kind'] or 'unknown'}, no alert)")
        L.append(f"- {what}: " + "; ".join(md(r) for r in p["reasons"]))
    if not v["proposals"]:
        L.append("None.")
    L += ["", "## Timeline", "", *_timeline_lines(v["timeline"])]
    return "\n".join(L).rstrip("\n") + "\n"
