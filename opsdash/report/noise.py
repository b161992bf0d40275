"""`opsdash noise`: the Noise screen's table (report/handover.py ``noise_table``, the one
computation both use) with pages per shift and totals, as JSON and Markdown.

Per rule over the period: pages, pages per day, pages per shift (pages over the
number of shifts in the period), alerts, flap episodes, flap % (share of the rule's
alerts that flapped), acked and unacked pages, median time from page to ack.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..config import format_duration
from ..model import iso
from ..store import Store
from ..textsafe import json_safe
from .handover import md, noise_table, plural

__all__ = ["noise_report", "to_json", "to_markdown"]

LEGEND = ("A page is a firing transition not inhibited, silenced or flapping (and an escalation to "
          "critical). Flap %: share of the rule's alerts that flapped. Ack p50: median time from page to ack.")


def noise_report(store: Store, now: float, *, since: float = 7 * 86400.0, shift: float = 8 * 3600.0) -> dict[str, Any]:
    days = since / 86400.0
    shifts = since / shift
    rows = noise_table(store, now, days=days)
    for r in rows:
        r["pages_per_shift"] = round(r["pages"] / shifts, 2)
    pages = sum(r["pages"] for r in rows)
    return {
        "generated_at": iso(now), "since": iso(now - since), "until": iso(now), "window_s": since, "shift_s": shift,
        "totals": {"rules": len(rows), "pages": pages, "pages_per_day": round(pages / days, 2),
                   "pages_per_shift": round(pages / shifts, 2), "unacked": sum(r["unacked"] for r in rows)},
        "rules": rows,
    }


def to_json(report: Mapping[str, Any]) -> str:
    return json_safe(json.dumps(report, indent=2, ensure_ascii=False)) + "\n"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def to_markdown(r: Mapping[str, Any]) -> str:
    t = r["totals"]
    shift = format_duration(r["shift_s"])
    L = [f"# Noise {r['since']} → {r['until']}", "",
         f"{plural(t['rules'], 'rule')}, {plural(t['pages'], 'page')}: {t['pages_per_day']:g} a day, {t['pages_per_shift']:g} per "
         f"{shift} shift; {t['unacked']} never acked.", ""]
    if r["rules"]:
        L += [_row("rule", "pages", "/day", f"/shift ({shift})", "alerts", "flaps", "flap %", "acked", "unacked",
                   "ack p50"), _row(*["---"] * 10)]
        for x in r["rules"]:
            ack = format_duration(round(x["median_ack_s"])) if x["median_ack_s"] is not None else "-"
            L.append(_row(md(x["rule"]), x["pages"], f"{x['pages_per_day']:g}", f"{x['pages_per_shift']:g}",
                          x["alerts"], x["flap_episodes"], f"{x['flap_percent']:g}%", x["acked"], x["unacked"], ack))
    else:
        L.append("No alert transitions in the period.")
    L += ["", LEGEND]
    return "\n".join(L) + "\n"
