"""opsdash tune from the command line: too little history proposes nothing (exit 0, the config
untouched by --write); --incidents is validated line by line and recall is measured against
it; --format json carries the per-rule judgement (pages per shift, precision, recall, time
firing outside incidents, latching)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from opsdash.cli import main
from opsdash.model import Sample
from opsdash.store import Store

T0 = 1_795_860_000.0
CONFIG = (
    "# hand-tuned: --write must leave this file alone when it has nothing to go on\n"
    "[opsdash]\nretention = \"14d\"\n\n"
    "[[rules]]\nname = \"cpu-hot\"\nmetric = \"host.cpu_percent\"\nwarn = 85\ncrit = 95\nfor = \"1m\"\n"
)


def test_five_minutes_of_history_proposes_nothing_and_writes_nothing(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    db = tmp_path / "s.sqlite"
    with Store(db) as s:  # 5 minutes at 15 s, spiking past the threshold: tempting to "tune"
        s.write_samples(Sample(T0 + i * 15.0, "web-1", "host.cpu_percent", 97.0 if i % 4 == 0 else 50.0)
                        for i in range(21))
    before = cfg.read_bytes()
    cmd = [sys.executable, "-m", "opsdash", "tune", "--config", str(cfg), "--store", str(db),
           "--since", "3650d", "--write"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "too little history" in r.stdout and "5m of samples" in r.stdout
    assert "nothing written" in r.stdout and "-> proposed:" not in r.stdout
    assert cfg.read_bytes() == before
    assert not (tmp_path / "config.toml.bak").exists()
    r = subprocess.run([*cmd[:-1], "--format", "json"], capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    assert {r["rule"] for r in out["rules"]} >= {"cpu-hot", "cpu"}  # the built-in cpu rule too
    for rule in out["rules"]:
        assert rule["proposal"] is None and rule["too_little_history"] and rule["changed"] is False
    assert "too little history" in out["note"] and out["written"] == []


def _day(tmp_path):
    """A day at 30 s: short spikes past 85 every ~40 minutes, and at 10:00 a 6-minute stretch
    at 97%: too short for tune's own definition (10 minutes), but a person marked it."""
    rng = random.Random(4)
    rows = []
    for i in range(2880):
        v = 45 + rng.gauss(0, 3)
        if i % 80 in (7, 8, 9):  # 90 s
            v = 92.0
        if 1200 <= i < 1212:
            v = 97.0
        rows.append({"t": T0 + i * 30.0, "target": "web-1", "metric": "host.cpu_percent", "value": round(v, 2)})
    samples = tmp_path / "day.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    return samples, cfg


def test_marked_incidents_set_the_recall_and_the_json_has_the_whole_judgement(tmp_path, capsys):
    samples, cfg = _day(tmp_path)
    args = ["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "cpu-hot", "--format", "json"]
    assert main(args) == 0
    own = json.loads(capsys.readouterr().out)["rules"][0]
    assert own["incidents"] == []  # 6 minutes is not a sustained condition by tune's definition

    inc = tmp_path / "incidents.json"
    inc.write_text(json.dumps([{"target": "web-1", "start": "2026-11-28T20:00:00Z", "end": T0 + 1211 * 30.0}]))
    assert main([*args, "--incidents", str(inc)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["known_incidents"] == 1 and "incidents.json" in out["incident_definition"]
    assert out["storm_window_s"] == 30.0 and out["shift_s"] == 43200.0
    (r,) = out["rules"]
    assert [i["start"] for i in r["incidents"]] == [T0 + 1200 * 30.0]
    cur, new = r["current"], r["proposal"]
    for key in ("pages", "notifications", "pages_per_shift", "precision", "recall", "max_detection_delay_s",
                "firing_outside_incidents_s", "firing_outside_incidents_percent", "flap_episodes",
                "resolves_between_incidents", "clear_on_normal_side_of_baseline", "latches"):
        assert key in cur and key in new, key
    assert cur["pages"] > 30 and cur["pages_per_shift"] > 2 and cur["precision"] < 0.1
    assert new["recall"] == 1.0 and new["max_detection_delay_s"] <= 300
    assert new["pages"] <= 0.3 * cur["pages"] and new["precision"] > cur["precision"]
    assert new["latches"] is False and new["flap_episodes"] <= cur["flap_episodes"]

    # the text table shows the same judgement
    assert main([*args[:-2], "--incidents", str(inc)]) == 0
    text = capsys.readouterr().out
    for row in ("pages per 12h shift", "precision", "recall (incidents caught)", "firing outside incidents",
                "flap episodes", "resolves between incidents", "clear vs baseline"):
        assert row in text, row
    assert "incident = one of the 1 marked in" in text


def test_a_bad_incidents_file_gets_one_line_per_problem(tmp_path, capsys):
    samples, cfg = _day(tmp_path)
    inc = tmp_path / "inc.json"
    inc.write_text(json.dumps([
        {"target": "web-1", "start": "2026-11-28T20:00:00Z", "end": "2026-11-28T20:06:00Z"},  # fine
        {"target": "web-1", "start": "yesterday", "end": 1795900000},
        {"target": "", "start": 1795900000, "end": 1795800000},
        {"host": "web-1", "start": "2026-11-28T20:00:00", "end": 1795900000},
        "web-1",
    ]))
    rc = main(["tune", "--config", str(cfg), "--samples", str(samples), "--incidents", str(inc)])
    assert rc == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f'opsdash: {inc}: [1].start: expected an ISO-8601 time like "2026-03-01T14:05:00Z" or epoch seconds, got "yesterday"',
        f"opsdash: {inc}: [2].target: expected a non-empty string, got \"\"",
        f"opsdash: {inc}: [2]: end 1795800000 is not after start 1795900000",
        f'opsdash: {inc}: [3]: unknown key "host" (known: target, start, end, rule)',
        f'opsdash: {inc}: [3]: missing "target"',
        f'opsdash: {inc}: [3].start: "2026-11-28T20:00:00" has no UTC offset: add Z or one like +01:00',
        f'opsdash: {inc}: [4]: expected an object {{"target", "start", "end"}}, got "web-1"',
    ]
    inc.write_text("{not json")
    assert main(["tune", "--config", str(cfg), "--samples", str(samples), "--incidents", str(inc)]) == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"opsdash: {inc}: not valid JSON:")
