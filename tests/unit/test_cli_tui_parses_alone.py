"""`opsdash` and `opsdash run` are parsed without importing the other commands, with the same result."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opsdash.cli import build_parser, tui_only


@pytest.mark.parametrize("argv", [[], ["run"], ["--config", "c.toml", "run", "--no-collector"], ["--config=c.toml"],
                                  ["run", "--theme", "x", "--read-only", "--no-mouse", "--store", "s.db"]])
def test_tui_command_lines_parse_alone_to_what_the_whole_parser_gives(argv):
    assert tui_only(argv)
    fast, whole = build_parser(argv).parse_args(argv), build_parser().parse_args(argv)
    assert {k: v for k, v in vars(fast).items() if k != "func"} == {k: v for k, v in vars(whole).items() if k != "func"}


@pytest.mark.parametrize("argv", [["once"], ["-h"], ["--version"], ["run", "--bogus"], ["--config"], ["run", "run"]])
def test_anything_else_gets_the_whole_parser(argv):
    assert not tui_only(argv)


def test_the_tui_path_leaves_the_collectors_ssh_unimported():
    probe = "import sys; from opsdash.cli import build_parser; build_parser(['run']); print('asyncssh' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
