"""Config: strict validation, every problem at once, one clear line each, exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsdash.config import (
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    set_theme,
    update_config,
)
from opsdash.errors import ConfigError

GOOD = """\
[opsdash]
retention = "7d"

[defaults]
interval = "20s"
user = "ops"

[[hosts]]
name = "bastion"
address = "10.0.0.1"

[[hosts]]
name = "web-1"
jump = "bastion"
tags = { role = "web" }
probes = ["health", "patches"]

  [[hosts.caches]]
  name = "sessions"
  kind = "redis"
  address = "127.0.0.1:6379"

  [[hosts.backups]]
  name = "etc"
  kind = "restic"
  repository = "/srv/restic"
  restore_test = { every = "24h", sample = "etc/hostname" }

[[endpoints]]
name = "home"
url = "https://example.com/"
vantage = ["local", "web-1"]
slo = { availability = 99.9, ttfb_p95_ms = 400 }

[[rules]]
name = "ttfb-p95"
metric = "endpoint.ttfb_p95_ms"
warn = 400
crit = 800
clear = 300
for = "2m"
flap = { low = 20, high = 30 }
"""

# (what is broken, the config text, what the one line must name)
BROKEN = [
    ("syntax error", 'name = "x\n', "TOML syntax error"),
    ("unknown top-level key", "[hostz]\n", 'hostz: unknown key (did you mean "hosts"?)'),
    ("unknown host key", '[[hosts]]\nname = "a"\nadress = "x"\n', 'hosts[0].adress: unknown key (did you mean "address"?)'),
    ("bad duration", '[[hosts]]\nname = "a"\ninterval = "5 minutes"\n', "hosts[0].interval: expected a duration"),
    ("duplicate host", '[[hosts]]\nname = "a"\n[[hosts]]\nname = "a"\n', 'hosts[1].name: duplicate name "a"'),
    ("unknown jump host", '[[hosts]]\nname = "a"\njump = "nowhere"\n', "hosts[0].jump: expected a host name"),
    ("port out of range", '[[hosts]]\nname = "a"\nport = 70000\n', "hosts[0].port: expected an integer 1-65535, got 70000"),
    ("port wrong type", '[[hosts]]\nname = "a"\nport = "abc"\n', 'hosts[0].port: expected an integer 1-65535, got "abc"'),
    ("missing host name", '[[hosts]]\naddress = "x"\n', "hosts[0].name: is required"),
    ("bad probe", '[[hosts]]\nname = "a"\nprobes = ["helth"]\n', "hosts[0].probes: expected probes from"),
    ("bad host key policy", '[[hosts]]\nname = "a"\nhost_key_policy = "yolo"\n', "hosts[0].host_key_policy: expected one of"),
    ("bad cache kind", '[[hosts]]\nname = "a"\n[[hosts.caches]]\nname = "c"\nkind = "redys"\naddress = "x"\n',
     "hosts[0].caches[0].kind: expected one of"),
    ("restic without repository", '[[hosts]]\nname = "a"\n[[hosts.backups]]\nname = "b"\nkind = "restic"\n',
     "hosts[0].backups[0].repository: is required"),
    ("endpoint bad url", '[[endpoints]]\nname = "e"\nurl = "shop.example.com"\n', "endpoints[0].url: expected an http:// or https:// URL"),
    ("endpoint unknown vantage", '[[endpoints]]\nname = "e"\nurl = "http://x/"\nvantage = ["mars"]\n',
     'endpoints[0].vantage[0]: expected "local" or a host name'),
    ("bad status list", '[[endpoints]]\nname = "e"\nurl = "http://x/"\nexpect_status = [999]\n', "endpoints[0].expect_status"),
    ("rule without thresholds", '[[rules]]\nname = "r"\nmetric = "host.cpu_percent"\n', "rules[0]: expected at least one of warn or crit"),
    ("rule bad op", '[[rules]]\nname = "r"\nmetric = "m"\nwarn = 1\nop = ">="\n', 'rules[0].op: expected one of ">", "<"'),
    ("flap low above high", '[[rules]]\nname = "r"\nmetric = "m"\nwarn = 1\nflap = { low = 40, high = 30 }\n',
     "rules[0].flap: expected low < high"),
    ("retention not a duration", '[opsdash]\nretention = true\n', "opsdash.retention: expected a duration"),
    ("jump loop", '[[hosts]]\nname = "a"\njump = "b"\n[[hosts]]\nname = "b"\njump = "a"\n', "jump chain loops back"),
    ("wrong type for tags", '[[hosts]]\nname = "a"\ntags = "web"\n', "hosts[0].tags: expected a table of strings"),
    ("header name with a space", '[[endpoints]]\nname = "e"\nurl = "http://x/"\nheaders = { "X Bad" = "1" }\n',
     "endpoints[0].headers: expected an HTTP header name"),
    ("header value with a line break", '[[endpoints]]\nname = "e"\nurl = "http://x/"\n'
     'headers = { Authorization = "Bearer s3cret\\nX-Injected: 1" }\n',
     "endpoints[0].headers: expected one line per header, but 'Authorization' holds a line break"),
]


def test_good_config_loads_with_defaults_inherited() -> None:
    cfg = parse_config(GOOD)
    web = cfg.host("web-1")
    assert web is not None and web.interval == 20.0 and web.user == "ops" and web.jump == "bastion"
    assert web.address == "web-1"  # default = name, so an ~/.ssh/config alias works
    assert web.caches[0].kind == "redis" and web.backups[0].restore_test.every == 86400
    assert cfg.endpoints[0].vantage == ("local", "web-1")
    assert cfg.rules[0].for_s == 120 and cfg.rules[0].flap == (20, 30)
    assert cfg.settings.retention == 7 * 86400


@pytest.mark.parametrize("what,text,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_names_the_key(what: str, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.toml")
    assert any(expected in str(p) for p in e.value.problems), [str(p) for p in e.value.problems]


def test_every_problem_is_reported_at_once_with_lines() -> None:
    text = '[[hosts]]\nname = "a"\nport = "abc"\n\n[[hosts]]\nname = "b"\ninterval = "soon"\n'
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.toml")
    lines = [str(p) for p in e.value.problems]
    assert lines == [
        'c.toml:3: hosts[0].port: expected an integer 1-65535, got "abc"',
        'c.toml:7: hosts[1].interval: expected a duration like "90s", "5m", "24h" or "14d", got "soon"',
    ]


@pytest.mark.parametrize("what,text,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_check_config_exits_3_with_one_line_per_problem(tmp_path: Path, what: str, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    r = subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(path)],
                       capture_output=True, text=True, env={**os.environ, "OPSDASH_DEBUG": ""})
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith(str(path)) for line in lines), lines
    assert any(expected in line for line in lines)


def test_check_config_valid_prints_summary(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    r = subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout and "hosts: 2" in r.stdout and "ttfb-p95" in r.stdout


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(tmp_path / "nope.toml")],
                       capture_output=True, text=True)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "no such file" in r.stderr


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("5m", 300), ("24h", 86400), ("14d", 14 * 86400),
                                          ("1h30m", 5400), ("250ms", 0.25), ("1w", 604800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "-5s", "5x", "1h 30m"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_update_is_atomic_and_keeps_a_byte_exact_backup(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)

    def edit(doc):
        doc["rules"][0]["warn"] = 450

    update_config(path, edit)
    assert (tmp_path / "config.toml.bak").read_text() == GOOD
    again = load_config(path)
    assert again.rules[0].warn == 450 and again.host("web-1").caches[0].name == "sessions"
    assert path.read_text() == GOOD.replace("warn = 400", "warn = 450")  # nothing else moved
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_update_keeps_comments_line_ends_and_edits_made_since_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '# the fleet we page for\r\n[opsdash]  # global\r\ntheme = "opsdash-dark"  # at night\r\n\r\n[[hosts]]\r\nname = "web-1"\r\n'
    path.write_bytes(text.encode())
    load_config(path)
    path.write_bytes(path.read_bytes() + b'# added by a colleague meanwhile\r\n[[hosts]]\r\nname = "web-2"\r\n')
    update_config(path, lambda doc: set_theme(doc, "monochrome"))
    assert path.read_bytes().decode() == (
        '# the fleet we page for\r\n[opsdash]  # global\r\ntheme = "monochrome"  # at night\r\n\r\n[[hosts]]\r\n'
        'name = "web-1"\r\n# added by a colleague meanwhile\r\n[[hosts]]\r\nname = "web-2"\r\n'
    )
    bare = tmp_path / "bare.toml"
    bare.write_text('[[hosts]]\nname = "web-1"\n')
    update_config(bare, lambda doc: set_theme(doc, "high-contrast"))
    assert load_config(bare).settings.theme == "high-contrast"


def test_an_update_that_would_not_load_or_a_file_broken_since_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)

    def bad(doc):
        doc["rules"][0]["warn"] = "loud"

    with pytest.raises(ConfigError, match=r"rules\[0\]\.warn"):
        update_config(path, bad)
    assert path.read_text() == GOOD and not (tmp_path / "config.toml.bak").exists()
    path.write_text(GOOD + "[oops\n")
    with pytest.raises(ConfigError) as e:
        update_config(path, lambda doc: set_theme(doc, "monochrome"))
    assert "no longer valid TOML" in str(e.value) and "\n" not in str(e.value)
    assert path.read_text() == GOOD + "[oops\n"
