"""The TUI's `e` shows the very packet `opsdash escalate` prints for the same alert:
one packet (report/escalation.py), escaped the same way, with the same config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opsdash.alerts import AlertEngine, alert_id, queue
from opsdash.alerts.rules import rules_from_config
from opsdash.cli import main
from opsdash.config import load_config
from opsdash.model import Sample
from opsdash.store import Store
from opsdash.ui.app import OpsdashApp
from opsdash.ui.dialogs import PacketScreen

EVIL = "tried *restart* | `kill -9` <x>\x1b]52;c;aGk=\x07"
T = 1_780_000_000.0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("USER", "ann")
    monkeypatch.delenv("NO_COLOR", raising=False)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[hosts]]\nname = "web-1"\nprobes = ["health"]\ntags = { role = "web" }\n\n'
        '[[rules]]\nname = "cpu"\nmetric = "host.cpu_percent"\nwarn = 90\ncrit = 98\nfor = "0s"\n'
        'runbook = "https://wiki.example.com/runbooks/cpu"\n'
    )
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        eng = AlertEngine(rules_from_config(load_config(cfg)), store=s)
        for i in range(30):
            t = T - 1800 + 60 * i
            v = 50.0 + i if i < 20 else 95.0
            eng.observe([Sample(t, "web-1", "host.cpu_percent", v)])
            s.write_samples([Sample(t, "web-1", "host.cpu_percent", v)])
        s.put_latest("host", "web-1", "", T - 30, {"name": "web-1", "state": "ok", "kernel": "6.1.0-18-amd64",
                                                  "health": {"cpu_percent": 95.0, "uptime_s": 864000}})
        aid = alert_id("cpu", "web-1")
        queue.ack(s, aid, note=EVIL, who="bob", now=T - 100)
        s.add_note("php-fpm restarted twice", who="bob", target="web-1", t=T - 50)
    return cfg, path, aid


async def _tui_packet(cfg: Path, path: Path) -> str:
    app = OpsdashApp(store_path=path, config=load_config(cfg), now=lambda: T, save_theme=False,
                     user_themes=path.parent / "no-themes", theme="opsdash-dark")
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if app.settled:
                break
        await pilot.press("6", "e")
        for _ in range(300):
            if isinstance(app.screen, PacketScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, PacketScreen), "the packet did not open"
        md = app.screen.markdown
        await pilot.press("escape")  # not recorded: the CLI below records it
    return md


async def test_tui_packet_is_the_cli_packet(env, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    cfg, path, aid = env
    tui = await _tui_packet(cfg, path)
    with Store(path, readonly=True) as s:
        assert not s.escalations(aid), "Esc must not record the escalation"

    monkeypatch.setattr(time, "time", lambda: T)  # the CLI escalates "now": the TUI's now
    assert main(["escalate", aid, "--config", str(cfg), "--store", str(path)]) == 0
    monkeypatch.undo()
    cli = capsys.readouterr().out

    assert tui == cli
    # The full packet, escaped: not a shorter summary with the ack note pasted raw.
    assert tui.startswith("## Escalated to L2: cpu on web-1")
    assert "### Last hour of host.cpu\\_percent" in tui and "| time (UTC) | value |" in tui
    assert "\x1b" not in tui and "\x07" not in tui
    assert "acked by bob: tried \\*restart\\* \\| \\`kill -9\\` \\<x\\>\\\\e\\]52;c;aGk=\\\\a" in tui
    assert "php-fpm restarted twice" in tui and "https://wiki.example.com/runbooks/cpu" in tui
