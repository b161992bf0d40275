"""`opsdash` is the TUI: its options work without `run`, before or after it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opsdash.cli import build_parser


@pytest.mark.parametrize("argv,theme,no_collector,no_mouse", [
    (["--theme", "monochrome"], "monochrome", False, False),
    (["--no-collector"], None, True, False),
    (["--no-mouse", "--theme", "high-contrast", "--no-collector"], "high-contrast", True, True),
    (["run", "--theme", "monochrome", "--no-mouse"], "monochrome", False, True),
    (["--no-collector", "run", "--theme", "opsdash-light"], "opsdash-light", True, False),  # before run, kept
    (["--theme", "monochrome", "run"], "monochrome", False, False),
])
def test_the_tui_options_parse_with_and_without_run(argv: list[str], theme: str | None, no_collector: bool,
                                                     no_mouse: bool) -> None:
    args = build_parser().parse_args(argv)
    assert (args.theme, args.no_collector, args.no_mouse) == (theme, no_collector, no_mouse)
    assert args.command in (None, "run")


def test_other_commands_see_the_tui_defaults() -> None:
    args = build_parser().parse_args(["once", "--format", "json"])
    assert (args.theme, args.no_collector, args.no_mouse) == (None, False, False)


def test_the_top_level_help_lists_the_tui_options() -> None:
    out = subprocess.run([sys.executable, "-m", "opsdash", "--help"], capture_output=True, text=True, check=True).stdout
    for opt in ("--theme NAME", "--no-collector", "--no-mouse"):
        assert opt in out, out
