"""MTTA and MTTR from a prepared store equal a hand computation, by severity and tier,
and the alerts that missed T1 (L1: ack within 1 h) and T2 (L2: within 4 h) are listed,
in JSON and Markdown; `opsdash sla` prints them and [sla] targets change them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opsdash.config import parse_config
from opsdash.model import Alert, iso
from opsdash.report.sla import sla_report, to_markdown
from opsdash.store import Store

H, M = 3600.0, 60.0
T = 1764547200.0  # 2025-12-01T00:00:00Z
NOW = T + 2 * 86400.0

# id: (rule, severity, tier, fired at, ack after or None, resolved after or None)
EPISODES = {
    "a1": ("web-5xx", "warning", "L1", T + 1 * H, 30 * M, 2 * H),       # within T1
    "a2": ("db-lag", "warning", "L1", T + 5 * H, 90 * M, 3 * H),        # T1 breached by 30 min
    "a3": ("disk-full", "critical", "L2", T + 8 * H, 5 * H, 6 * H),     # T2 breached by 1 h
    "a4": ("api-down", "critical", "L2", T + 20 * H, 3 * H, 3.5 * H),   # within T2
    "a5": ("cert-soon", "warning", "L1", T + 30 * H, None, 20 * M),     # never acked, resolved quickly: no breach
    "a6": ("queue-deep", "warning", "L1", NOW - 2 * H, None, None),     # never acked, firing 2 h: breach
}


def build(path: Path) -> None:
    with Store(path) as st:
        for aid, (rule, sev, tier, t, ack, res) in EPISODES.items():
            st.upsert_alert(Alert(id=aid, rule=rule, target="web-1", labels={}, severity=sev,
                                  state="firing" if res is None else "resolved", since=t, value=1.0, tier=tier), t)
            st.add_transition(t - 60, aid, rule, "web-1", "ok", "pending", sev, 1.0, "bad")
            st.add_transition(t, aid, rule, "web-1", "pending", "firing", sev, 1.0, "held")
            if ack is not None:
                st.add_ack(aid, who="ana", note="looking", t=t + ack)
            if res is not None:
                st.add_transition(t + res, aid, rule, "web-1", "firing", "resolved", sev, 0.0, "clear")
        # an episode that ended before the period is not counted
        st.add_transition(T - 6 * 86400, "old", "web-5xx", "web-1", "pending", "firing", "warning", 1.0, "")


def hand() -> dict:
    groups: dict[tuple[str, str], dict] = {}
    for aid, (_r, sev, tier, t, ack, res) in EPISODES.items():
        g = groups.setdefault((sev, tier), {"n": 0, "tta": [], "ttr": []})
        g["n"] += 1
        if ack is not None:
            g["tta"].append(ack)
        if res is not None:
            g["ttr"].append(res)
    return {k: {"alerts": g["n"], "mtta_s": sum(g["tta"]) / len(g["tta"]), "mttr_s": sum(g["ttr"]) / len(g["ttr"])}
            for k, g in groups.items()}


def test_mtta_and_mttr_by_severity_and_tier_equal_the_hand_computation(tmp_path: Path) -> None:
    build(tmp_path / "s.sqlite")
    with Store(tmp_path / "s.sqlite", readonly=True) as st:
        report = sla_report(st, parse_config(""), since=7 * 86400.0, now=NOW)
    resp = report["response"]
    assert resp["episodes"] == 6
    got = {(g["severity"], g["tier"]): g for g in resp["groups"]}
    want = hand()
    assert set(got) == set(want) == {("warning", "L1"), ("critical", "L2")}
    for k, w in want.items():
        assert got[k]["alerts"] == w["alerts"]
        assert abs(got[k]["mtta_s"] - w["mtta_s"]) < 1e-6, k   # L1: (30 + 90) / 2 = 60 min; L2: (5 + 3) / 2 = 4 h
        assert abs(got[k]["mttr_s"] - w["mttr_s"]) < 1e-6, k
    assert got[("warning", "L1")]["respond_target_s"] == 1 * H and got[("critical", "L2")]["respond_target_s"] == 4 * H
    assert got[("warning", "L1")]["breaches"] == 2 and got[("critical", "L2")]["breaches"] == 1

    breaches = {b["id"]: b for b in resp["breaches"]}
    assert set(breaches) == {"a2", "a3", "a6"}
    assert breaches["a2"]["tier"] == "L1" and breaches["a2"]["target_s"] == H and breaches["a2"]["over_s"] == 30 * M
    assert breaches["a3"]["tier"] == "L2" and breaches["a3"]["target_s"] == 4 * H and breaches["a3"]["over_s"] == H
    assert breaches["a6"]["acked_at"] is None and breaches["a6"]["over_s"] == H
    assert "still firing" in breaches["a6"]["why"]

    md = to_markdown(report)
    rows = [ln for ln in md.split("## Breaches", 1)[1].splitlines() if ln.startswith("| 20")]
    assert len(rows) == 3
    assert any("db-lag" in r and iso(T + 5 * H) in r and "respond < 1h" in r and "acked after 1h30m" in r for r in rows)
    assert any("disk-full" in r and "respond < 4h" in r and "acked after 5h" in r and "| 1h |" in r for r in rows)
    assert any("queue-deep" in r and "not acked in 2h" in r for r in rows)
    assert "| warning | L1 | 4 | 2 | 1h | 1h |" in md
    assert "| critical | L2 | 2 | 2 | 4h | 4h |" in md


def test_configured_targets_change_the_breaches_and_the_command_prints_them(tmp_path: Path) -> None:
    build(tmp_path / "s.sqlite")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[sla]\ntargets = { L1 = "2h", L2 = "6h" }\nresolve_targets = { L2 = "4h" }\n')
    with Store(tmp_path / "s.sqlite", readonly=True) as st:
        resp = sla_report(st, parse_config(cfg.read_text()), since=7 * 86400.0, now=NOW)["response"]
    # a2 (acked at 90 min) and a3 (at 5 h) are in time now; a6 has waited exactly 2 h: not over; a3 resolved after 6 h > 4 h
    assert [(b["id"], b["kind"]) for b in resp["breaches"]] == [("a3", "resolve")]

    # The command's clock is the wall clock: look back far enough to reach the prepared days.
    r = subprocess.run([sys.executable, "-m", "opsdash", "sla", "--since", "3650d", "--format", "json",
                        "--config", str(cfg), "--store", str(tmp_path / "s.sqlite")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["response"]
    assert out["respond_targets_s"] == {"L1": 2 * H, "L2": 6 * H, "L3": 8 * H}
    assert out["episodes"] == 7  # the six, and the one that fired six days before them
    assert ("a3", "resolve") in [(b["id"], b["kind"]) for b in out["breaches"]]
