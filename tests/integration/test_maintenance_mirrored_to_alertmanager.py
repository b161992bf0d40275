"""A running maintenance window is mirrored to a real Alertmanager (the Debian
prometheus-alertmanager binary on loopback, stopped by PID) as one silence that ends with
the window: polled again, it is not created twice, and it is not copied back into the
store as a local silence."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from opsdash.collect.alertmanager import mirror_windows, parse_silences, parse_time, sync_store
from opsdash.config import parse_config
from opsdash.model import iso
from opsdash.store import Store
from tests.support.source_stack import Stack

pytestmark = pytest.mark.integration


def test_a_running_window_is_one_silence_there_until_it_ends(alertmanager: Stack, tmp_path: Path) -> None:
    start = int(time.time()) - 60
    cfg = parse_config(
        '[[hosts]]\nname = "db-1"\naddress = "10.0.0.5"\ntags = { role = "db" }\n'
        f'[[sources]]\nkind = "alertmanager"\nname = "am"\nurl = "{alertmanager.am}"\n'
        f'[[maintenance]]\nname = "patching"\nmatch = {{ target = "db-1", rule = "host-down" }}\n'
        f'start = "{iso(start)}"\nduration = "2h"\n')
    src = cfg.sources[0]

    def listed():
        return [s for s in parse_silences(httpx.get(alertmanager.am + "/api/v2/silences", timeout=5).json())
                if s.state == "active" and "maintenance patching" in s.comment]

    made = asyncio.run(mirror_windows(src, cfg, cfg.maintenance, listed(), time.time()))
    assert len(made) == 1
    (sil,) = listed()
    assert sil.ends_at == pytest.approx(start + 7200, abs=1)
    by_name = {m["name"]: m for m in sil.matchers}
    assert by_name["alertname"]["value"] == "host-down"
    assert by_name["instance"]["isRegex"] and "10\\.0\\.0\\.5" in by_name["instance"]["value"]
    # the next poll finds it listed: nothing new
    assert asyncio.run(mirror_windows(src, cfg, cfg.maintenance, listed(), time.time())) == []
    assert len(listed()) == 1
    with Store(tmp_path / "s.sqlite") as store:
        sync_store(store, "am", [], listed(), time.time())
        assert store.active_silences(time.time()) == []
    assert parse_time(iso(start)) == start
