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


def _registered() -> dict[str, str]:
    """Every top-level command and the module that registers it: each module registered alone."""
    import argparse
    import importlib
    import pkgutil

    from opsdash import commands

    out = {}
    for m in pkgutil.iter_modules(commands.__path__):
        if m.name.startswith("_"):
            continue
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"opsdash.commands.{m.name}").register(sub, argparse.ArgumentParser(add_help=False))
        out.update({name: m.name for name in sub.choices})
    return out


def test_every_command_is_parsed_by_its_own_module_alone_to_what_the_whole_parser_gives():
    from opsdash.cli import command_module

    registered = _registered()
    assert len(registered) > 15, registered
    for name, module in registered.items():
        argv = ["--config", "c.toml", name, "--help"] if name != "run" else [name, "--no-collector"]
        assert command_module(argv) == module, (name, module)
    for argv in (["once", "--format", "json"], ["ack", "abc123", "--note", "on it"], ["check-config"],
                 ["--store", "s.db", "alerts", "--all"], ["note", "disk on db-2 is slow"], ["notify", "status"]):
        fast, whole = build_parser(argv).parse_args(argv), build_parser().parse_args(argv)
        assert vars(fast).keys() == vars(whole).keys() and all(
            vars(fast)[k] == vars(whole)[k] for k in vars(fast) if k != "func"), argv
        assert fast.func.__module__ == whole.func.__module__, argv


@pytest.mark.parametrize("argv", [["-h"], ["--version"], ["colect"], ["--config", "c.toml"], []])
def test_no_command_or_an_unknown_one_gets_every_command(argv):
    from opsdash.cli import command_module

    assert command_module(argv) in (None, "run")  # [] and a bare --config start the TUI


def test_a_command_that_needs_no_ssh_leaves_asyncssh_unimported():
    probe = ("import sys; from opsdash.cli import build_parser; build_parser(['alerts', '--all']).parse_args(['alerts', "
             "'--all']); print('asyncssh' in sys.modules, 'textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
