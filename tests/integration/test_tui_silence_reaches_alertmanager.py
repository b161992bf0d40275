"""A silence made in the TUI reaches a real Alertmanager (the Debian binary on loopback),
and ending it there expires the copy: through the AlertmanagerMirror that `opsdash run`
gives the app, since the UI never imports collect/."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from opsdash.cli import main
from opsdash.collect.alertmanager import parse_alerts, sync_store, to_alert
from opsdash.config import load_config
from opsdash.store import Store
from opsdash.ui import actions
from opsdash.ui.app import OpsdashApp
from tests.support.sshd import free_port
from tests.support.source_stack import Stack, get_json, wait_for

pytestmark = pytest.mark.integration


def _app_of_opsdash_run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> OpsdashApp:
    """The app `opsdash run` builds, without running it in a terminal."""
    built: list[OpsdashApp] = []
    monkeypatch.setenv("ESCDELAY", "50")
    monkeypatch.setattr(OpsdashApp, "run", lambda self, **kw: built.append(self))
    assert main(argv) == 0
    (app,) = built
    return app


def test_tui_silence_and_unsilence_reach_alertmanager(alertmanager: Stack, tmp_path: Path,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    am = alertmanager.am
    monkeypatch.setenv("USER", "tester")
    instance = f"127.0.0.1:{free_port()}"
    r = httpx.post(am + "/api/v2/alerts", json=[{
        "labels": {"alertname": "QueueBacklog", "instance": instance, "severity": "warning"},
        "annotations": {"summary": "queue 9000 deep"},
    }], timeout=10)
    assert r.status_code == 200, r.text
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[[sources]]\nkind = "alertmanager"\nname = "am"\nurl = "{am}"\ninterval = "2s"\n')
    config = load_config(cfg)
    store_path = tmp_path / "s.sqlite"
    doc = wait_for("the alert in Alertmanager", lambda: [
        a for a in get_json(am + "/api/v2/alerts") if a["labels"]["alertname"] == "QueueBacklog"], timeout=30)
    now = time.time()
    with Store(store_path) as store:
        sync_store(store, "am", [to_alert(a, "am", config, now) for a in parse_alerts(doc)], [], now)

    app = _app_of_opsdash_run(["run", "--no-collector", "--config", str(cfg), "--store", str(store_path)],
                              monkeypatch)
    # What the app's s and u keys run (ui/app.py passes app.alertmanager to these).
    sid = actions.silence(store_path, {"alertname": "QueueBacklog"}, 3600, "draining", time.time(),
                          mirror=app.alertmanager)
    with Store(store_path, readonly=True) as store:
        (local,) = store.active_silences(time.time())
    assert local.id == sid and local.external_id and local.external_id.startswith("am/")
    am_id = local.external_id.split("/", 1)[1]
    sil = next(s for s in get_json(am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "active" and sil["createdBy"] == "tester"
    assert f"[opsdash #{sid}]" in sil["comment"]

    assert actions.unsilence(store_path, [sid], time.time(), mirror=app.alertmanager) == 1
    sil = next(s for s in get_json(am + "/api/v2/silences") if s["id"] == am_id)
    assert sil["status"]["state"] == "expired"
    with Store(store_path, readonly=True) as store:
        assert not store.active_silences(time.time())
