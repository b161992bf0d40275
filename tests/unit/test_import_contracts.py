"""The architecture's import contracts (.importlinter) hold, inside the suite.

`lint-imports` checks them: layers that point down, parsers that know no config,
probe or store, viewers (ui/, report/) that never import collect/, and no circle
of imports inside any package. The layers are explained in docs/architecture.md.
"""

from __future__ import annotations

import configparser
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import opsdash
from tests.support import REPO

ROOT = REPO
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]')")
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _contracts() -> configparser.ConfigParser:
    cp = configparser.ConfigParser()
    assert cp.read(CONFIG), f"no {CONFIG}"
    return cp


def test_lint_imports_passes() -> None:
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout, r.stdout


def test_every_top_level_module_has_a_layer() -> None:
    """A new module outside the layers would escape them: say where it sits."""
    layers = _contracts()["importlinter:contract:layers"]["layers"]
    named = {m.strip() for line in layers.splitlines() for m in line.replace("|", ":").split(":") if m.strip()}
    modules = {f"opsdash.{m.name}" for m in pkgutil.iter_modules(opsdash.__path__)}
    missing = sorted(modules - named)
    assert not missing, f"add these to the layers contract in .importlinter (and docs/architecture.md): {missing}"


# Imports that break one contract each: the linter must see every one.
VIOLATIONS = {
    "parsers/health.py": ("from ..config import Config as _Config  # noqa\n", "parsers are pure"),
    "ui/actions.py": ("from ..collect import collector as _collector  # noqa\n",
                      "the TUI and the reports read the store"),
    "collect/prom.py": ("from . import collector as _collector  # noqa\n", "no circle of imports"),
    "store.py": ("from . import tune as _tune  # noqa\n", "imports point down"),
}


def test_the_contracts_catch_violations(tmp_path: Path) -> None:
    """The same contracts on a copy of the package with bad imports added: each is reported."""
    shutil.copytree(ROOT / "opsdash", tmp_path / "opsdash", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    for rel, (line, _) in VIOLATIONS.items():
        p = tmp_path / "opsdash" / rel
        text = p.read_text()
        head, sep, rest = text.partition("from __future__ import annotations\n")
        p.write_text(head + sep + line + rest if sep else line + text)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)}
    r = _lint(tmp_path, env)
    assert r.returncode != 0, r.stdout
    out = " ".join(r.stdout.split())  # the report wraps long names
    assert "Analyzed" in out, r.stdout + r.stderr  # it read the copy, not nothing
    for rel, (_, contract) in VIOLATIONS.items():
        assert f"{contract}" in out and "BROKEN" in out, f"{rel}: {contract!r} not reported\n{r.stdout}"
    broken = out.split("Broken contracts", 1)[1]
    for rel, (_, contract) in VIOLATIONS.items():
        assert contract in broken, f"{rel}: {contract!r} not broken\n{r.stdout}"
