"""`opsdash replay`: recorded samples through the rules, on recorded time."""

from __future__ import annotations

import io
import json
import time

import pytest

from opsdash.alerts import Rule
from opsdash.alerts.replay import ReplayError, iter_jsonl, replay, replay_file
from opsdash.cli import main

T0 = 1_795_860_000.0  # 10:00 UTC
M = "endpoint.ttfb_p95_ms"

CONFIG = """
[[rules]]
name = "naive"
metric = "endpoint.ttfb_p95_ms"
warn = 400

[[rules]]
name = "tuned"
metric = "endpoint.ttfb_p95_ms"
warn = 400
clear = 300
for = "2m"
flap = { low = 20, high = 30 }
"""


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def oscillating_hour() -> list[dict]:
    """p95 every 15 s for an hour: 430/290 around the threshold, and one real 10-minute breach."""
    out = []
    for i in range(240):
        t = T0 + 15 * i
        if 100 <= i < 140:  # 10:25 .. 10:35
            v = 520.0
        else:
            v = 430.0 if i % 2 == 0 else 290.0
        out.append({"t": t, "target": "shop", "metric": M, "value": v, "labels": {"vantage": "local"}})
    return out


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_cli(tmp_path, capsys, *argv, config=CONFIG):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config)
    rc = main(["replay", *argv, "--config", str(cfg), "--store", str(tmp_path / "unused.sqlite")])
    return rc, capsys.readouterr()


def test_oscillation_naive_fires_dozens_tuned_fires_once_and_reports_flapping(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "s.jsonl", oscillating_hour())
    rc, cap = run_cli(tmp_path, capsys, str(samples), "--format", "json", "--rule", "naive", "--rule", "tuned")
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert set(doc) == {"transitions", "alerts_fired"}
    tr = doc["transitions"]
    for e in tr:
        assert {"t", "rule", "target", "from", "to", "severity", "value", "reason"} <= set(e)
    fired = lambda rule: [e for e in tr if e["rule"] == rule and e["to"] == "firing" and e["from"] not in ("firing", "flapping")]
    naive, tuned = fired("naive"), fired("tuned")
    assert len(naive) >= 24, len(naive)  # dozens
    assert len(tuned) == 1
    # ... for the real breach: it starts at 10:25:00 and `for` is 2m
    assert tuned[0]["t"] == T0 + 15 * 108
    assert tuned[0]["reason"] == "firing since 10:27: p95 520 ms > 400 ms for 2m"
    assert doc["alerts_fired"] == len(naive) + 1
    flaps = [e for e in tr if e["rule"] == "tuned" and e["to"] == "flapping"]
    assert len(flaps) == 2  # the oscillation before the breach and after it
    assert flaps[0]["t"] < T0 + 15 * 100 < T0 + 15 * 140 < flaps[1]["t"]
    assert all("state change" in e["reason"] for e in flaps)
    # pages: not while flapping; once when the breach settled the flapping
    pages = [e for e in tr if e["rule"] == "tuned" and e["notify"]]
    assert len(pages) == 1 and pages[0]["from"] == "flapping" and pages[0]["to"] == "firing"
    resolved = [e for e in tr if e["rule"] == "tuned" and e["to"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["t"] == T0 + 15 * 141  # 140 is 430 (> clear): still firing
    # no ok<->pending churn reported while flapping
    churn = [e for e in tr if e["rule"] == "tuned" and {e["from"], e["to"]} == {"ok", "pending"}]
    assert len(churn) < 15


def test_text_output_has_a_line_per_transition_and_a_summary(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "s.jsonl", oscillating_hour())
    rc, cap = run_cli(tmp_path, capsys, str(samples), "--rule", "tuned")
    assert rc == 0
    lines = cap.out.splitlines()
    assert any("pending -> firing" in ln and "firing since 10:27" in ln for ln in lines)
    assert lines[-1].startswith("240 samples, 1 series, 2026-11-28T10:00:00Z .. 2026-11-28T10:59:45Z;")
    assert lines[-1].endswith("1 alerts fired (tuned: 1)")


def test_bad_line_is_one_error_line_with_its_number(tmp_path, capsys):
    rows = [json.dumps(r) for r in oscillating_hour()[:5]]
    rows.insert(3, '{"t": 1795860045.0, "target": "shop", "metric": "x", "value": "fast"}')
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(rows) + "\n")
    rc, cap = run_cli(tmp_path, capsys, str(p))
    assert rc == 3
    assert cap.err.count("\n") == 1 and f"{p}:4: " in cap.err and '"value" must be a number' in cap.err
    assert "Traceback" not in cap.err
    for bad, what in (("not json", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                      ('{"t": 1, "target": "a"}', "missing metric, value"),
                      ('{"t": 1, "target": "a", "metric": "m", "value": 1, "labels": {"a": 1}}', "labels")):
        with pytest.raises(ReplayError, match=what) as ei:
            list(iter_jsonl(["", "# comment", bad], "f.jsonl"))
        assert ei.value.lineno == 3
    rc, cap = run_cli(tmp_path, capsys, str(tmp_path / "missing.jsonl"))
    assert rc == 3 and "cannot read" in cap.err


def test_replay_runs_on_recorded_time_ticks_and_dead_mans_switch():
    rows = []
    for i in range(40):
        rows.append((T0 + 15 * i, "web-1", "host.up", 1.0, None))
        if i < 20:  # web-2 stops reporting at 10:04:45
            rows.append((T0 + 15 * i, "web-2", "host.up", 1.0, None))
    from opsdash.alerts.rules import builtin_rules

    res = replay(iter(rows), builtin_rules())
    nd = [e for e in res.transitions if e.rule == "no-data"]
    assert [(e.target, e.to_state) for e in nd] == [("web-2", "firing")]
    assert nd[0].t - (T0 + 15 * 19) > 45 and nd[0].t - (T0 + 15 * 19) <= 60
    assert nd[0].reason.startswith("no data since 10:04: last host.up sample")


def test_keep_firing_for_expires_on_recorded_time_between_samples():
    rows = [(T0, "a", M, 500.0, None), (T0 + 15, "a", M, 100.0, None)]
    rows += [(T0 + 15 + 15 * i, "b", M, 100.0, None) for i in range(1, 30)]
    r = Rule(name="r", metric=M, warn=400, keep_firing_for_s=120)
    res = replay(iter(rows), [r])
    got = [(e.target, e.from_state, e.to_state, e.t) for e in res.transitions]
    assert got == [("a", "ok", "firing", T0), ("a", "firing", "resolved", T0 + 15 + 120)]


def test_replay_file_accepts_a_stream():
    buf = io.StringIO("".join(json.dumps(r) + "\n" for r in oscillating_hour()))
    res = replay_file(buf, [Rule(name="naive", metric=M, warn=400)])
    assert res.samples == 240 and res.series == 1 and res.alerts_fired >= 24
