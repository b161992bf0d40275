"""check-config catches names that refer to nothing: an unknown theme, a missing
identity_file, a misspelt metric (with did-you-mean), a rule that takes a built-in's
name to watch another metric. One line each (file:line: key path: what was expected),
exit 3. And `init` on an existing file is a refusal (exit 1), not a config error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from opsdash.alerts.engine import METRIC_NAMES
from tests.support import REPO

ROOT = REPO


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "opsdash", "check-config", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


def one_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 3, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_an_unknown_theme_is_an_error_naming_the_installed_ones(tmp_path: Path) -> None:
    line = one_error(check(tmp_path, '[opsdash]\ntheme = "opsdash-drak"\n'))
    assert line.startswith(f"{tmp_path / 'config.toml'}:2: opsdash.theme: expected an installed theme")
    assert "monochrome" in line and '"opsdash-drak"' in line and 'did you mean "opsdash-dark"' in line


def test_a_missing_identity_file_is_an_error(tmp_path: Path) -> None:
    key = tmp_path / "id_nope"
    text = f'[[hosts]]\nname = "web-1"\naddress = "127.0.0.1"\nidentity_file = "{key}"\n'
    line = one_error(check(tmp_path, text))
    assert re.match(rf".*config\.toml:4: hosts\[0\]\.identity_file: expected a private key file, got \"{key}\": no such file$", line), line
    # From [defaults]: said once, at the key that set it.
    text = f'[defaults]\nidentity_file = "{key}"\n[[hosts]]\nname = "a"\n[[hosts]]\nname = "b"\n'
    assert ":2: defaults.identity_file: expected a private key file" in one_error(check(tmp_path, text))
    key.write_text("a key\n")
    assert check(tmp_path, text).returncode == 0


def test_a_misspelt_metric_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "busy"\nmetric = "host.cpu_pecent"\nwarn = 90\n'
    line = one_error(check(tmp_path, text))
    assert ':3: rules[0].metric: expected a metric opsdash emits (did you mean "host.cpu_percent"?), got "host.cpu_pecent"' in line


def test_a_misspelt_metric_on_a_builtins_name_says_it_would_replace_it(tmp_path: Path) -> None:
    line = one_error(check(tmp_path, '[[rules]]\nname = "cpu"\nmetric = "host.cpu"\nwarn = 90\n'))
    assert 'did you mean "host.cpu_percent"' in line
    assert '"cpu" is also the built-in rule on host.cpu_percent, which this entry would replace' in line


def test_a_builtins_name_on_another_metric_is_an_error(tmp_path: Path) -> None:
    line = one_error(check(tmp_path, '[[rules]]\nname = "cpu"\nmetric = "host.load1_per_cpu"\nwarn = 3\n'))
    assert 'rules[0].metric: "cpu" is the built-in rule on host.cpu_percent' in line
    assert "give this rule another name" in line


def test_valid_rules_say_which_are_built_in_changed_or_yours(tmp_path: Path) -> None:
    text = ('[[rules]]\nname = "cpu"\nmetric = "host.cpu_percent"\nwarn = 95\nfor = "10m"\n\n'  # built-in, changed
            '[[rules]]\nname = "cpu-also"\nmetric = "host.cpu_percent"\nwarn = 50\n\n'
            '[[rules]]\nname = "anything-on-a-host"\nmetric = "host.*"\nwarn = 1e9\n')
    r = check(tmp_path, text)
    assert r.returncode == 0, r.stderr
    lines = {ln.split(":")[0].strip(): ln for ln in r.stdout.splitlines() if ln.startswith("    ")}
    assert lines["cpu"].endswith("[built-in, changed]") and "for 10m" in lines["cpu"]
    assert lines["cpu-also"].endswith("[yours]")
    assert lines["memory"].endswith("[built-in]")
    assert lines["endpoint-down"].endswith("[built-in]")


def test_the_metric_names_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "contracts.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    prefixes = "|".join(sorted({m.split(".")[0] for m in METRIC_NAMES}))  # every kind's, registered ones too
    documented = set(re.findall(rf"`((?:{prefixes})\.[a-z0-9_]+)`", section))
    assert documented == set(METRIC_NAMES)


def test_init_on_an_existing_file_refuses_with_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("# mine\n")
    r = subprocess.run([sys.executable, "-m", "opsdash", "init", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == f"opsdash: {cfg} exists; not overwriting it (check it with `opsdash check-config`)"
    assert cfg.read_text() == "# mine\n"


def test_a_maintenance_window_naming_no_rule_is_a_problem_with_did_you_mean(tmp_path: Path) -> None:
    text = ('[[hosts]]\nname = "db-1"\nprobes = ["local"]\n\n'
            '[[maintenance]]\nname = "sat-patching"\nmatch = { rule = "dsik" }\nevery = "sat 02:00"\nduration = "2h"\n')
    r = check(tmp_path, text)
    assert r.returncode == 3
    assert 'maintenance[0].match.rule: expected a rule name' in r.stderr and 'did you mean "disk"' in r.stderr
    ok = check(tmp_path, text.replace('"dsik"', '"disk"'))
    assert ok.returncode == 0, ok.stderr
