"""Queue actions (ack, unack, note, silence, escalate) in the store and from the shell; kill -9 safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from opsdash.alerts import AlertEngine, Rule, alert_id, queue
from opsdash.cli import main
from opsdash.model import Sample
from opsdash.report.escalation import packet, to_markdown
from opsdash.store import Store
from tests.support import REPO

T0 = 1_795_860_000.0
RULE = Rule(name="p95", metric="endpoint.ttfb_p95_ms", warn=400, crit=800, runbook="https://wiki/latency")
AID = alert_id("p95", "shop")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as s:
        eng = AlertEngine([RULE], store=s)
        eng.observe([Sample(T0, "shop", "endpoint.ttfb_p95_ms", 450.0)])
        yield s


def test_ack_with_who_note_and_expiry(store, monkeypatch):
    monkeypatch.setenv("USER", "ann")
    a = queue.ack(store, AID, note="restarting php-fpm", expires=3600, now=T0 + 10)
    assert (a.acked, a.ack_by, a.ack_note) == (True, "ann", "restarting php-fpm")
    got = store.alert(AID, now=T0 + 20)
    assert got.acked and got.ack_by == "ann" and got.ack_note == "restarting php-fpm"
    assert not store.alert(AID, now=T0 + 3610 + 1).acked  # expired
    assert [n.text for n in store.notes(alert_id=AID)] == ["restarting php-fpm"]


def test_unique_prefix_and_unknown_ids(store):
    assert queue.find_alert(store, AID[:4], now=T0).id == AID
    with pytest.raises(queue.UnknownAlert):
        queue.ack(store, "nope", now=T0)
    with pytest.raises(queue.UnknownAlert):
        queue.ack(store, "", now=T0)


def test_unack_and_note(store):
    queue.ack(store, AID, who="ann", now=T0)
    assert queue.unack(store, AID, who="bob", now=T0 + 1) == 1
    assert not store.alert(AID, now=T0 + 2).acked
    queue.note(store, AID, "it was the CDN", who="bob", now=T0 + 3)
    assert [(n.who, n.text, n.target) for n in store.notes(alert_id=AID)] == [("bob", "it was the CDN", "shop")]
    with pytest.raises(queue.QueueError):
        queue.note(store, AID, "   ")


def test_silence_matchers_duration(store):
    sid = queue.silence(store, queue.parse_matchers(["target=shop", "severity=warning"]), 600, note="deploy",
                        who="ann", now=T0)
    assert store.alert(AID, now=T0 + 1).silenced
    assert not store.alert(AID, now=T0 + 601).silenced
    queue.silence(store, {"target": "other"}, 600, who="ann", now=T0)
    assert [s.id for s in store.active_silences(T0 + 1) if s.matchers.get("target") == "shop"] == [sid]
    assert queue.unsilence(store, sid, now=T0 + 2)
    assert not store.alert(AID, now=T0 + 3).silenced
    with pytest.raises(queue.QueueError):
        queue.parse_matchers(["target"])
    with pytest.raises(queue.QueueError):
        queue.silence(store, {}, 60)


def test_escalate_to_the_next_tier(store):
    esc = queue.escalate(store, AID, who="ann", now=T0 + 5)
    assert (esc.from_tier, esc.to_tier) == ("L1", "L2")
    assert queue.escalate(store, AID, who="ann", now=T0 + 6).to_tier == "L3"
    top = queue.escalate(store, AID, who="ann", now=T0 + 7)
    assert not top.changed and top.to_tier == "L3"
    assert [e[3:] for e in store.escalations(AID)] == [("L1", "L2"), ("L2", "L3")]
    md = to_markdown(packet(store, esc.alert, now=T0 + 5, escalation=esc))  # the one packet (report/escalation.py)
    assert md.startswith("## Escalated to L2: p95 on shop")
    assert "https://wiki/latency" in md and AID in md


# --- from the shell ---------------------------------------------------------------------


def _cli(tmp_path, *argv):
    return main([*argv, "--store", str(tmp_path / "s.sqlite"), "--config", str(tmp_path / "none.toml")])


@pytest.fixture
def cfgfile(tmp_path):
    (tmp_path / "none.toml").write_text("")
    return tmp_path


def test_cli_queue_commands(store, cfgfile, capsys, monkeypatch):
    tmp = cfgfile
    monkeypatch.setenv("USER", "carol")
    assert _cli(tmp, "ack", AID[:6], "--note", "on it", "--sticky", "--expires", "2h") == 0
    assert "sticky ack by carol: on it" in capsys.readouterr().out
    assert _cli(tmp, "alerts", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    a = data["alerts"][0]
    assert (a["id"], a["acked"], a["ack_note"], a["ack_by"], a["state"]) == (AID, True, "on it", "carol", "firing")
    assert a["notes"][0]["text"] == "on it"
    assert _cli(tmp, "silence", "--match", "target=shop", "--for", "30m", "--note", "deploy") == 0
    assert "1 active alert(s) silenced now" in capsys.readouterr().out
    assert _cli(tmp, "alerts") == 0
    out = capsys.readouterr().out
    assert AID in out and "[ACK SILENCED]" in out and "runbook: https://wiki/latency" in out and "deploy" in out
    assert _cli(tmp, "unack", AID) == 0
    assert "ack removed" in capsys.readouterr().out
    assert _cli(tmp, "escalate", AID) == 0
    assert "## Escalated to L2" in capsys.readouterr().out
    for argv in (("ack", "zzzz"), ("unack", "zzzz"), ("escalate", "zzzz")):
        assert _cli(tmp, *argv) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "zzzz: no such alert" in err


# --- kill -9 -------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from opsdash.store import Store
    from opsdash.alerts import AlertEngine, Rule, queue
    from opsdash.model import Sample
    store = Store(sys.argv[1])
    rule = Rule(name="p95", metric="endpoint.ttfb_p95_ms", warn=400)
    eng = AlertEngine([rule], store=store)
    t = 1795860000.0
    eng.observe([Sample(t, "shop", "endpoint.ttfb_p95_ms", 450.0)])
    aid = eng.active()[0].id
    queue.ack(store, aid, note="acked before the crash", sticky=True, who="ann", now=t + 1)
    queue.silence(store, {"target": "shop"}, 3600, note="maintenance", who="ann", now=t + 1)
    queue.note(store, aid, "tried a restart", who="ann", now=t + 2)
    print("ready", aid, flush=True)
    i = 0
    while True:  # the collector keeps writing until it is killed
        i += 1
        eng.observe([Sample(t + 10 + i, "shop", "endpoint.ttfb_p95_ms", 450.0 + i % 7)])
        eng.tick(t + 10 + i)
        store.add_note(f"busy {i}", who="collector", t=t + 10 + i)
    """
)


def test_acks_silences_notes_survive_kill_9(tmp_path):
    path = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "ready", line
        aid = line[1]
        time.sleep(0.3)  # let it be in the middle of writing
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as store:
        now = 1795860000.0 + 100
        a = store.alert(aid, now=now)
        assert a is not None and a.state == "firing"
        assert a.acked and a.ack_by == "ann" and a.ack_note == "acked before the crash"
        assert a.silenced
        assert [s.note for s in store.active_silences(now)] == ["maintenance"]
        assert "tried a restart" in [n.text for n in store.notes(alert_id=aid)]
        # the restarted collector picks the firing alert up again: no second page
        eng = AlertEngine([Rule(name="p95", metric="endpoint.ttfb_p95_ms", warn=400)], store=store)
        assert [x.state for x in eng.active()] == ["firing"]
        assert eng.active()[0].acked
        ev = eng.observe([Sample(now + 1000, "shop", "endpoint.ttfb_p95_ms", 460.0)])
        assert ev == []
