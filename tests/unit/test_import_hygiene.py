"""The core never imports Textual (STYLE.md): checked in a fresh interpreter."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import opsdash

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(opsdash.__path__, "opsdash.")
    if not m.name.startswith(("opsdash.ui", "opsdash.commands", "opsdash.demo")) and m.name not in ("opsdash.cli", "opsdash.__main__")
)


def _fresh(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (it must exit 0)."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_core_modules_exist() -> None:
    for needed in ("opsdash.collect.collector", "opsdash.alerts.engine", "opsdash.store", "opsdash.config"):
        assert needed in CORE


def test_core_does_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = _fresh(code)
    assert out.strip() == "", f"textual imported by the core: {out}"


def test_cli_commands_that_need_no_tui_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from opsdash.cli import build_parser\n"
        "build_parser()\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    out = _fresh(code)
    assert out.strip() == "False"


def test_a_viewer_reading_a_config_with_dns_checks_leaves_dnspythons_query_side_unloaded() -> None:
    # The collector loads it (DNSKind.warm, in a thread) before the first DNS probe.
    code = (
        "import sys\n"
        "from opsdash.config import parse_config\n"
        "cfg = parse_config('[[dns]]\\nname = \"shop\"\\nquery = \"shop.example.com\"\\n', 'c.toml')\n"
        "assert cfg.checks['dns'], cfg.checks\n"
        "import opsdash.ui.app\n"
        "print(sorted(m for m in ('dns.asyncquery', 'dns.message', 'dns._asyncio_backend') if m in sys.modules))\n"
    )
    out = _fresh(code)
    assert out.strip() == "[]", out


def test_the_tui_loads_no_http_or_dns_client_until_a_probe_needs_one() -> None:
    # httpx's package import pulls in its command line (click, rich, pygments): ~50 ms of a
    # first screen that needs none of it. The journeys' and DNS' warm() load them for the probe.
    code = (
        "import sys\n"
        "import opsdash.ui.app\n"
        "print(sorted(m for m in ('httpx', 'click', 'dns', 'dns.name') if m in sys.modules))\n"
        "from opsdash.kinds.registry import by_name\n"
        "by_name('journey').warm(); by_name('dns').warm()\n"
        "print(sorted(m for m in ('httpx', 'dns.name', 'dns.asyncquery') if m in sys.modules))\n"
    )
    out = _fresh(code)
    assert out.split("\n")[:2] == ["[]", "['dns.asyncquery', 'dns.name', 'httpx']"], out
