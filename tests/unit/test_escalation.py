"""The escalation packet: `opsdash escalate ID [--format md|json]` bumps the tier and prints it."""

from __future__ import annotations

import json

import pytest

from opsdash.alerts import AlertEngine, alert_id, queue
from opsdash.alerts.rules import rules_from_config
from opsdash.cli import main
from opsdash.config import load_config
from opsdash.model import Sample
from opsdash.report.escalation import packet, to_markdown
from opsdash.stats import SPARK
from opsdash.store import Store

EVIL = "tried *restart* | `kill -9` <x>\x1b]52;c;aGk=\x07"


@pytest.fixture
def env(tmp_path):
    import time

    now = time.time()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[hosts]]\nname = "web-1"\nprobes = ["health", "patches"]\ntags = { role = "web", region = "eu-west" }\n\n'
        '[[rules]]\nname = "cpu"\nmetric = "host.cpu_percent"\nwarn = 90\ncrit = 98\nfor = "0s"\nrunbook = "https://wiki.example.com/runbooks/cpu"\n'
    )
    path = tmp_path / "s.sqlite"
    c = load_config(cfg)
    with Store(path) as s:
        eng = AlertEngine(rules_from_config(c), store=s)
        for i in range(60):
            t = now - 3600 + 60 * i
            v = 50.0 + i if i < 45 else 95.0
            eng.observe([Sample(t, "web-1", "host.cpu_percent", v), Sample(t, "web-1", "host.mem_percent", 93.0)])
            s.write_samples([Sample(t, "web-1", "host.cpu_percent", v)])
        s.put_latest("host", "web-1", "", now - 30, {"name": "web-1", "state": "ok", "kernel": "6.1.0-18-amd64",
                                                     "os": "Debian GNU/Linux 12", "health": {"uptime_s": 864000}})
        s.put_latest("patches", "web-1", "", now - 60, {"patches": {"manager": "apt", "pending": 4, "security": 1,
                                                                    "reboot_required": True, "reboot_reason": "kernel"}})
        aid = alert_id("cpu", "web-1")
        queue.ack(s, aid, note=EVIL, who="ann", now=now - 100)
        s.add_note("php-fpm restarted twice", who="bob", target="web-1", t=now - 50)
    return cfg, path, aid


def test_escalate_prints_the_packet_and_bumps_the_tier(env, capsys):
    cfg, path, aid = env
    assert main(["escalate", aid[:6], "--format", "json", "--config", str(cfg), "--store", str(path)]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["tier"]["escalation"]["from"] == "L1" and p["tier"]["current"] == "L2"
    s = p["symptoms"]
    assert (s["rule"], s["metric"], s["value"], s["warn"], s["crit"], s["op"]) == ("cpu", "host.cpu_percent", 91.0, 90, 98, ">")
    assert s["latest"] == 95.0
    h = p["history"]
    assert len(h["points"]) >= 59 and h["max"] == 95.0 and h["sparkline"] and set(h["sparkline"]) <= set(SPARK) | {" "}
    assert [r["rule"] for r in p["related"]] == ["memory"]
    assert p["tried"]["acks"][0]["note"] == EVIL
    assert "php-fpm restarted twice" in [n["text"] for n in p["tried"]["notes"]]
    env_ = p["environment"]
    assert env_["tags"] == {"role": "web", "region": "eu-west"} and env_["kernel"] == "6.1.0-18-amd64"
    assert env_["uptime_s"] == 864000 and env_["patches"]["security"] == 1 and env_["os"].startswith("Debian")
    assert p["runbook"] == "https://wiki.example.com/runbooks/cpu"
    with Store(path) as st:
        assert st.alert_tier(aid) == "L2"
    # again, markdown: L2 -> L3
    assert main(["escalate", aid, "--config", str(cfg), "--store", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## Escalated to L3: cpu on web-1")
    for part in ("### Symptoms", "### Last hour of host.cpu\\_percent", "### Related alerts on web-1 (1)",
                 "### Already tried", "php-fpm restarted twice", "### Environment", "role=web",
                 "kernel**: 6.1.0-18-amd64", "<https://wiki.example.com/runbooks/cpu>", "**Goes to**: L3",
                 "warn > 90, crit > 98"):
        assert part in text, part
    assert "\x1b" not in text and "\x07" not in text
    from opsdash.report.handover import md

    assert md(EVIL) == r"tried \*restart\* \| \`kill -9\` \<x\>\\e\]52;c;aGk=\\a"
    assert md(EVIL) in text and "*restart*" not in text


def test_unknown_id_exits_3(env, capsys):
    cfg, path, _ = env
    assert main(["escalate", "nope", "--config", str(cfg), "--store", str(path)]) == 3


def test_packet_without_config_or_history(tmp_path):
    with Store(tmp_path / "s.sqlite") as s:
        from opsdash.alerts.rules import builtin_rules

        eng = AlertEngine(builtin_rules(), store=s)
        eng.observe([Sample(1_795_860_000.0, "shop", "endpoint.error_rate", 0.5, {"vantage": "local"}),
                     Sample(1_795_860_200.0, "shop", "endpoint.error_rate", 0.5, {"vantage": "local"})])
        (a,) = s.alerts(states=("firing",), now=1_795_860_300.0)
        p = packet(s, a, None, now=1_795_860_300.0)
    text = to_markdown(p)
    assert "No samples in the last hour." in text and "Nothing known about this target." in text
    assert p["symptoms"]["metric"] == "endpoint.error_rate" and p["tier"]["current"] == a.tier
