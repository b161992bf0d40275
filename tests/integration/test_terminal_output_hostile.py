"""Nothing a remote host sends reaches the terminal raw, whichever command prints it.

A real sshd plays a hostile host: its shell prints a banner full of escape
sequences, and its ``df`` reports a mount whose name carries OSC 0 (window
title), CSI 2J (clear screen), OSC 52 (clipboard write), BEL, an 8-bit C1
CSI, a bidi override and Rich markup. ``opsdash collect`` polls it into a real
store (the disk alert fires with the mount in its labels and summary), and
the store API adds what other remote sources bring (a host name from a
Prometheus target, acks, notes, silences, backup and patch rows).

Then EVERY subcommand of ``opsdash.cli.build_parser`` runs over that store and
config: a command added later is run too (with no arguments unless it is in
ARGS), so the guarantee does not depend on each command remembering to clean.
The bytes of stdout and stderr are checked: no ESC, BEL, C0/C1 control other
than newline and tab, no bidi control. JSON output is still valid JSON and
holds the remote values intact. The TUI is checked through Textual's pilot.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from opsdash.cli import build_parser, main
from opsdash.store import Store
from tests.support.sshd import SSHD, Sshd, start_sshd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("ssh-keygen") or not Path(SSHD).exists(), reason="openssh-server not installed"),
]

# What a hostile host puts in a mount name (a mount point may hold any byte but / and NUL).
EVIL = ("\x1b]0;pwned\x07" "\x1b[2J" "\x1b]52;c;aGk=\x07" "ding\x07" "\x9b31m" "\u202egnp.exe\u202c"
        "[red]x[/red][link=http://evil]y[/link]")
MOUNT = "/mnt/" + EVIL
MARKUP_MOUNT = "/mnt/[red]x[/red][link=http://evil]y[/link]"  # short enough to show whole in a pane
FS = "/dev/\x1b[31mevil"
BANNER = "Welcome \x1b]0;owned\x07\x1b[2J\x9b1m\u202e\n"
HOST = "web-1"
PROM_HOST = "node-" + EVIL  # a host name as a Prometheus target's instance label brings it

# Written independently of textsafe: what must never reach a terminal raw.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# How the escapes must show instead.
VISIBLE = ("\\e]0;pwned\\a", "\\e[2J", "\\e]52;c;aGk=\\a")

# Arguments per subcommand ({alert}, {samples}, {new_config} are filled in). A command
# not listed runs with none; "run" and "demo" hand the terminal to Textual (see the pilot test).
ARGS: dict[str, list[list[str]]] = {
    "alerts": [[], ["--all"], ["--group-by", "rule"], ["--group-by", "mount"], ["--format", "json"]],
    "ack": [["{alert}", "--note", "on it"]],
    "unack": [["{alert}"]],
    "silence": [["--match", "rule=disk", "--for", "1h", "--note", "maintenance"]],
    "unsilence": [["{silence}"]],
    "escalate": [["{alert}"], ["{alert}", "--format", "json"]],
    "handover": [[], ["--format", "json"]],
    "note": [["handing over", "--target", HOST]],
    "once": [[], ["--format", "json"]],
    "tune": [["--since", "1d"], ["--samples", "{samples}"], ["--samples", "{samples}", "--format", "json"]],
    "replay": [["{samples}"], ["{samples}", "--format", "json"]],
    "check-config": [[]],
    "collect": [["--duration", "1s"]],
    "init": [["--config", "{new_config}"], ["--systemd"]],
    # An incident about the hostile host: its proposals and timeline carry the remote text.
    "incident": [["open", "web-1 disk " + EVIL, "--severity", "P1"], ["list"], ["link", "1", "{alert}"],
                 ["note", "1", "tried " + EVIL], ["show", "1"], ["show", "1", "--format", "json"],
                 ["escalate", "1"]],
    "postmortem": [["1"]],
    "notify": [["status"], ["status", "--format", "json"]],
    "sla": [[], ["--format", "json"]],
    "noise": [[], ["--format", "json"]],
}
TUI_ONLY = {"run", "demo", "web"}  # web serves the TUI to browser tabs until stopped (its own tests)


def subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def assert_inert(where: str, data: bytes) -> str:
    text = data.decode("utf-8")  # strict: what reaches the terminal is valid UTF-8 too
    bad = sorted({f"U+{ord(m.group(0)):04X}" for m in FORBIDDEN.finditer(text)})
    assert not bad, f"{where}: raw control characters {bad} in {text[:400]!r}"
    return text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("hostile")
    server = start_sshd(base / "sshd")
    home = server.dir / "home"
    (home / "bin").mkdir()
    # The user's shell startup (bash sources ~/.bashrc for every command sshd starts):
    # a banner, and our own df first on PATH.
    (server.dir / "banner.txt").write_bytes(BANNER.encode())
    (home / ".bashrc").write_text(f"cat {server.dir / 'banner.txt'}\nexport PATH={home / 'bin'}:$PATH\n")
    (server.dir / "df.txt").write_bytes((
        "Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
        f"{FS}        1000000   970000     30000      97% {MOUNT}\n"
        f"/dev/vdb1        1000000   960000     40000      96% {MARKUP_MOUNT}\n"
        "/dev/vda1        1000000   100000    900000      10% /\n").encode())
    df = home / "bin" / "df"
    df.write_text(f"#!/bin/sh\ncat {server.dir / 'df.txt'}\n")
    df.chmod(0o755)
    cfg = base / "hostile.toml"
    cfg.write_text(server.host_toml(HOST, probes=["health"], interval="1s", timeout=10) + (
        '\n[[rules]]\nname = "disk"\nmetric = "host.disk_percent"\nwarn = 85\ncrit = 95\nfor = "0s"\nsummary = "disk {mount} on {target} at {value:.0f}%"\n'))
    store = base / "s.sqlite"
    try:
        assert main(["collect", "--config", str(cfg), "--store", str(store), "--duration", "3s"]) == 0
        _more_remote_text(store, cfg)
        with Store(store) as s:
            alerts = s.alerts(states=("pending", "firing"), now=time.time())
        disk = next(a for a in alerts if a.rule == "disk")
        assert disk.labels["mount"] == MOUNT and MOUNT in disk.summary  # stored intact, escaped on the way out
        samples = base / "samples.jsonl"
        samples.write_text("".join(
            json.dumps({"t": 1_795_900_000 + 60 * i, "target": PROM_HOST, "metric": "host.disk_percent",
                        "value": 99.0 if i % 7 < 4 else 10.0, "labels": {"mount": MOUNT}}) + "\n"
            for i in range(60)))
        yield {"server": server, "config": cfg, "store": store, "alert": disk.id, "samples": samples, "base": base}
    finally:
        server.stop()


def _more_remote_text(path: Path, cfg: Path) -> None:
    """What other remote sources put in the store, through the same API they use."""
    from opsdash.alerts import queue
    from opsdash.alerts.engine import engine_for
    from opsdash.config import load_config
    from opsdash.model import Sample

    now = time.time()
    with Store(path) as s:
        engine_for(load_config(cfg), s).observe([Sample(now - 120, PROM_HOST, "host.disk_percent", 99.0,
                                                        {"mount": MOUNT})])
        a = next(a for a in s.alerts(now=now) if a.target == PROM_HOST)
        queue.ack(s, a.id, note="ack " + EVIL, who="who-" + EVIL, now=now - 60)
        s.add_note("note " + EVIL, who="who-" + EVIL, target=PROM_HOST, t=now - 30)
        s.put_latest("patches", HOST, "", now - 30, {"patches": {
            "manager": "apt", "pending": 2, "security": 1, "reboot_required": True, "reboot_reason": EVIL,
            "packages": [{"name": "pkg-" + EVIL, "security": True}]}})
        s.put_latest("backup", HOST, "b-" + EVIL, now - 30, {
            "name": "b-" + EVIL, "kind": "command", "age_s": 900000, "max_age": 93600, "error": EVIL,
            "restore_test": {"ok": False, "at": "2026-11-28T10:00:00Z", "detail": "mismatch " + EVIL}})


def _fill(arg: str, hostile: dict[str, Any], tmp: Path) -> str:
    if arg == "{silence}":
        with Store(hostile["store"]) as s:
            return str(max(x.id for x in s.silences(since=0)))
    return arg.format(alert=hostile["alert"], samples=hostile["samples"], new_config=tmp / "new.toml")


def test_every_command_prints_remote_text_inertly(hostile: dict[str, Any], tmp_path: Path,
                                                 capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    common = ["--config", str(hostile["config"]), "--store", str(hostile["store"])]
    commands = [c for c in subcommands() if c not in TUI_ONLY]
    assert {"alerts", "once", "handover", "escalate", "tune", "check-config"} <= set(commands)
    outputs: dict[str, str] = {}
    for name in commands:
        for extra in ARGS.get(name, [[]]):
            argv = [name, *common, *(_fill(a, hostile, tmp_path) for a in extra)]
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse: a new command that needs arguments
                raise AssertionError(f"`opsdash {name}` needs arguments: add them to ARGS ({e})") from None
            out = capfdbinary.readouterr()
            where = "opsdash " + " ".join(argv[:1] + argv[len(common) + 1:])
            assert rc in (0, 1, 2, 3), where
            stdout = assert_inert(where + " (stdout)", out.out)
            assert_inert(where + " (stderr)", out.err)
            outputs[" ".join([name, *extra])] = stdout
            if "json" in extra:
                json.loads(stdout)  # still valid JSON after the sanitiser
    # The escapes are shown, visibly, where the remote text is printed.
    for key in ("alerts", "alerts --group-by rule", "alerts --group-by mount", "once", "handover", "escalate {alert}"):
        text = outputs[key]
        if key.startswith(("handover", "escalate")):  # Markdown: its own backslash escapes undone
            text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", text)
        for shown in VISIBLE:
            assert shown in text, f"{key}: {shown!r} not shown in {text[:600]!r}"
        # markup shown as text (long lines wrap): never parsed, never dropped
        assert "[red]x[/red][link=http://evil]y[/link]" in re.sub(r"\s+", "", text), key
    # JSON carries the remote values intact (escaped as JSON, not mangled).
    alerts = json.loads(outputs["alerts --format json"])["alerts"]
    assert any(a.get("labels", {}).get("mount") == MOUNT for a in alerts)
    once = json.loads(outputs["once --format json"])
    assert [d["mount"] for d in once["hosts"][0]["health"]["disks"]][0] == MOUNT
    assert once["hosts"][0]["state"] == "ok"  # the banner did not hide the reply either


def test_the_writer_passes_clean_text_unchanged_and_keeps_json_valid() -> None:
    from opsdash.textsafe import clean, for_terminal

    for text in (clean(EVIL), clean(EVIL, multiline=True), "plain\ttext\nlines\n", "ünïcödé — ok"):
        assert for_terminal(text) == text  # no double escaping of what a command cleaned itself
    assert for_terminal(for_terminal(EVIL)) == for_terminal(EVIL)
    doc = {"mount": MOUNT, "banner": BANNER}
    for ensure_ascii in (True, False):
        raw = json.dumps(doc, ensure_ascii=ensure_ascii)
        assert json.loads(for_terminal(raw)) == doc


async def test_the_tui_shows_the_hostile_host_literally(hostile: dict[str, Any]) -> None:
    from opsdash.ui.app import OpsdashApp
    from opsdash.ui.data import PANES
    from tests.support.ui_app import ready, screen_text

    app = OpsdashApp(store_path=hostile["store"], save_theme=False, theme="opsdash-dark",
                     user_themes=hostile["base"] / "no-themes")
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(pilot)
        seen = ""
        for i, _ in enumerate(PANES):
            await pilot.press(str(i + 1))
            await pilot.pause(0.05)
            seen += screen_text(app)
    assert not FORBIDDEN.search(seen), sorted({hex(ord(c)) for c in FORBIDDEN.findall(seen)})
    assert "\\e]0;pwned\\a" in seen and "\\e[2J" in seen  # the mount name, shown not obeyed
    assert "/mnt/[red]x[/red][link=http" in seen  # markup shown as text, never parsed
