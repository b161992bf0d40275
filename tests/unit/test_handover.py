"""opsdash handover and note: every section from a prepared store; Markdown escapes remote text;
the Noise table."""

from __future__ import annotations

import json

import pytest

from opsdash.alerts import AlertEngine, Rule, alert_id, queue
from opsdash.cli import main
from opsdash.config import load_config
from opsdash.model import Sample
from opsdash.report.handover import handover, md, noise_table, to_markdown
from opsdash.store import Store

NOW = 1_795_900_000.0
START = NOW - 8 * 3600
EVIL = "rm | *bold* _it_ `x` [link](http://evil) <b>\x1b[2J\x07"
RULES = [
    Rule(name="cpu", metric="host.cpu_percent", warn=90, crit=98, runbook="https://wiki/cpu"),
    Rule(name="disk", metric="host.disk_percent", warn=85, crit=95),
    Rule(name="mem", metric="host.mem_percent", warn=90),
]
CPU = alert_id("cpu", "web-1")
DISK = alert_id("disk", "web-2", {"mount": "/"})
MEM = alert_id("mem", "db-1")


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[hosts]]\nname = "web-1"\nprobes = ["health"]\n\n'
        '[[endpoints]]\nname = "shop"\nurl = "https://shop.example.com/"\nslo = { availability = 99.9, ttfb_p95_ms = 400 }\n\n'
        '[[endpoints]]\nname = "fast"\nurl = "https://fast.example.com/"\nslo = { ttfb_p95_ms = 400 }\n'
    )
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        eng = AlertEngine(RULES, store=s)
        # web-1 cpu: firing (critical), acked with a hostile note; db-1 mem: firing, silenced
        eng.observe([Sample(START + 600, "web-1", "host.cpu_percent", 99.0),
                     Sample(START + 600, "db-1", "host.mem_percent", 93.0)])
        # web-2 disk: fired and resolved during the shift (45 minutes)
        eng.observe([Sample(START + 1200, "web-2", "host.disk_percent", 90.0, {"mount": "/"})])
        eng.observe([Sample(START + 1200 + 2700, "web-2", "host.disk_percent", 70.0, {"mount": "/"})])
        queue.ack(s, CPU, note=EVIL, who="ann", now=START + 700)
        queue.silence(s, {"target": "db-1"}, 6 * 3600, note="planned maintenance", who="bob", now=NOW - 3600)
        queue.silence(s, {"target": "web-9"}, 3 * 86400, note="far away", who="bob", now=NOW - 3600)
        s.add_note("db-1 failover at 03:00, " + EVIL, who="ann", target="db-1", t=NOW - 600)
        s.put_latest("patches", "web-1", "", NOW - 300, {"patches": {
            "manager": "apt", "pending": 5, "security": 2, "reboot_required": True, "reboot_reason": "kernel " + EVIL,
            "packages": [{"name": "openssl", "security": True}, {"name": "libc|6*", "security": True}]}})
        s.put_latest("patches", "web-2", "", NOW - 300, {"patches": {
            "manager": "apt", "pending": 1, "security": 0, "reboot_required": False, "packages": []}})
        s.put_latest("backup", "backup-1", "db-dump", NOW - 120, {
            "name": "db-dump", "kind": "restic", "age_s": 3600, "max_age": 93600,
            "restore_test": {"ok": False, "at": "2026-11-28T10:00:00Z", "detail": "checksum mismatch " + EVIL}})
        s.put_latest("backup", "backup-2", "etc", NOW - 120, {
            "name": "etc", "kind": "restic", "age_s": 200000, "max_age": 93600,
            "restore_test": {"ok": True, "at": "2026-11-28T10:00:00Z", "detail": ""}})
        s.put_latest("backup", "backup-3", "ok", NOW - 120, {
            "name": "ok", "kind": "restic", "age_s": 60, "max_age": 93600, "restore_test": None})
        samples = []
        for i in range(200):
            t = START + 60 * i
            samples.append(Sample(t, "shop", "endpoint.ttfb_ms", 300.0 if i % 10 else 900.0, {"vantage": "local"}))
            samples.append(Sample(t, "shop", "endpoint.up", 0.0 if i % 40 == 0 else 1.0, {"vantage": "local"}))
            samples.append(Sample(t, "fast", "endpoint.ttfb_ms", 80.0, {"vantage": "local"}))
            samples.append(Sample(t, "fast", "endpoint.up", 1.0, {"vantage": "local"}))
        s.write_samples(samples)
    return cfg, path


def test_every_section(env):
    cfg, path = env
    with Store(path) as s:
        r = handover(s, load_config(cfg), since=8 * 3600, now=NOW)
    assert [(a["rule"], a["target"], a["severity"]) for a in r["open_alerts"]] == [
        ("cpu", "web-1", "critical"), ("mem", "db-1", "warning")]
    cpu, mem = r["open_alerts"]
    assert cpu["ack"]["who"] == "ann" and cpu["ack"]["note"] == EVIL and cpu["value"] == 99.0
    assert mem["silence"]["who"] == "bob" and mem["silence"]["ends_in_s"] == pytest.approx(5 * 3600)
    (res,) = r["resolved_alerts"]
    assert (res["rule"], res["target"], res["duration_s"]) == ("disk", "web-2", 2700)
    assert [x["note"] for x in r["silences_expiring"]] == ["planned maintenance"]
    (p,) = r["patches"]
    assert p["host"] == "web-1" and p["security"] == 2 and p["reboot_required"]
    assert {(b["host"], tuple(b["problems"])) for b in r["backups"]} == {
        ("backup-1", ("restore test failed",)), ("backup-2", ("stale",))}
    (e,) = r["slo_breaches"]
    assert e["endpoint"] == "shop" and set(e["breached"]) == {"latency", "availability"} and e["p95_ms"] > 400
    assert [a["who"] for a in r["acks"]] == ["ann"]
    assert [n["target"] for n in r["notes"]] == ["db-1"]
    assert "2 alerts fired" not in r["summary"] and "3 alerts fired (1 critical), 1 resolved" in r["summary"]
    assert "2 still open" in r["summary"] and "1 failed restore test" in r["summary"]


def test_markdown_escapes_remote_text(env):
    cfg, path = env
    with Store(path) as s:
        text = to_markdown(handover(s, load_config(cfg), since=8 * 3600, now=NOW))
    assert "\x1b" not in text and "\x07" not in text
    escaped = md(EVIL)
    assert escaped == r"rm \| \*bold\* \_it\_ \`x\` \[link\](http://evil) \<b\>\\e\[2J\\a"
    assert escaped in text
    for raw in ("*bold*", "[link](", "<b>", "| *bold"):
        assert raw not in text
    for heading in ("## Open alerts (2)", "## Fired and resolved during the shift (1)",
                    "## Silences ending in the next 12 hours (1)", "## Patches: security updates or reboot pending (1)",
                    "## Backups: stale or restore test failed (2)", "## Endpoints that breached their SLO (1)",
                    "## Notes for the next shift (1)"):
        assert heading in text
    assert "libc\\|6\\*" in text and "45m" in text
    # every table row has the same number of cells as its header (no stray pipes)
    for line in text.splitlines():
        if line.startswith("| CRITICAL") or line.startswith("| WARNING"):
            assert line.count(" | ") == 7


def test_cli_handover_json_and_out_file_and_note(env, tmp_path, monkeypatch, capsys):
    cfg, path = env
    monkeypatch.setenv("USER", "carol")
    assert main(["note", "watch the replica lag", "--target", "db-2", "--config", str(cfg), "--store", str(path)]) == 0
    assert main(["note", "   ", "--config", str(cfg), "--store", str(path)]) == 1
    capsys.readouterr()
    assert main(["handover", "--since", "8h", "--format", "json", "--config", str(cfg), "--store", str(path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"summary", "open_alerts", "resolved_alerts", "silences_expiring", "patches", "backups",
            "slo_breaches", "acks", "notes"} <= set(r)
    assert ("carol", "db-2", "watch the replica lag") in {(n["who"], n["target"], n["text"]) for n in r["notes"]}
    out = tmp_path / "handover.md"
    assert main(["handover", "--out", str(out), "--config", str(cfg), "--store", str(path)]) == 0
    assert out.read_text().startswith("# Shift handover")


def test_noise_table_worst_first(env):
    cfg, path = env
    with Store(path) as s:
        queue.ack(s, MEM, who="bob", now=START + 900)
        rows = noise_table(s, NOW, days=7)
    by = {r["rule"]: r for r in rows}
    assert set(by) == {"cpu", "disk", "mem"}
    assert by["cpu"]["pages"] == 1 and by["cpu"]["median_ack_s"] == 100
    # mem fired at START+600 while the db-1 silence did not exist yet: a page, acked 300 s later
    assert by["mem"]["pages"] == 1 and by["mem"]["median_ack_s"] == 300
    assert by["disk"]["unacked"] == 1 and by["disk"]["median_ack_s"] is None
    assert all(k in rows[0] for k in ("pages_per_day", "flap_percent", "median_ack_s", "alerts"))
    assert rows == sorted(rows, key=lambda r: (-r["pages_per_day"], -r["flap_percent"], -(r["median_ack_s"] or 0), r["rule"]))
