"""Silences you can check and end: matchers are checked against what alerts can carry (a typo
gets a did-you-mean and exit 3), the count is this silence's own matches, and `unsilence`
ends one early."""

from __future__ import annotations

import time

import pytest

from opsdash.alerts import queue
from opsdash.cli import main
from opsdash.config import load_config
from opsdash.model import Alert, Sample
from opsdash.store import Store

NOW = time.time()  # the CLI reads the wall clock

CONFIG = """
[[hosts]]
name = "web-1"
tags = { role = "web", region = "eu-west" }

[[hosts]]
name = "db-1"
tags = { role = "db" }

[[endpoints]]
name = "shop"
url = "http://127.0.0.1:9/"
tags = { team = "storefront" }
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A store with three firing alerts (two on web-1, one on db-1, one from Alertmanager with its
    own labels) and an old silence on db-1, and a config with host and endpoint tags."""
    monkeypatch.setenv("USER", "carol")
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    with Store(tmp_path / "s.sqlite") as s:
        for a in (
            Alert("a-web1-cpu", "cpu", "web-1", "critical", "firing", NOW - 600, 99.0, labels={"role": "web"}),
            Alert("a-web1-disk", "disk", "web-1", "warning", "firing", NOW - 600, 91.0, labels={"mount": "/"}),
            Alert("a-db1-mem", "memory", "db-1", "warning", "firing", NOW - 600, 95.0),
            Alert("am-x", "NodeFilesystemAlmostFull", "node9", "critical", "firing", NOW - 60, None,
                  labels={"instance": "10.0.0.9:9100", "job": "node"}, source="alertmanager:am"),
        ):
            s.upsert_alert(a, NOW)
        s.write_samples([Sample(NOW, "db-1", "host.disk_percent", 50.0, {"mount": "/var"})])
        queue.silence(s, {"target": "db-1"}, 7200, who="bob", now=NOW - 60)
    return tmp_path


def cli(tmp, *argv):
    return main([*argv, "--store", str(tmp / "s.sqlite"), "--config", str(tmp / "config.toml")])


def test_the_vocabulary_is_what_alerts_can_carry(env):
    with Store(env / "s.sqlite", readonly=True) as s:
        v = queue.vocabulary_from_store(s, load_config(env / "config.toml"), NOW)
    keys = set(v.values)
    # built in, the config's host and endpoint tags, labels on alerts (Alertmanager's too) and on series
    assert {"target", "rule", "alertname", "severity", "role", "region", "team", "mount", "instance", "job"} <= keys
    assert {"web-1", "db-1", "shop", "node9"} <= v.values["target"]
    assert {"cpu", "disk", "NodeFilesystemAlmostFull", "host-down"} <= v.values["rule"]  # built-in rules too
    assert v.values["severity"] == {"warning", "critical"}
    assert v.values["role"] is None  # a tag's value is not checked: a host about to be added may carry it


@pytest.mark.parametrize("item, message", [
    ("targt=web1", 'targt=web1: unknown label "targt"; did you mean "target"?'),
    ("target=web1", 'target=web1: unknown target "web1"; did you mean "web-1"?'),
    ("rol=web", 'rol=web: unknown label "rol"; did you mean "role"?'),
    ("severity=crit", 'severity=crit: unknown severity "crit"; did you mean "critical"?'),
    ("alertname=NodeFilesystemAlmostFul", 'unknown rule "NodeFilesystemAlmostFul"; did you mean "NodeFilesystemAlmostFull"?'),
    ("tier=L2", 'a silence cannot match "tier"'),
    ("zzz=1", 'unknown label "zzz" (known labels: alertname, instance, job,'),
    ("target", "target: expected key=value"),
])
def test_a_typo_is_refused_with_did_you_mean(env, item, message):
    with Store(env / "s.sqlite", readonly=True) as s:
        v = queue.vocabulary_from_store(s, load_config(env / "config.toml"), NOW)
    with pytest.raises(queue.QueueError) as e:
        queue.parse_matchers([item], v)
    assert message in str(e.value)


def test_known_matchers_pass(env):
    with Store(env / "s.sqlite", readonly=True) as s:
        v = queue.vocabulary_from_store(s, load_config(env / "config.toml"), NOW)
    got = queue.parse_matchers(["target=web-1", "role=anything-new", "severity=critical", "instance=10.0.0.9:9100"], v)
    assert got == {"target": "web-1", "role": "anything-new", "severity": "critical", "instance": "10.0.0.9:9100"}


def test_cli_typo_in_a_matcher_key_exits_3_with_one_line(env, capsys):
    assert cli(env, "silence", "--match", "targt=web1", "--for", "1h") == 3
    out, err = capsys.readouterr()
    assert err == 'opsdash: silence --match targt=web1: unknown label "targt"; did you mean "target"?\n'
    assert out == ""
    with Store(env / "s.sqlite", readonly=True) as s:
        assert [x.matchers for x in s.active_silences(NOW)] == [{"target": "db-1"}]  # nothing added


def test_cli_the_count_is_this_silences_matches(env, capsys):
    # db-1's alert is silenced already (by bob's silence): it must not count for this one.
    with Store(env / "s.sqlite", readonly=True) as s:
        assert s.alert("a-db1-mem").silenced
    assert cli(env, "silence", "--match", "target=web-1", "--match", "severity=critical", "--for", "30m") == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("; 1 active alert(s) silenced now"), out
    assert cli(env, "silence", "--match", "target=web-1", "--for", "30m") == 0
    assert "; 2 active alert(s) silenced now" in capsys.readouterr().out
    assert cli(env, "silence", "--match", "role=nobody-yet", "--for", "30m") == 0
    assert "; 0 active alert(s) silenced now" in capsys.readouterr().out


def test_cli_unsilence_ends_a_silence_early(env, capsys):
    with Store(env / "s.sqlite", readonly=True) as s:
        (sil,) = s.active_silences(NOW)
        assert s.alert("a-db1-mem").silenced
    assert cli(env, "unsilence", f"#{sil.id}") == 0
    assert capsys.readouterr().out == f"silence #{sil.id}: target=db-1: ended\n"
    with Store(env / "s.sqlite", readonly=True) as s:
        assert sil.id not in [x.id for x in s.active_silences(time.time())]
        assert not s.alert("a-db1-mem").silenced
    assert cli(env, "unsilence", str(sil.id)) == 0
    assert "had already ended" in capsys.readouterr().out
    for bad, says in (("99", "silence 99: no such silence"), ("web-1", "expected a silence number")):
        assert cli(env, "unsilence", bad) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err


def test_alerts_lists_silence_ids_for_unsilence(env, capsys):
    assert cli(env, "alerts") == 0
    out = capsys.readouterr().out
    assert "silences:" in out and "#1 target=db-1 by bob" in out
