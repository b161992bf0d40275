"""A figure's level comes from the rules in force: the built-ins, the user's [[rules]] over them,
per-target thresholds (SLOs, max_age); strictly past a threshold, as the engine compares."""

from __future__ import annotations

import math

from opsdash.alerts.rules import Rule, rules_from_config
from opsdash.alerts.severity import Severity, worst
from opsdash.config import parse_config
from opsdash.ui import data
from tests.support.ui_fixtures import NOW


def _sev(toml: str = "") -> Severity:
    return Severity.for_config(parse_config(toml))


def test_builtin_thresholds_are_the_rules_not_the_panes_old_numbers() -> None:
    sev = Severity.for_config(None)
    lv = lambda m, v, labels=None: sev.level(m, v, "h", labels)  # noqa: E731
    # disk 85/95 (per mount), cpu 90/98, memory 90/97, load per CPU 2/4
    assert [lv("host.disk_percent", v, {"mount": "/"}) for v in (80, 85, 85.1, 90, 95, 95.5)] == [
        "ok", "ok", "warning", "warning", "warning", "critical"]  # exactly at a threshold is not past it
    assert [lv("host.cpu_percent", v) for v in (85, 91, 99)] == ["ok", "warning", "critical"]
    assert [lv("host.mem_percent", v) for v in (88, 92, 97.5)] == ["ok", "warning", "critical"]
    assert [lv("host.load1_per_cpu", v) for v in (1.5, 2.5, 4.5)] == ["ok", "warning", "critical"]
    # op "<": cache hit rate warns under 0.8, critical under 0.5
    assert [lv("cache.hit_rate", v, {"cache": "c"}) for v in (0.9, 0.8, 0.7, 0.4)] == ["ok", "ok", "warning", "critical"]
    # a rule with only crit: critical past it (host-down on up = 0)
    assert lv("host.up", 0.0) == "critical" and lv("host.up", 1.0) == "ok"


def test_no_rule_is_none_and_no_value_is_unknown() -> None:
    sev = Severity.for_config(None)
    assert sev.level("patches.pending", 40, "h") == "none"  # no built-in rule on pending updates
    assert sev.level("host.swap_percent", 99, "h") == "none"
    assert sev.level("host.cpu_percent", None, "h") == "unknown"
    assert sev.level("host.cpu_percent", math.nan, "h") == "unknown"
    # availability-slo has thresholds only for endpoints with an SLO
    assert sev.level("endpoint.availability", 12.0, "e", {"vantage": "local"}) == "none"
    assert worst("none", "ok") == "ok" and worst("ok", "unknown", "warning") == "warning" and worst() == "none"


def test_user_rules_and_tune_written_thresholds_change_the_levels() -> None:
    # A new rule on the same metric adds to the built-in (the worst wins); a [[rules]] entry with a
    # built-in's name replaces its thresholds (as `tune --write` writes them).
    sev = _sev('[[rules]]\nname = "host-disk"\nmetric = "host.disk_percent"\nwarn = 70\ncrit = 80\n'
               '[[rules]]\nname = "cpu"\nmetric = "host.cpu_percent"\nwarn = 50\n')
    assert sev.level("host.disk_percent", 75, "db-2", {"mount": "/"}) == "warning"
    assert sev.level("host.disk_percent", 81, "db-2", {"mount": "/"}) == "critical"
    assert sev.level("host.cpu_percent", 60, "db-2") == "warning"
    assert sev.level("host.cpu_percent", 99, "db-2") == "critical"  # crit 98 kept: only warn was set
    off = _sev('[[rules]]\nname = "disk"\nmetric = "host.disk_percent"\nwarn = 85\nenabled = false\n')
    assert off.level("host.disk_percent", 99, "h", {"mount": "/"}) == "none"


def test_match_selects_by_tags_labels_and_target() -> None:
    sev = _sev('[[rules]]\nname = "db-disk"\nmetric = "host.disk_percent"\nwarn = 50\n'
               'match = { role = "db", mount = "/var/lib/*" }\n')
    db, web = {"role": "db"}, {"role": "web"}
    assert sev.level("host.disk_percent", 60, "db-1", {"mount": "/var/lib/pg"}, db) == "warning"
    assert sev.level("host.disk_percent", 60, "db-1", {"mount": "/"}, db) == "ok"
    assert sev.level("host.disk_percent", 60, "web-1", {"mount": "/var/lib/pg"}, web) == "ok"


def test_per_target_thresholds_from_the_config() -> None:
    sev = _sev('[[endpoints]]\nname = "shop"\nurl = "http://127.0.0.1:1/"\n'
               'slo = { availability = 99.9, ttfb_p95_ms = 300 }\n'
               '[[hosts]]\nname = "db-1"\naddress = "127.0.0.1"\n'
               '[[hosts.backups]]\nname = "pg"\nkind = "restic"\nrepository = "/r"\npassword_file = "/p"\nmax_age = "2h"\n')
    v = {"vantage": "local"}
    assert [sev.level("endpoint.ttfb_p95_ms", x, "shop", v) for x in (250, 350, 900)] == ["ok", "warning", "critical"]
    assert sev.level("endpoint.ttfb_p95_ms", 350, "other", v) == "ok"  # the built-in 400/800 elsewhere
    assert [sev.level("endpoint.availability", x, "shop", v) for x in (99.95, 99.5)] == ["ok", "warning"]
    b = {"backup": "pg"}
    assert [sev.level("backup.age_s", x, "db-1", b) for x in (3600, 3 * 3600, 5 * 3600)] == ["ok", "warning", "critical"]


def test_rules_are_indexed_by_metric_and_globs_still_apply() -> None:
    rules = [Rule("a", "host.cpu_percent", warn=10), Rule("b", "host.*", warn=20, crit=30),
             Rule("no-data", "*", warn=3.0), Rule("off", "host.cpu_percent", crit=1, enabled=False)]
    sev = Severity(rules)
    assert [r.name for r in sev.rules_for("host.cpu_percent")] == ["a", "b"]  # no-data is arrival, not a value
    assert sev.level("host.cpu_percent", 15, "h") == "warning"
    assert sev.level("host.mem_percent", 35, "h") == "critical"
    assert sev.level("endpoint.up", 0, "e") == "none"


def _host(name: str, disk: float, mount: str = "/", tags: dict | None = None) -> dict:
    h = {"cpu_percent": 10.0, "mem_percent": 20.0, "load1": 0.1, "cpus": 2, "uptime_s": 100,
         "disks": [{"mount": mount, "percent": disk}, {"mount": "/boot", "percent": 10.0}]}
    return {"target": name, "name": "", "t": NOW, "data": {"state": "ok", "health": h, "t": NOW, "interval": 15,
                                                          "tags": tags or {}}}


def test_the_health_pane_colours_by_the_rules_in_force() -> None:
    snap = data.Snapshot(now=NOW, hosts=[_host("db-2", 90.0), _host("db-3", 75.0), _host("web-1", 75.0)])
    # the db-2: 90% disk is a warning by the built-in disk rule (85/95), never ✖ CRIT
    rows = {r.ref.target: r for r in data.build_view(snap).rows["health"]}
    assert rows["db-2"].cells[0] == ("▲ warn", "warn") and rows["db-2"].cells[4] == ("90% /", "warn")
    assert rows["db-3"].cells[0][0] == "● up" and rows["db-3"].cells[4] == ("75% /", "ok")
    cfg = parse_config('[[rules]]\nname = "host-disk"\nmetric = "host.disk_percent"\nwarn = 70\ncrit = 80\n')
    rows = {r.ref.target: r for r in data.build_view(snap, severity=Severity(rules_from_config(cfg))).rows["health"]}
    assert rows["db-2"].cells[0] == ("✖ CRIT", "crit")
    assert rows["db-3"].cells[0] == ("▲ warn", "warn") and rows["db-3"].cells[4] == ("75% /", "warn")


def test_the_mount_shown_is_the_worst_by_its_rules() -> None:
    # /scratch at 97% is fine by its own rule (99); /var at 80% is past its rule's warn (70): /var is shown
    sev = _sev('[[rules]]\nname = "disk"\nmetric = "host.disk_percent"\nwarn = 85\ncrit = 95\nmatch = { mount = "/" }\n'
               '[[rules]]\nname = "scratch"\nmetric = "host.disk_percent"\nwarn = 99\nmatch = { mount = "/scratch" }\n'
               '[[rules]]\nname = "var"\nmetric = "host.disk_percent"\nwarn = 70\ncrit = 90\nmatch = { mount = "/var" }\n')
    h = _host("db-1", 80.0, "/var")
    h["data"]["health"]["disks"].append({"mount": "/scratch", "percent": 97.0})
    (row,) = data.build_view(data.Snapshot(now=NOW, hosts=[h]), severity=sev).rows["health"]
    assert row.cells[4] == ("80% /var", "warn") and row.cells[0] == ("▲ warn", "warn")


def test_figures_no_rule_covers_are_uncoloured() -> None:
    p = {"manager": "apt", "pending": 12, "security": 0, "reboot_required": False, "packages": []}
    snap = data.Snapshot(now=NOW, kind_rows={"patches": [{"target": "h", "name": "", "t": NOW,
                                                           "data": {"patches": p, "t": NOW, "interval": 3600}}]})
    (row,) = data.build_view(snap).rows["patches"]
    assert row.cells[0] == ("● pending", "ok") and row.cells[2] == ("12", "")  # no rule on pending updates
    sev = _sev('[[rules]]\nname = "pending"\nmetric = "patches.pending"\nwarn = 10\n')
    (row,) = data.build_view(snap, severity=sev).rows["patches"]
    assert row.cells[0] == ("▲ pending", "warn") and row.cells[2] == ("12", "warn")
