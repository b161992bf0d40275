"""Incidents from a plain-words report to a postmortem, on a store prepared with the real Store API
and alert engine: proposals, the timeline's order, the checklist gate on escalation, postmortem
drafts (escaped, 0600) and the handover's postmortems due/late on a fake clock."""

from __future__ import annotations

import json
import os
import stat

import pytest

from opsdash import incidents as I
from opsdash.alerts import AlertEngine, Rule, alert_id, queue
from opsdash.cli import main
from opsdash.config import load_config, parse_config
from opsdash.errors import ConfigError
from opsdash.model import Alert, Sample, iso
from opsdash.report.handover import handover, to_markdown
from opsdash.report.postmortem import postmortem_markdown
from opsdash.store import Store

T0 = 1_795_900_000.0
OPEN = T0 + 420  # the report comes in 7 minutes into the slowdown
EVIL = "rm | *bold* [x](http://evil) \x1b[2J\x07"

CONFIG = """
[[hosts]]
name = "web-1"
tags = { role = "web", region = "eu-west" }

[[hosts]]
name = "db-2"
tags = { role = "db", region = "eu-west" }

[[endpoints]]
name = "checkout"
url = "http://127.0.0.1:9/checkout"
interval = "5s"
slo = { availability = 99.9, ttfb_p95_ms = 400 }

[[endpoints]]
name = "shop-home"
url = "http://127.0.0.1:9/shop-home"

[[rules]]
name = "ttfb-p95"
metric = "endpoint.ttfb_p95_ms"
warn = 400
crit = 800
clear = 300
for = "1m"

[[rules]]
name = "disk"
metric = "host.disk_percent"
warn = 85
crit = 95
for = "1m"
"""
RULES = [Rule(name="ttfb-p95", metric="endpoint.ttfb_p95_ms", warn=400, crit=800, clear=300, for_s=60),
         Rule(name="disk", metric="host.disk_percent", warn=85, crit=95, for_s=60)]
CHECKOUT = alert_id("ttfb-p95", "checkout")
DISK_OLD = alert_id("disk", "db-2", {"mount": "/"})


def checkout_ms(t: float) -> float:
    """The demo story's checkout slowdown: 150 ms creeping to 650 ms from T0+60 to T0+480,
    back to 160 ms by T0+700."""
    s = t - T0
    if s < 60:
        return 150.0
    if s < 480:
        return 150 + 500 * (s - 60) / 420
    if s < 640:
        return 650.0
    if s < 700:
        return 650 - 490 * (s - 640) / 60
    return 160.0


@pytest.fixture
def env(tmp_path):
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(CONFIG)
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        eng = AlertEngine(RULES, store=s)
        # db-2's disk filled and was cleaned two hours before: not this incident
        eng.observe([Sample(T0 - 7200, "db-2", "host.disk_percent", 90.0, {"mount": "/"})])
        eng.observe([Sample(T0 - 7100, "db-2", "host.disk_percent", 90.0, {"mount": "/"})])
        eng.observe([Sample(T0 - 6000, "db-2", "host.disk_percent", 60.0, {"mount": "/"})])
        eng.flush()
        for k in range(0, 800, 5):
            t = T0 + k
            ms = checkout_ms(t)
            eng.observe([Sample(t, "checkout", "endpoint.ttfb_p95_ms", ms)])
            s.write_samples([Sample(t, "checkout", "endpoint.ttfb_ms", ms),
                             Sample(t, "checkout", "endpoint.up", 0.0 if k in (400, 405) else 1.0)])
            eng.flush()
    return path, cfg_path


def test_words_match_names_parts_and_urls():
    targets = {"checkout": I.Target("checkout", "endpoint", "https://shop.example.com/cart/pay"),
               "db-2": I.Target("db-2", "host", tags={"role": "db"}),
               "web-1": I.Target("web-1", "host", tags={"region": "eu-west"})}
    out = I.propose("Customers can't PAY in the cart; eu-west only", T0, [], [], targets)
    assert [p.target for p in out] == ["checkout", "web-1"]
    assert out[0].reasons == ("words: cart, pay",)
    assert out[1].reasons == ("tags: region=eu-west",)
    # a name said whole scores above a part of a URL; "the", "https", "com" never match
    assert I.propose("db-2 is full", T0, [], [], targets)[0].target == "db-2"
    assert I.propose("the https com page", T0, [], [], targets) == []


def test_proposals_rank_by_words_symptom_and_time():
    targets = {"checkout": I.Target("checkout", "endpoint"), "db-2": I.Target("db-2", "host")}
    slow = Alert("a1", "ttfb-p95", "checkout", "warning", "firing", T0 - 100, 500.0)
    disk = Alert("a2", "disk", "db-2", "warning", "firing", T0 - 600, 90.0)
    old = Alert("a3", "disk", "db-2", "warning", "resolved", T0 - 9000, 60.0)
    out = I.propose("checkout is slow", T0, [slow, disk, old], [], targets,
                    rule_metrics={"ttfb-p95": "endpoint.ttfb_p95_ms", "disk": "host.disk_percent"})
    assert [p.alert_id for p in out] == ["a1", "a2"]  # the old, resolved one has no reason at all
    assert out[0].reasons == ("words: checkout", "symptom: endpoint.ttfb_p95_ms", "time: firing at the open")
    assert out[1].reasons == ("time: firing at the open",)
    assert I.propose("checkout is slow", T0, [slow], [], targets, exclude=["a1"])[0].alert_id is None


def test_checkout_incident_timeline_in_order_and_postmortem(env, tmp_path, capsys):
    path, cfg_path = env
    cfg = load_config(cfg_path)
    with Store(path) as s:
        inc = I.open_incident(s, "Customers say checkout is slow", who="ann", now=OPEN, severity="P1", owner="ann")
        v = I.view(s, inc.id, cfg, OPEN)
        first = v["proposals"][0]
        assert first["alert_id"] == CHECKOUT
        assert "words: checkout" in first["reasons"] and "symptom: endpoint.ttfb_p95_ms" in first["reasons"]
        assert DISK_OLD not in [p["alert_id"] for p in v["proposals"]]
        I.link(s, inc.id, CHECKOUT[:6], who="ann", now=OPEN + 10)
        queue.ack(s, CHECKOUT, note="looking at the payment backend", who="ann", now=OPEN + 20)
        I.set_status(s, inc.id, "identified", who="ann", now=OPEN + 60, note="slow queries after the deploy")
        I.add_note(s, inc.id, "rolled back the deploy " + EVIL, who="bob", now=OPEN + 90)
        s.add_config_write("tune", str(cfg_path), ["rules[ttfb-p95].for: 1m -> 2m"], who="bob", t=OPEN + 120)
        I.set_status(s, inc.id, "monitoring", who="ann", now=OPEN + 150)
        I.set_status(s, inc.id, "resolved", who="ann", now=T0 + 760, note="p95 back under 200 ms")
        v = I.view(s, inc.id, cfg, T0 + 800)

    tl = [(e["source"], e["text"]) for e in v["timeline"]]
    wanted = [
        ("alert", "ttfb-p95 on checkout: ok → pending"),
        ("alert", "ttfb-p95 on checkout: pending → firing"),
        ("incident", "opened (P1, owner ann): Customers say checkout is slow"),
        ("incident", f"linked alert {CHECKOUT}"),
        ("ack", "acked ttfb-p95 on checkout: looking at the payment backend"),
        ("incident", "status investigating → identified: slow queries after the deploy"),
        ("incident", "note: rolled back the deploy"),
        ("tune", "tune --write"),
        ("incident", "status identified → monitoring"),
        ("alert", "ttfb-p95 on checkout: firing → resolved"),
        ("incident", "status monitoring → resolved"),
    ]
    pos = []
    for src, prefix in wanted:
        hits = [i for i, (s_, t_) in enumerate(tl) if s_ == src and t_.startswith(prefix)]
        assert hits, (src, prefix, tl)
        pos.append(hits[0])
    assert pos == sorted(pos), tl
    times = [e["t"] for e in v["timeline"]]
    assert times == sorted(times)
    # the ack's note is the ack's, not a second "note" entry
    assert not any(e["source"] == "note" for e in v["timeline"])

    assert v["impact"]["endpoints"] == ["checkout"] and v["impact"]["hosts"] == []
    (b,) = v["impact"]["budget"]
    # the impact runs from the alert's pending (its episode) to the resolve; two failed polls in
    # it: the failed share of its polls x its length, over 0.1% of 30 days
    start = T0 + min(k for k in range(0, 800, 5) if checkout_ms(T0 + k) > 400)
    polls = sum(1 for k in range(0, 800, 5) if start <= T0 + k <= T0 + 760)
    assert v["impact"]["start"] == iso(start) and v["impact"]["duration_s"] == 760 - (start - T0)
    assert b["down_s"] == pytest.approx(2 / polls * v["impact"]["duration_s"])
    assert b["availability_burned_pct"] == pytest.approx(100 * b["down_s"] / (0.001 * 30 * 86400))
    assert b["slow_polls"] > 0 and b["latency_burned_pct"] > 0

    md = postmortem_markdown(v)
    for heading in ("## Summary", "## Impact", "## Timeline", "## What was tried", "## Root cause",
                    "## Contributing factors", "## Action items"):
        assert heading in md
    assert "- Affected endpoints: checkout" in md
    assert "Error budget burned (of 30 days):" in md
    assert "\x1b" not in md and "\x07" not in md
    assert "rm \\| \\*bold\\* \\[x\\](http://evil)" in md  # escaped, a table cell stays one cell

    # the CLI renders the same incident: show (md and json), postmortem to a 0600 file
    assert main(["incident", "show", str(inc.id), "--store", str(path), "--config", str(cfg_path),
                 "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "resolved" and [a["id"] for a in shown["linked"]] == [CHECKOUT]
    out = tmp_path / "pm.md"
    assert main(["postmortem", f"INC-{inc.id}", "--out", str(out), "--store", str(path),
                 "--config", str(cfg_path)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text().startswith(f"# Postmortem: incident {inc.id}: Customers say checkout is slow\n")


def test_escalating_with_an_empty_checklist_item_names_it(env, capsys):
    path, cfg_path = env
    args = ["--store", str(path), "--config", str(cfg_path)]
    assert main(["incident", "open", "checkout is slow", "--severity", "P2", *args]) == 0
    iid = capsys.readouterr().out.strip()
    assert iid.isdigit()
    assert main(["incident", "checklist", iid, "symptoms", "p95 650 ms on /checkout", *args]) == 0
    assert main(["incident", "checklist", iid, "env", "eu-west, web tier", *args]) == 0
    capsys.readouterr()
    assert main(["incident", "escalate", iid, *args]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '"reproduction"' in err[0] and f"incident checklist {iid} reproduction" in err[0]
    assert main(["incident", "checklist", iid, "reproduction", "curl -w %{time_starttransfer}", *args]) == 0
    assert main(["incident", "escalate", iid, *args]) == 3
    assert '"tried"' in capsys.readouterr().err
    assert main(["incident", "checklist", iid, "tried", "restarted php-fpm", *args]) == 0
    assert main(["incident", "escalate", iid, *args]) == 0
    assert "escalated L1 -> L2" in capsys.readouterr().out
    # mistakes are one line and exit 3
    for bad in (["incident", "status", iid, "fixed"], ["incident", "show", "99"],
                ["incident", "checklist", iid, "mood", "x"], ["incident", "link", iid, "nosuchalert"],
                ["incident", "open", "x", "--severity", "P9"]):
        assert main([*bad, *args]) == 3, bad
        assert len(capsys.readouterr().err.strip().splitlines()) == 1, bad


def test_handover_lists_a_p1_postmortem_due_then_late(env):
    path, cfg_path = env
    cfg = load_config(cfg_path)
    resolved = T0 + 3600
    with Store(path) as s:
        p1 = I.open_incident(s, "checkout down " + EVIL, who="ann", now=T0, severity="P1")
        p3 = I.open_incident(s, "a typo on the FAQ", who="ann", now=T0, severity="P3")
        for inc in (p1, p3):
            I.set_status(s, inc.id, "resolved", who="ann", now=resolved)
        due = handover(s, cfg, now=resolved + 3600)
        late = handover(s, cfg, now=resolved + 49 * 3600)
        assert main(["postmortem", str(p1.id), "--done", "--store", str(path), "--config", str(cfg_path)]) == 0
        done = handover(s, cfg, now=resolved + 49 * 3600)
    (d,) = due["postmortems_due"]
    assert d["id"] == p1.id and d["state"] == "due" and d["due_in_s"] == pytest.approx(47 * 3600)
    text = to_markdown(due)
    assert "## Postmortems due or late (1)" in text and "due 2026" in text and "(in 1d23h)" in text
    assert "\x1b" not in text and "1 postmortem due" in due["summary"]
    (x,) = late["postmortems_due"]
    assert x["state"] == "late"
    assert "**late** by 1h" in to_markdown(late) and "(1 late)" in late["summary"]
    assert done["postmortems_due"] == []


def test_severities_from_the_config():
    cfg = parse_config('[[severities]]\nname = "SEV1"\nrespond = "5m"\nresolve = "1h"\npostmortem = "24h"\n\n'
                       '[[severities]]\nname = "SEV2"\nrespond = "30m"\nresolve = "8h"\n')
    assert [(s.name, s.respond_s, s.resolve_s, s.postmortem_s) for s in cfg.severities] == [
        ("SEV1", 300.0, 3600.0, 86400.0), ("SEV2", 1800.0, 28800.0, None)]
    default = parse_config("")
    assert [s.name for s in default.severities] == ["P1", "P2", "P3", "P4"]
    assert default.severities[0].respond_s == 900 and default.severities[0].resolve_s == 4 * 3600
    with pytest.raises(ConfigError) as e:
        parse_config('[[severities]]\nname = "SEV1"\nrespond = "5h"\nresolve = "1h"\n')
    assert [str(p) for p in e.value.problems] == ["config.toml:3: severities[0].respond: expected at most resolve (1h), got 5h"]
