"""Holds in the alert engine, on a fake clock: a maintenance window over a host keeps its
alerts from paging (shown, with the reason) and lets them page when it ends; a parent
down keeps its dependants quiet, names them in its own summary, and its dependants wait
one interval plus their `for` after it comes back."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from opsdash.alerts.engine import engine_for
from opsdash.config import parse_config
from opsdash.model import Sample
from opsdash.store import Store

T0 = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.timezone.utc).timestamp()  # a Saturday, 02:00 in Berlin
IV = 15.0


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


WINDOW = """
[[hosts]]
name = "db-1"
tags = { role = "db" }
interval = "15s"
[[hosts]]
name = "web-1"
tags = { role = "web" }
interval = "15s"
[[maintenance]]
name = "sat-patching"
match = { role = "db" }
every = "sat 02:00"
duration = "2h"
tz = "Europe/Berlin"
"""


def down(engine, t: float, *targets: str) -> list:
    return engine.observe([Sample(t, x, "host.up", 0.0) for x in targets])


def up(engine, t: float, *targets: str) -> list:
    return engine.observe([Sample(t, x, "host.up", 1.0) for x in targets])


def by_target(engine) -> dict:
    return {a.target: a for a in engine.active() if a.rule == "host-down"}


def test_a_window_over_a_host_holds_its_page_and_releases_it_when_it_ends(tmp_path: Path) -> None:
    cfg = parse_config(WINDOW)
    with Store(tmp_path / "s.sqlite") as store:
        engine = engine_for(cfg, store)
        t = T0 + 600  # 02:10 Berlin: inside the window
        events = []
        for k in range(4):
            events += down(engine, t + k * IV, "db-1", "web-1")
        fired = {e.target: e for e in events if e.to_state == "firing"}
        assert fired["web-1"].notify and not fired["db-1"].notify  # the window holds db-1 only
        assert "suppressed: maintenance sat-patching" in fired["db-1"].reason
        a = by_target(engine)
        assert a["db-1"].state == "firing" and a["db-1"].suppressed_by == "maintenance sat-patching"
        assert a["web-1"].suppressed_by is None
        stored = {x.target: x for x in store.alerts(states=("firing",), now=t)}
        assert stored["db-1"].suppressed_by == "maintenance sat-patching"  # what the notifier reads
        assert stored["db-1"].to_json()["suppressed_by"] == "maintenance sat-patching"
        # 04:00 Berlin (03:00 UTC): the window ends while db-1 is still down
        end = T0 + 7200
        assert not [e for e in engine.tick(end - 1) if e.target == "db-1"]
        assert by_target(engine)["db-1"].suppressed_by is not None
        ev = [e for e in engine.tick(end) if e.target == "db-1"]
        assert len(ev) == 1 and ev[0].notify and "no longer suppressed" in ev[0].reason
        assert by_target(engine)["db-1"].suppressed_by is None
        assert {x.target: x for x in store.alerts(states=("firing",), now=end)}["db-1"].suppressed_by is None
        reasons = [tr.reason for tr in store.transitions(alert_id=a["db-1"].id)]
        assert any("suppressed: maintenance sat-patching" in r for r in reasons)
        assert any("no longer suppressed" in r for r in reasons)


def test_an_alert_that_fires_before_the_window_is_held_from_its_start(tmp_path: Path) -> None:
    cfg = parse_config(WINDOW)
    engine = engine_for(cfg)
    for k in range(3):
        down(engine, T0 - 120 + k * IV, "db-1")
    assert by_target(engine)["db-1"].suppressed_by is None
    engine.tick(T0)
    assert by_target(engine)["db-1"].suppressed_by == "maintenance sat-patching"


def test_the_window_follows_summer_time(tmp_path: Path) -> None:
    # 2027-04-03 is a Saturday in summer time: 02:00 Berlin is 00:00 UTC
    cfg = parse_config(WINDOW)
    engine = engine_for(cfg)
    t = dt.datetime(2027, 4, 3, 0, 5, tzinfo=dt.timezone.utc).timestamp()
    for k in range(3):
        down(engine, t + k * IV, "db-1")
    assert by_target(engine)["db-1"].suppressed_by == "maintenance sat-patching"
    engine.tick(dt.datetime(2027, 4, 3, 2, 0, tzinfo=dt.timezone.utc).timestamp())
    assert by_target(engine)["db-1"].suppressed_by is None


def deps_config(n: int = 10) -> str:
    text = '[[hosts]]\nname = "bastion"\ninterval = "15s"\n'
    for i in range(1, n + 1):
        text += f'[[hosts]]\nname = "app-{i:02d}"\njump = "bastion"\ninterval = "15s"\n'
    text += ('[[endpoints]]\nname = "shop"\nurl = "http://127.0.0.1:9/"\ninterval = "15s"\n'
             'depends_on = ["app-01"]\n')
    return text


def test_a_parent_down_holds_its_dependants_and_names_them(tmp_path: Path) -> None:
    cfg = parse_config(deps_config())
    apps = [f"app-{i:02d}" for i in range(1, 11)]
    with Store(tmp_path / "s.sqlite") as store:
        engine = engine_for(cfg, store)
        events = []
        for k in range(4):
            # the dependants' results land first in each poll: they must not page before the parent
            events += down(engine, T0 + k * IV, *apps)
            events += down(engine, T0 + k * IV + 1, "bastion")
        pages = [e for e in events if e.notify]
        assert [e.target for e in pages] == ["bastion"]
        a = by_target(engine)
        assert all(a[x].state == "firing" and a[x].suppressed_by == "bastion down" for x in apps)
        # the endpoint behind app-01 names the root of the outage
        summary = a["bastion"].summary
        assert "11 dependants suppressed: app-01, app-02" in summary and "app-10, shop" in summary
        stored = {x.target: x for x in store.alerts(states=("firing",), now=T0 + 60)}
        assert stored["bastion"].summary == summary and stored["bastion"].suppressed_by is None
        assert all(stored[x].suppressed_by == "bastion down" for x in apps)


def test_dependants_wait_an_interval_plus_their_for_after_the_parent_is_back(tmp_path: Path) -> None:
    cfg = parse_config(deps_config(2))
    engine = engine_for(cfg)
    for k in range(3):
        down(engine, T0 + k * IV, "app-01", "app-02", "bastion")
    t = T0 + 3 * IV
    ev = up(engine, t, "bastion")
    assert any(e.target == "bastion" and e.to_state == "resolved" for e in ev)
    a = by_target(engine)
    assert a["app-01"].suppressed_by.startswith("bastion back at") and "held until" in a["app-01"].suppressed_by
    # app-01 recovers within the hold-off: never paged; app-02 is still down after it: paged
    ev = up(engine, t + 5, "app-01") + down(engine, t + 5, "app-02")
    assert not [e for e in ev if e.notify]
    ev = engine.tick(t + IV - 1)
    assert not [e for e in ev if e.notify]
    ev = engine.tick(t + IV + 2)  # host-down has no `for`: one interval (learned: 16 s here)
    assert [e.target for e in ev if e.notify] == ["app-02"]
    assert by_target(engine)["app-02"].suppressed_by is None


def test_a_parent_only_pending_holds_a_dependant_until_it_decides(tmp_path: Path) -> None:
    cfg = parse_config(deps_config(1))
    engine = engine_for(cfg)
    down(engine, T0, "app-01")
    ev = down(engine, T0 + IV, "app-01") + down(engine, T0 + IV, "bastion")  # app-01 fires; bastion pending
    assert [e for e in ev if e.target == "app-01" and e.to_state == "firing" and not e.notify]
    assert by_target(engine)["app-01"].suppressed_by == "bastion down?"
    ev = up(engine, T0 + 2 * IV, "bastion")  # bastion was fine after all: app-01 pages now
    assert [e.target for e in ev if e.notify] == ["app-01"]
