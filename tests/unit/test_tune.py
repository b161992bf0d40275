"""opsdash tune: the backtest agrees with the engine; proposals cut noise, keep incidents; --write."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from opsdash import tune as T
from opsdash.alerts.replay import replay
from opsdash.alerts.rules import Rule, builtin_rules
from opsdash.cli import main
from opsdash.config import load_config

T0 = 1_795_860_000.0
DAY = 86400.0
STEP = 30.0
INCIDENTS = {("web-1", 1.3 * DAY): 40 * 60, ("web-2", 3.6 * DAY): 25 * 60, ("db-1", 5.2 * DAY): 60 * 60}
NOISY = Rule(name="cpu-hot", metric="host.cpu_percent", warn=85, crit=95, for_s=60)


def noisy_week(seed: int = 7) -> list[tuple[float, str, str, float, None]]:
    """A week of CPU at 30 s on three hosts: short spikes past the threshold several times a
    day, a slow creep up to just under it (db-1), flapping bursts across it, and three real
    incidents (the INCIDENTS table: 25-60 minutes at 96-99%)."""
    rng = random.Random(seed)
    n = int(7 * DAY / STEP)
    out = []
    for h in ("web-1", "web-2", "db-1"):
        base = 45.0 + 10 * rng.random()
        spikes: set[int] = set()
        for _ in range(42):
            s = rng.randrange(n)
            spikes.update(range(s, s + rng.randint(4, 8)))  # 2-4 minutes
        flap_days = [rng.randrange(7) for _ in range(3)]
        for i in range(n):
            d = i * STEP / DAY
            v = base + rng.gauss(0, 4)
            if h == "db-1":
                v = min(84.0, 50 + 6 * d) + rng.gauss(0, 1.6)
            if i in spikes:
                v = 88 + 11 * rng.random()
            if int(d) in flap_days and 0.5 <= d - int(d) < 0.55:
                v = 89.0 if (i * STEP) % 300 < 150 else 82.0
            for (ih, st), ln in INCIDENTS.items():
                if ih == h and st <= i * STEP < st + ln:
                    v = 96 + 3 * rng.random()
            out.append((T0 + i * STEP, h, "host.cpu_percent", round(max(0.0, min(100.0, v)), 2), None))
    out.sort(key=lambda x: x[0])
    return out


def endpoint_day(seed: int = 3) -> list[tuple[float, str, str, float, dict]]:
    """18 hours of TTFB p95 at 15 s: a random walk, fast flapping, long breaches with critical
    phases, short critical bursts, slow oscillation."""
    rng = random.Random(seed)
    out, v = [], 250.0
    for i in range(int(18 * 3600 / 15)):
        v = max(50.0, v + rng.gauss(0, 15) + (250 - v) * 0.02)
        x, ph = v, (i // 240) % 12
        if ph == 3:
            x = 430.0 if i % 2 else 290.0
        elif ph == 5:
            x = 450 + 400 * (i % 80 > 40)
        elif ph == 7 and i % 240 < 30:
            x = 900.0 if i % 30 < 25 else 320.0
        elif ph == 9:
            x = 420.0 if (i // 6) % 3 else 280.0
        out.append((T0 + i * 15.0, "shop", "endpoint.ttfb_p95_ms", round(x, 1), {"vantage": "local"}))
    return out


@pytest.fixture(scope="module")
def week():
    return noisy_week()


def engine_pages(samples, rule):
    res = replay(iter(samples), [rule])
    return sorted(e.t for e in res.transitions if e.to_state == "firing" and e.notify)


def tune_pages(samples, rule):
    rep = T.tune(T.load_samples(iter(samples)), [rule], incident_s=600, max_delay_s=300)
    return rep.rules[0].old.notified  # the engine's notifications, before storms are grouped


BUILTIN = {r.name: r for r in builtin_rules()}


@pytest.mark.parametrize("rule", [
    NOISY,
    replace(NOISY, for_s=0, clear=80),
    replace(NOISY, for_s=30, attempts=3, keep_firing_for_s=300),
    replace(NOISY, flap=(20, 30), for_s=120, keep_firing_for_s=60),
    BUILTIN["cpu"],
], ids=["noisy", "for0-clear", "attempts-kff", "flap-kff", "builtin-cpu"])
def test_backtest_counts_the_pages_the_engine_sends(week, rule):
    assert tune_pages(week, rule) == len(engine_pages(week, rule))


@pytest.mark.parametrize("rule", [
    BUILTIN["ttfb-p95"],
    replace(BUILTIN["ttfb-p95"], clear=None, keep_firing_for_s=0),
    replace(BUILTIN["ttfb-p95"], for_s=0, flap=(10, 25)),
    replace(BUILTIN["ttfb-p95"], warn=None, crit=500),
], ids=["builtin", "no-hysteresis", "for0-flap", "crit-only"])
def test_backtest_matches_the_engine_with_flapping_escalation_and_keep_firing(rule):
    data = endpoint_day()
    assert tune_pages(data, rule) == len(engine_pages(data, rule))


@pytest.fixture
def files(tmp_path, week):
    samples = tmp_path / "week.jsonl"
    with open(samples, "w") as f:
        for t, tg, m, v, _ in week:
            f.write(json.dumps({"t": t, "target": tg, "metric": m, "value": v}) + "\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "# our fleet: tuned by hand, comments kept by --write\n"
        "[opsdash]\nretention = \"14d\"\n\n"
        "[[hosts]]\nname = \"web-1\"\nprobes = [\"health\"]\ntags = { role = \"web\" }\n\n"
        "[[rules]]\nname = \"cpu-hot\"  # pages L1 at night\nmetric = \"host.cpu_percent\"\nwarn = 85\ncrit = 95\nfor = \"1m\"\n"
        "runbook = \"https://wiki.example.com/cpu\"\n"
    )
    return samples, cfg


def test_proposal_cuts_pages_and_still_catches_every_incident(files, week, capsys):
    samples, cfg = files
    rc = main(["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "cpu-hot",
               "--incident", "10m", "--max-delay", "5m", "--format", "json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (r,) = out["rules"]
    assert r["rule"] == "cpu-hot" and len(r["incidents"]) == 3
    starts = sorted(i["start"] for i in r["incidents"])
    assert starts == sorted(T0 + st for (_h, st) in INCIDENTS)
    old, new = r["current"], r["proposal"]
    assert old["pages"] >= 100  # the noisy rule pages a lot
    assert new["pages"] <= 0.3 * old["pages"]  # >= 70% fewer
    assert r["page_cut_percent"] >= 70
    assert new["incidents_caught"] == 3
    assert all(d is not None and d <= 300 for d in new["detection_delay_s"])

    # the same proposal through the real engine: same pages, each incident paged within 5 minutes
    p = new
    proposed = replace(NOISY, warn=p["warn"], crit=p["crit"], clear=p["clear"], for_s=p["for_s"],
                       attempts=p["attempts"])
    pages = engine_pages(week, proposed)
    assert len(pages) == new["notifications"]
    for start in starts:
        assert any(start <= t <= start + 300 for t in pages)


def test_write_updates_the_rule_keeps_the_rest_and_a_byte_exact_backup(files, capsys):
    samples, cfg = files
    before = cfg.read_bytes()
    assert main(["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "cpu-hot", "--write"]) == 0
    capsys.readouterr()
    assert (cfg.parent / "config.toml.bak").read_bytes() == before
    after = cfg.read_text()
    assert after.startswith("# our fleet: tuned by hand, comments kept by --write\n[opsdash]\n")
    assert 'name = "cpu-hot"  # pages L1 at night\n' in after
    assert 'tags = { role = "web" }' in after  # untouched tables keep their spelling
    assert main(["check-config", "--config", str(cfg)]) == 0
    loaded = load_config(cfg)
    (rc,) = loaded.rules
    assert rc.name == "cpu-hot" and rc.for_s > 60 and rc.runbook == "https://wiki.example.com/cpu"
    assert loaded.hosts[0].name == "web-1" and loaded.hosts[0].tags == {"role": "web"}
    assert loaded.settings.retention == 14 * DAY


def test_a_tuned_builtin_rule_becomes_its_own_entry(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[opsdash]\ntheme = "opsdash-dark"\n')
    loaded = load_config(cfg)
    cpu = BUILTIN["cpu"]
    cur = T.Candidate(cpu.warn, cpu.crit, cpu.clear, cpu.for_s, cpu.attempts)
    rt = T.RuleTuning(cpu, 1, 1.0, [], cur, T.Outcome(pages=10), T.Candidate(92.0, 98, 80, 180.0, 2), T.Outcome(pages=1))
    from opsdash.alerts.rules import rules_from_config
    from opsdash.config import update_config

    changes = update_config(cfg, lambda doc: T.apply_to_config(doc, [rt]))
    assert changes == ["cpu: warn 90 -> 92.0, for 5m -> 3m, attempts 1 -> 2"]
    assert cfg.read_text() == (
        '[opsdash]\ntheme = "opsdash-dark"\n\n'
        '[[rules]]\nname = "cpu"\nmetric = "host.cpu_percent"\nwarn = 92\ncrit = 98\nclear = 80\n'
        'for = "3m"\nattempts = 2\n\n'
    )
    got = {r.name: r for r in rules_from_config(load_config(cfg))}["cpu"]
    assert (got.warn, got.crit, got.clear, got.for_s, got.attempts) == (92.0, 98, 80, 180.0, 2)
    assert got.runbook == cpu.runbook  # the built-in's other keys are kept


def test_builtin_with_only_for_changed_passes_check_config_and_overrides_are_not_written(tmp_path, capsys):
    from opsdash.config import update_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[opsdash]\ntheme = "opsdash-dark"\n')
    loaded = load_config(cfg)
    load = BUILTIN["load"]
    cur = T.Candidate(load.warn, load.crit, load.clear, load.for_s, load.attempts)
    rt = T.RuleTuning(load, 1, 1.0, [], cur, T.Outcome(), replace(cur, for_s=240.0), T.Outcome())
    slo = replace(BUILTIN["availability-slo"], overrides=(T.Rule.__annotations__ and ()) or
                  (__import__("opsdash.alerts.rules", fromlist=["Override"]).Override({"target": "shop"}, 99.9, None),))
    cur2 = T.Candidate(None, None, None, slo.for_s, 1)
    rt2 = T.RuleTuning(slo, 1, 1.0, [], cur2, T.Outcome(), replace(cur2, for_s=120.0), T.Outcome())
    changes = update_config(cfg, lambda doc: T.apply_to_config(doc, [rt, rt2]))
    assert [e["name"] for e in load_config(cfg).raw["rules"]] == ["load"]
    assert "not written" in changes[1]
    assert main(["check-config", "--config", str(cfg)]) == 0
    from opsdash.alerts.rules import rules_from_config

    got = {r.name: r for r in rules_from_config(load_config(cfg))}["load"]
    assert (got.warn, got.crit, got.clear, got.for_s) == (load.warn, load.crit, load.clear, 240.0)


def test_without_incidents_thresholds_are_not_raised():
    rng = random.Random(1)
    data = [(T0 + i * 30.0, "h", "host.cpu_percent", 91.0 if i % 200 < 6 else 40 + rng.random(), None)
            for i in range(5000)]
    rep = T.tune(T.load_samples(iter(data)), [NOISY])
    (rt,) = rep.rules
    assert not rt.incidents and rt.proposal is not None
    assert rt.proposal.warn <= NOISY.warn and rt.proposal.for_s <= 300
    assert rt.new.pages < rt.old.pages
    assert "no sustained incident" in rt.note


def test_text_output_and_unknown_rule(files, capsys):
    samples, cfg = files
    assert main(["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "cpu-hot"]) == 0
    out = capsys.readouterr().out
    assert "== cpu-hot" in out and "incidents caught" in out and "3/3" in out and "fewer pages" in out
    assert main(["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "nope"]) == 3


def test_core_modules_do_not_import_textual():
    code = ("import sys, opsdash.tune, opsdash.report.handover, opsdash.report.escalation, "
            "opsdash.commands.tune, opsdash.commands.handover; assert 'textual' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tune_from_the_store_matches_the_samples_file(files, week, tmp_path, capsys):
    from opsdash.model import Sample
    from opsdash.store import Store

    samples, cfg = files
    db = tmp_path / "s.sqlite"
    with Store(db) as s:
        s.write_samples(Sample(t, tg, m, v) for t, tg, m, v, _ in week)
    assert main(["tune", "--config", str(cfg), "--store", str(db), "--since", "3650d", "--rule", "cpu-hot",
                 "--format", "json"]) == 0
    from_store = json.loads(capsys.readouterr().out)["rules"][0]
    assert main(["tune", "--config", str(cfg), "--samples", str(samples), "--rule", "cpu-hot", "--format", "json"]) == 0
    from_file = json.loads(capsys.readouterr().out)["rules"][0]
    assert from_store["current"] == from_file["current"] and from_store["proposal"] == from_file["proposal"]
