"""The command line. Each subcommand lives in opsdash/commands/<name>.py with
``register(subparsers, common)`` and a ``run(args) -> int`` set as ``func``.

Every mistake a user can make ends here as one line on stderr and an exit
code, never a traceback: ConfigError -> 3 (Nagios UNKNOWN), other
OpsdashError -> 3 for `once`-style commands, 1 otherwise.

Everything a command prints goes through one sanitiser: ``main`` puts a
``textsafe.TerminalWriter`` over stdout and stderr for every command but the
TUI, so an escape sequence from a remote host (OSC 52, CSI 2J, BEL, a bidi
override) is shown as ``\\e]52;...``, never acted on, whichever command
printed it and whether or not it cleaned its fields itself. JSON stays valid
JSON. The TUI (Textual draws with escape codes of its own) renders remote
text through ``ui/safetext.py`` instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from . import __version__
from .errors import ConfigError, OpsdashError
from .textsafe import TerminalWriter


def _common_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option not given after the subcommand must not overwrite one given
    # before it (`opsdash --config F once` and `opsdash once --config F` both work).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="config file (default: $OPSDASH_CONFIG, else the platform config dir)")
    common.add_argument("--store", metavar="FILE", default=argparse.SUPPRESS,
                        help="SQLite store (default: the platform data dir)")
    return common


# The options `opsdash` itself takes before a command (the common ones and the TUI's).
_VALUED = frozenset({"--config", "--store", "--theme"})
_FLAGS = frozenset({"--no-collector", "--read-only", "--no-mouse"})


def tui_only(argv: list[str]) -> bool:
    """True when ``argv`` can only start the TUI (`opsdash`, `opsdash run`, with the TUI's and
    the common options). Then only `run` is registered: importing every other command (asyncssh
    and its ciphers for `collect`, ...) was 0.2-0.3 s of CPU before the TUI's first screen."""
    words = iter(argv)
    run = False
    for word in words:
        if word in _VALUED:
            if next(words, None) is None:
                return False
        elif word in _FLAGS or word.split("=", 1)[0] in _VALUED:
            continue
        elif word == "run" and not run:
            run = True
        else:
            return False  # another command, --help, a typo: the whole parser says what it is
    return True


def command_module(argv: list[str]) -> str | None:
    """The one command module that parses ``argv`` alone: `run` for a TUI command line
    (``tui_only``), else the module of the command named by the first word that is not a
    global option. None (every command) for -h, --version, a typo or no command."""
    if tui_only(argv):
        return "run"
    from . import commands

    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not (word in _FLAGS or word.split("=", 1)[0] in _VALUED):
            module = commands.MODULE_OF.get(word, word)
            known = {m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")}
            return module if module in known else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with ``argv``, only the parser of the command it runs
    (``command_module``): the same result, without importing the other commands."""
    only = command_module(argv) if argv is not None else None
    common = _common_parser()
    parser = argparse.ArgumentParser(
        prog="opsdash",
        description="A terminal operations dashboard for on-call engineers.",
        parents=[_common_parser()],  # its own copy: set_defaults below must not touch the subcommands'
    )
    parser.set_defaults(config=None, store=None, no_collector=False, theme=None, no_mouse=False)
    parser.add_argument("--version", action="version", version=f"opsdash {__version__}")
    from .commands.run import add_tui_options

    add_tui_options(parser)  # `opsdash` is the TUI: `opsdash --theme X` as `opsdash run --theme X`
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or (only is not None and mod.name != only):
            continue
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        module.register(sub, common)
    return parser


def runs_tui(args: argparse.Namespace) -> bool:
    """The commands that hand the terminal to Textual: no command, `run`, and `demo` without --headless."""
    return args.command in (None, "run") or (args.command == "demo" and not getattr(args, "headless", False))


def main(argv: list[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    # Wrapped before argparse too: its errors echo the arguments back.
    sys.stdout, sys.stderr = TerminalWriter(out), TerminalWriter(err)
    try:
        parser = build_parser(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        if runs_tui(args):
            sys.stdout, sys.stderr = out, err
        return _run(args)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(args: argparse.Namespace) -> int:
    if args.command is None:
        from .commands.run import run as run_tui

        args.func = run_tui
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is the BrokenPipeError below
        return rc
    except ConfigError as e:
        for p in e.problems:
            print(str(p), file=sys.stderr)
        return 3
    except OpsdashError as e:
        print(f"opsdash: {e}", file=sys.stderr)
        return getattr(args, "error_exit", 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `opsdash once | head` closed the pipe: not an error worth a traceback.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 0
    except Exception as e:
        # A bug, not a user mistake: one line by default, the traceback on request.
        if os.environ.get("OPSDASH_DEBUG"):
            raise
        print(f"opsdash: internal error: {type(e).__name__}: {e} (OPSDASH_DEBUG=1 shows the traceback)", file=sys.stderr)
        return getattr(args, "error_exit", 1)


if __name__ == "__main__":
    sys.exit(main())
