"""The UI's pure parts: safe text, the view-model (sorting, stale, filter), theme files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsdash.ui import data
from opsdash.ui.safetext import safe
from tests.support import REPO
from tests.support.ui_fixtures import HOSTILE, NOW, build_store


def test_safe_text_is_literal_and_escapes_controls():
    t = safe("[red]x[/red] [link=http://e]y[/link]")
    assert t.plain == "[red]x[/red] [link=http://e]y[/link]"
    assert not t.spans
    assert safe("\x1b]52;c;aGk=\x07").plain == "\\e]52;c;aGk=\\a"
    assert safe("\x1b[2J").plain == "\\e[2J"
    assert safe("a\x9b31mb").plain == "a\\x9b31mb"
    assert safe("line1\nline2").plain == "line1\\nline2"
    assert safe("line1\nline2\x1b", multiline=True).plain == "line1\nline2\\e"
    assert "\ufffd" in safe(b"bad\xff").plain
    assert "\u202e" not in safe("evil\u202eexe").plain


def test_import_hygiene_view_model_has_no_textual():
    code = (
        "import sys, opsdash.store, opsdash.stats, opsdash.model, opsdash.config, "
        "opsdash.ui.data, opsdash.ui.actions, opsdash.ui.safetext; "
        "assert 'textual' not in sys.modules, 'textual imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def snap(tmp_path: Path) -> data.Snapshot:
    from opsdash.store import Store

    build_store(tmp_path / "s.sqlite", NOW)
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        return data.load_snapshot(store, NOW, data.SparkCache())


def test_rows_sort_worst_first_and_say_it_in_words(snap: data.Snapshot):
    view = data.build_view(snap)
    health = view.rows["health"]
    levels = [r.level for r in health]
    assert levels == sorted(levels, reverse=True)
    first = {r.ref.target: r.cells[0][0] for r in health}
    assert first["web-3"] == "✖ down"
    assert first["cache-2"] == "✖ auth"
    assert first["db-1"] == "▲ warn"  # disk 93%: past the built-in disk rule's warn (85), under its crit (95)
    assert first["batch-1"] == "▲ warn"  # CPU 97%: past cpu's warn (90), under its crit (98)
    assert first["web-1"] == "● up"
    backups = view.rows["backups"]
    assert backups[0].ref.target == "db-1" and "FAILED" in backups[0].cells[2][0]
    alerts = view.rows["alerts"]
    assert alerts[0].cells[1][0] == "firing" and alerts[-1].cells[1][0] == "resolved"
    acked = next(r for r in alerts if r.ref.name == "a-db1-disk")
    assert acked.cells[5][0] == "acked"
    assert view.summary.hosts_total == 12 and view.summary.hosts_up == 9
    assert view.summary.crit == 2 and view.summary.warn == 1 and view.summary.acked == 1


def test_stale_after_three_intervals(snap: data.Snapshot):
    view = data.build_view(snap)
    old = next(r for r in view.rows["health"] if r.ref.target == "old-1")
    assert old.cells[0] == ("◌ up", "stale")  # stale, with the last known state (dimmed)
    assert all(level == "stale" for _, level in old.cells)
    assert data.is_stale(NOW - 46, 15, NOW) and not data.is_stale(NOW - 44, 15, NOW)
    later = data.Snapshot(**{**snap.__dict__, "now": NOW + 3600})
    view = data.build_view(later)
    assert all(r.cells[0][0].startswith("◌ ") and r.cells[0][1] == "stale" for r in view.rows["health"])
    assert view.summary.hosts_up == 0


def test_every_pane_keeps_the_last_known_state_word_when_stale(snap: data.Snapshot):
    fresh = data.build_view(snap)
    later = data.build_view(data.Snapshot(**{**snap.__dict__, "now": NOW + 30 * 86400}))
    for pane in ("health", "latency", "cache", "patches"):  # states that do not depend on age
        was = {r.key: r.cells[0][0] for r in fresh.rows[pane]}
        assert later.rows[pane], pane
        for r in later.rows[pane]:
            word = was[r.key].split(" ", 1)[1]
            assert r.cells[0] == (f"◌ {word}", "stale"), (pane, r.key)
    assert all(r.cells[0][0].startswith("◌ ") for r in later.rows["backups"])
    # a failed restore test is still visible as such while stale
    db1 = next(r for r in later.rows["backups"] if r.ref.target == "db-1")
    assert db1.cells[0][0] == "◌ RESTORE" and "FAILED" in db1.cells[2][0]


def test_latency_and_cache_have_sparklines(snap: data.Snapshot):
    view = data.build_view(snap)
    lat = next(r for r in view.rows["latency"] if r.ref.target == "shop-home" and r.ref.name == "local")
    assert len(lat.cells[8][0]) == 10 and set(lat.cells[8][0]) <= set("▁▂▃▄▅▆▇█")
    assert [c[0] for c in lat.cells[3:6]] == ["120", "310", "520"]
    cache = next(r for r in view.rows["cache"] if r.ref.name == "pages")
    assert cache.cells[0][0] == "✖ LOW" and cache.cells[5][0].strip()


def test_filter_text_and_tags(snap: data.Snapshot):
    view = data.build_view(snap)
    health = view.rows["health"]

    def names(text: str) -> list[str]:
        m = data.compile_filter(text)
        return sorted(r.ref.target for r in health if m(r))

    assert names("role=db") == ["db-1", "db-2"]
    assert names("role=db region=us-east") == ["db-2"]
    assert names("web") == ["web-1", "web-2", "web-3"]
    assert names("stale") == ["old-1"]
    assert names("host=bastion") == ["bastion"]
    assert names("nosuch=tag") == []
    assert len(names("")) == 12


def test_themes_load_from_repo_and_user_dir(tmp_path: Path):
    from opsdash.ui.themes import BUILTIN_ORDER, load_themes, theme_cycle

    (tmp_path / "night.toml").write_text('name = "night"\nprimary = "#112233"\ndark = true\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (tmp_path / "unknown.toml").write_text('name = "x"\nprimary = "#000000"\nflavour = "mint"\n')
    themes, problems = load_themes(tmp_path)
    assert set(BUILTIN_ORDER) <= set(themes)
    assert themes["night"].primary == "#112233"
    assert len(problems) == 2 and any("not a colour" in p for p in problems) and any("flavour" in p for p in problems)
    assert theme_cycle(themes) == [*BUILTIN_ORDER, "night"]


def test_theme_files_ship_in_the_wheel_layout():
    # pyproject force-includes themes/ as opsdash/themes; the loader reads either place.
    from opsdash.ui import themes as th

    repo = th._repo_dir()
    assert repo is not None and {p.stem for p in repo.glob("*.toml")} >= set(th.BUILTIN_ORDER)
    text = REPO.joinpath("pyproject.toml").read_text()
    assert '"themes" = "opsdash/themes"' in text


def test_hostile_values_stay_in_their_cell(tmp_path: Path):
    from opsdash.store import Store

    build_store(tmp_path / "h.sqlite", NOW, hostile=True)
    with Store(tmp_path / "h.sqlite", readonly=True) as store:
        view = data.build_view(data.load_snapshot(store, NOW, data.SparkCache()))
    texts = [safe(text).plain for rows in view.rows.values() for r in rows for text, _ in r.cells]
    assert any("[red]x[/red]" in t for t in texts)
    assert not any("\x1b" in t or "\x07" in t or "\x9b" in t for t in texts)
    assert HOSTILE


def test_pending_alerts_sort_by_time_to_fire() -> None:
    from opsdash.model import Alert

    now = NOW
    snap = data.Snapshot(now=now)
    snap.alerts = [
        Alert("a1", "security-updates", "web-1", "warning", "pending", now - 3600, 4.0),  # for 7d: days to go
        Alert("a2", "ttfb-p95", "checkout", "warning", "pending", now - 90, 517.0),  # for 2m: 30 s to go
        Alert("a3", "disk", "db-2", "critical", "firing", now - 60, 97.0),
    ]
    view = data.build_view(snap, rule_for={"security-updates": 7 * 86400, "ttfb-p95": 120})
    assert [r.ref.name for r in view.rows["alerts"]] == ["a3", "a2", "a1"]
    # the Since column of a pending alert says when it fires; a firing one, how long it has
    since = {r.ref.name: r.cells[4][0] for r in view.rows["alerts"]}
    assert since == {"a3": data.fmt_age(60), "a2": "in " + data.fmt_age(30), "a1": "in " + data.fmt_age(7 * 86400 - 3600)}


def _slo_severity(**slos: tuple[float, float]) -> "Severity":
    """The rules in force for endpoints with these SLOs (availability %, ttfb_p95_ms): SLOs live in the rules."""
    from opsdash.alerts.severity import Severity
    from opsdash.config import parse_config

    toml = "".join(f'[[endpoints]]\nname = "{n}"\nurl = "http://127.0.0.1:1/"\n'
                   f'slo = {{ availability = {a}, ttfb_p95_ms = {p} }}\n' for n, (a, p) in slos.items())
    return Severity.for_config(parse_config(toml))


def test_latency_state_names_the_cause(snap: data.Snapshot):
    # Failing requests and a slow p95 are different pages to look at: the word says which.
    view = data.build_view(snap, severity=_slo_severity(**{"api-login": (99.9, 400)}))
    api = next(r for r in view.rows["latency"] if r.ref.target == "api-login")
    # availability 99.5% under its 99.9% SLO and p95 640 ms over 400: both warnings (availability-slo
    # has no crit; ttfb-p95's crit is 800), and the failing requests name it
    assert api.cells[0][0] == "▲ errors"
    assert (api.cells[4][1], api.cells[6][1], api.cells[7][1]) == ("warn", "warn", "ok")  # p95, avail, err 1% (not > 1%)
    sev = _slo_severity(e=(99.0, 400))

    def state_of(p95: float, err: float, avail: float) -> str:
        d = {"state": "ok", "p50_ms": 10, "p95_ms": p95, "p99_ms": p95, "error_rate": err, "availability": avail,
             "t": NOW, "interval": 15, "vantage": "local", "slo": {"availability": 99.0, "ttfb_p95_ms": 400}}
        s = data.Snapshot(now=NOW, endpoints=[{"target": "e", "name": "local", "t": NOW, "data": d}])
        (row,) = data.build_view(s, severity=sev).rows["latency"]
        return row.cells[0][0]

    assert state_of(20, 0.0, 100.0) == "● ok"
    assert state_of(500, 0.0, 100.0) == "▲ slow"
    assert state_of(900, 0.0, 100.0) == "✖ SLOW"
    assert state_of(20, 0.02, 100.0) == "▲ errors"
    assert state_of(20, 0.12, 87.5) == "✖ ERRORS"  # the demo's flapping status page
    assert state_of(900, 0.02, 100.0) == "✖ SLOW"  # the worse of the two names it
    # Availability is a percent everywhere (the metric, the row): 1.0 is 1 %, never read as 100 %.
    assert state_of(20, 0.0, 1.0) == "▲ errors"  # under its 99 % SLO (availability-slo has no crit)
