"""Remote text is shown literally: in the terminal, the once report, JSON, the UI and Markdown.

Hostile strings: Rich markup, CSI (clear screen), OSC 52 (clipboard write),
OSC 0 (window title), the 8-bit C1 CSI, BEL, backspaces, carriage return,
bidi overrides, line separators and invalid UTF-8. Wherever they end up,
none of their control characters may reach the output raw, and markup must
never be parsed.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from opsdash.report.snapshot import render_text
from opsdash.textsafe import clean
from opsdash.ui.safetext import join, safe

HOSTILE = {
    "rich": "[red]x[/]",
    "link": "[link=http://evil]y[/link]",
    "csi": "\x1b[2J",
    "osc52": "\x1b]52;c;aGk=\x07",
    "title": "\x1b]0;pwned\x07",
    "c1": "\x9b31m",
    "bel": "ding\x07",
    "bs": "abc\x08\x08\x08xyz",
    "cr": "ok\rFAKE OK",
    "bidi": "\u202eevil\u202c",
    "isolate": "\u2066x\u2069",
    "utf8": b"bad\xff\xfe\xc3(".decode("utf-8", errors="replace"),
    "nul": "a\x00b",
    "del": "a\x7fb",
    "lsep": "a\u2028b\u2029c",
    "newline": "line1\nline2",
    "tab": "a\tb",
    "bom": "\ufeffx",
}
EVERYTHING = "".join(HOSTILE.values())

# Written independently of textsafe: what must never reach a terminal raw.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]")
FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]")


def assert_inert(text: str, *, lines: bool = True) -> None:
    """No control character other than newline (the layout's own) and no ESC anywhere."""
    pattern = FORBIDDEN_MULTILINE if lines else FORBIDDEN
    bad = sorted({hex(ord(m.group(0))) for m in pattern.finditer(text)} - ({"0x9"} if lines else set()))
    assert not bad, f"raw control characters {bad} in {text[:300]!r}"


# --- textsafe.clean --------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_clean_one_line(key: str) -> None:
    out = clean(HOSTILE[key])
    assert_inert(out, lines=False)


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("\x1b[2J", "\\e[2J"),
        ("\x1b]52;c;aGk=\x07", "\\e]52;c;aGk=\\a"),
        ("\x1b]0;pwned\x07", "\\e]0;pwned\\a"),
        ("\x9b31m", "\\x9b31m"),
        ("abc\x08", "abc\\b"),
        ("ok\rFAKE", "ok\\rFAKE"),
        ("\u202eevil", "\\u202eevil"),
        ("a\x00b", "a\\x00b"),
        ("a\x7fb", "a\\x7fb"),
        ("line1\nline2", "line1\\nline2"),
        ("[red]x[/]", "[red]x[/]"),  # markup is the UI's job (safetext), clean keeps it as text
        (b"bad\xff\x1b", "bad\ufffd\\e"),  # invalid UTF-8 bytes decode with replacement
    ],
)
def test_clean_shows_a_visible_escape(raw: Any, shown: str) -> None:
    assert clean(raw) == shown


def test_clean_multiline_keeps_only_newline_and_tab() -> None:
    out = clean(EVERYTHING, multiline=True)
    assert "\n" in out and "\t" in out
    assert_inert(out)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text() | st.binary().map(bytes), st.booleans(), st.none() | st.integers(0, 50))
def test_clean_any_input(value: Any, multiline: bool, limit: int | None) -> None:
    out = clean(value, multiline=multiline, limit=limit)
    assert_inert(out, lines=multiline)
    if not multiline:
        assert "\n" not in out


# --- the once text report and its JSON -------------------------------------------------


def hostile_snapshot(evil: str = EVERYTHING) -> dict[str, Any]:
    """What snapshot.build returns, with remote text everywhere remote text can be."""
    return {
        "generated_at": "2026-11-22T06:50:53Z",
        "status": "critical",
        "hosts": [
            {
                "name": "ok-" + evil, "tags": {"role": evil}, "state": "ok", "error": evil,
                "health": {"cpu_percent": 1.0, "mem_percent": 2.0, "swap_percent": 0.0, "load1": 0.1, "load5": 0.1,
                           "load15": 0.1, "cpus": 2, "uptime_s": 100,
                           "disks": [{"mount": "/mnt/" + evil, "percent": 50.0, "free_bytes": 1, "total_bytes": 2,
                                      "filesystem": evil}]},
                "patches": {"manager": "apt", "pending": None, "security": None, "reboot_required": None,
                            "packages": None, "error": evil},
                "caches": [{"name": evil, "kind": "redis", "hit_rate": None, "error": evil}],
                "backups": [{"name": evil, "kind": "restic", "age_s": 5, "error": evil,
                             "restore_test": {"ok": False, "duration_s": 1.0, "detail": evil}}],
            },
            {"name": "down-" + evil, "tags": {}, "state": "unreachable", "error": evil, "health": None,
             "patches": {"manager": "apt", "pending": 3, "security": 1, "reboot_required": True, "packages": []},
             "caches": None, "backups": None},
        ],
        "endpoints": [
            {"name": evil, "url": "https://x/" + evil, "vantage": evil, "state": "error", "status": None,
             "ttfb_ms": None, "phases": None, "samples": 1, "p50_ms": None, "p95_ms": None, "p99_ms": None,
             "error_rate": 1.0, "cache": evil, "error": evil},
        ],
        "alerts": [
            {"id": evil, "rule": evil, "target": evil, "severity": "critical", "state": "firing", "since": None,
             "value": 1.0, "summary": evil, "runbook": evil, "tier": "L2", "acked": False, "ack_note": evil,
             "silenced": False, "flapping": False, "inhibited": False, "source": evil},
        ],
    }


def test_once_text_report_shows_remote_text_literally() -> None:
    out = render_text(hostile_snapshot())
    assert_inert(out)
    assert "\\e[2J" in out and "\\e]52;c;aGk=\\a" in out and "\\x9b" in out and "\\u202e" in out
    # no raw newline from the remote text starts a row of its own: the report has as many
    # lines as for the same text already escaped (long errors wrap; that is layout, not injection)
    assert len(out.splitlines()) == len(render_text(hostile_snapshot(clean(EVERYTHING))).splitlines())


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_once_text_report_each_string(key: str) -> None:
    assert_inert(render_text(hostile_snapshot(HOSTILE[key])))


def test_once_json_is_valid_and_escaped() -> None:
    snap = hostile_snapshot()
    raw = json.dumps(snap, indent=2)  # exactly what `opsdash once --format json` writes
    assert json.loads(raw) == snap
    assert raw.isascii()
    assert_inert(raw)


def test_once_cli_with_a_hostile_host_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: a config name with escapes (TOML \\u escapes), a real local poll, both formats."""
    from opsdash.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text('[[hosts]]\nname = "loc\\u001b]52;c;aGk=\\u0007\\u009b2J\\u202e[red]x[/]"\nprobes = ["local"]\n')
    for fmt in ("text", "json"):
        rc = main(["once", "--config", str(cfg), "--store", str(tmp_path / "s.sqlite"), "--format", fmt])
        out = capsys.readouterr()
        assert rc in (0, 1, 2), out.err
        assert_inert(out.out)
        assert_inert(out.err)
        if fmt == "json":
            doc = json.loads(out.out)
            assert doc["hosts"][0]["name"] == "loc\x1b]52;c;aGk=\x07\x9b2J\u202e[red]x[/]"  # intact, only escaped


def test_check_config_prints_names_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsdash.cli import main

    e = "\\u001b[2J\\u009b\\u202e"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[[hosts]]\nname = "h{e}"\nprobes = ["local"]\n\n'
        f'[[hosts]]\nname = "j{e}"\njump = "h{e}"\n\n'
        f'[[endpoints]]\nname = "ep{e}"\nurl = "https://x.test/{e}"\nvantage = ["h{e}"]\n\n'
        f'[[rules]]\nname = "r{e}"\nmetric = "host.cpu_percent"\nmatch = {{ role = "w{e}" }}\nwarn = 1\n'
    )
    rc = main(["check-config", "--config", str(cfg)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert_inert(out.out)
    unknown = tmp_path / "metric.toml"  # a metric that is no metric is an error, shown inert
    unknown.write_text(f'[[rules]]\nname = "r{e}"\nmetric = "m{e}"\nwarn = 1\n')
    assert main(["check-config", "--config", str(unknown)]) == 3
    assert_inert(capsys.readouterr().err)
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[hosts]]\nname = "h{e}"\nport = "p{e}"\nbogus{e[:0]} = 1\n')
    rc = main(["check-config", "--config", str(bad)])
    out = capsys.readouterr()
    assert rc == 3
    assert_inert(out.err)


# --- the UI's literal Text --------------------------------------------------------------


def _render(renderable: Any) -> str:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", width=400, legacy_windows=False).print(renderable)
    return buf.getvalue()


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_safe_text_is_literal(key: str) -> None:
    value = HOSTILE[key]
    t = safe(value)
    assert t.plain == clean(value)  # the visible-escaped form, markup and all
    assert not t.spans  # nothing was parsed into styles or links
    rendered = _render(t)
    assert "\x1b" not in rendered  # unstyled: Rich adds no sequences, the value brings none
    assert "\x1b]8;" not in rendered  # no hyperlink
    assert rendered.rstrip("\n") == clean(value)


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_safe_text_with_a_style_only_adds_our_own_sequences(key: str) -> None:
    value = HOSTILE[key]
    rendered = _render(safe(value, "bold red"))
    # strip Rich's own SGR sequences; what remains is exactly the escaped value
    assert re.sub(r"\x1b\[[0-9;]*m", "", rendered).rstrip("\n") == clean(value)
    assert "\x1b]" not in rendered


def test_safe_multiline_keeps_lines_but_nothing_else() -> None:
    t = safe(EVERYTHING, multiline=True)
    assert "\n" in t.plain and not t.spans
    assert_inert(t.plain)


def test_join_never_parses_markup() -> None:
    t = join("[bold]a[/bold]", ("[link=http://evil]b[/link]\x1b[2J", "red"), safe("[i]c[/i]"))
    assert t.plain == "[bold]a[/bold][link=http://evil]b[/link]\\e[2J[i]c[/i]"
    assert all(not getattr(s.style, "link", None) for s in t.spans)
    assert "\x1b]8;" not in _render(t)


# --- handover and escalation Markdown / JSON ----------------------------------------------


def _hostile_store(path: Path, now: float) -> Any:
    from opsdash.alerts import AlertEngine, Rule, queue
    from opsdash.model import Sample
    from opsdash.store import Store

    s = Store(path)
    evil = EVERYTHING + " rm | *bold* _it_ `x` <b>"
    target = "web-" + evil
    eng = AlertEngine([Rule(name="cpu", metric="host.cpu_percent", warn=90, crit=98, runbook="https://wiki/" + evil,
                            summary="cpu high " + evil)], store=s)
    eng.observe([Sample(now - 3000, target, "host.cpu_percent", 99.0)])
    eng.observe([Sample(now - 2000, "res-" + evil, "host.cpu_percent", 99.0)])
    eng.observe([Sample(now - 1000, "res-" + evil, "host.cpu_percent", 10.0)])
    alert = next(a for a in s.alerts(now=now) if a.target == target)
    queue.ack(s, alert.id, note="ack " + evil, who="who-" + evil, now=now - 2900)
    queue.silence(s, {"target": "res-" + evil}, 3600, note="sil " + evil, who="who-" + evil, now=now - 100)
    s.add_note("note " + evil, who="who-" + evil, target=target, t=now - 600)
    s.put_latest("patches", target, "", now - 300, {"patches": {
        "manager": "apt", "pending": 5, "security": 2, "reboot_required": True, "reboot_reason": "kernel " + evil,
        "packages": [{"name": "pkg-" + evil, "security": True}]}})
    s.put_latest("backup", target, "b-" + evil, now - 120, {
        "name": "b-" + evil, "kind": "restic", "age_s": 900000, "max_age": 93600, "error": evil,
        "restore_test": {"ok": False, "at": "2026-11-28T10:00:00Z", "detail": "mismatch " + evil}})
    return s, alert


def test_handover_markdown_and_json_are_literal(tmp_path: Path) -> None:
    from opsdash.report import handover

    now = 1_795_900_000.0
    s, _ = _hostile_store(tmp_path / "s.sqlite", now)
    try:
        r = handover.handover(s, None, since=8 * 3600, now=now)
    finally:
        s.close()
    md = handover.to_markdown(r)
    assert_inert(md)
    # clean's visible escape, then Markdown's escaping of its backslash: renders as \e[2J
    assert "\\\\e\\[2J" in md and "\\\\u202e" in md
    assert "[link=http://evil]" not in md and "\\[link=http://evil\\]" in md  # Markdown link syntax escaped
    assert "<b>" not in md
    raw = handover.to_json(r)
    assert json.loads(raw) == json.loads(json.dumps(r))
    assert_inert(raw)


def test_escalation_packet_markdown_and_json_are_literal(tmp_path: Path) -> None:
    from opsdash.report import escalation

    now = 1_795_900_000.0
    s, alert = _hostile_store(tmp_path / "s.sqlite", now)
    try:
        p = escalation.packet(s, alert, None, now=now)
    finally:
        s.close()
    md = escalation.to_markdown(p)
    assert_inert(md)
    assert "\\\\e\\[2J" in md
    assert "<b>" not in md
    raw = escalation.to_json(p)
    json.loads(raw)
    assert_inert(raw)
