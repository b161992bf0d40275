"""`opsdash unsilence` ends a silence here and in a real Alertmanager (the Debian
prometheus-alertmanager binary on loopback, started and stopped by PID), as `opsdash silence`
created it there. The alert reaches the store the collector's way (GET /api/v2/alerts ->
parse_alerts -> sync_store)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from opsdash.cli import main
from opsdash.collect.alertmanager import parse_alerts, sync_store, to_alert
from opsdash.config import load_config
from opsdash.store import Store
from tests.support.sshd import free_port
from tests.support.source_stack import Stack, get_json, wait_for

pytestmark = pytest.mark.integration


def test_unsilence_ends_the_silence_here_and_in_alertmanager(alertmanager: Stack, tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    am = alertmanager.am
    monkeypatch.setenv("USER", "tester")
    instance = f"127.0.0.1:{free_port()}"
    r = httpx.post(am + "/api/v2/alerts", json=[{
        "labels": {"alertname": "DiskAlmostFull", "instance": instance, "severity": "critical"},
        "annotations": {"summary": "disk 97%"},
    }], timeout=10)
    assert r.status_code == 200, r.text
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[[sources]]\nkind = "alertmanager"\nname = "am"\nurl = "{am}"\ninterval = "2s"\n')
    config = load_config(cfg)
    store_path = tmp_path / "s.sqlite"
    doc = wait_for("the alert in Alertmanager", lambda: [
        a for a in get_json(am + "/api/v2/alerts") if a["labels"]["alertname"] == "DiskAlmostFull"], timeout=30)
    now = time.time()
    with Store(store_path) as store:
        sync_store(store, "am", [to_alert(a, "am", config, now) for a in parse_alerts(doc)], [], now)

    def cli(*argv: str) -> int:
        return main([*argv, "--store", str(store_path), "--config", str(cfg)])

    # A typo is refused before anything reaches Alertmanager.
    assert cli("silence", "--match", "alertnme=DiskAlmostFull", "--for", "1h") == 3
    assert 'did you mean "alertname"?' in capsys.readouterr().err
    assert not get_json(am + "/api/v2/silences")

    assert cli("silence", "--match", "alertname=DiskAlmostFull", "--for", "1h", "--note", "resizing") == 0
    out = capsys.readouterr().out
    assert "1 active alert(s) silenced now" in out
    am_id = out.split("alertmanager am: ", 1)[1].split()[0]
    with Store(store_path, readonly=True) as store:
        (local,) = store.active_silences(time.time())
    assert local.external_id == f"am/{am_id}"
    sil = next(s for s in get_json(am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "active" and sil["createdBy"] == "tester"

    assert cli("unsilence", str(local.id)) == 0
    out = capsys.readouterr().out
    assert out == f"alertmanager am: expired\nsilence #{local.id}: alertname=DiskAlmostFull: ended\n"
    sil = next(s for s in get_json(am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "expired"
    with Store(store_path, readonly=True) as store:
        assert not store.active_silences(time.time())
        assert not [a for a in store.alerts() if a.rule == "DiskAlmostFull" and a.silenced]
    # Again: ended here already, and Alertmanager says it is gone, not an error.
    assert cli("unsilence", str(local.id)) == 0
    out = capsys.readouterr().out
    assert "had already ended" in out and "error" not in out, out
