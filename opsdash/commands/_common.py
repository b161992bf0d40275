"""What every command needs: the config, the store, durations from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import Config, default_config_path, default_store_path, empty_config, load_config, parse_duration
from ..errors import ConfigError, ConfigProblem
from ..fsutil import write_atomic
from ..store import Store


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config).expanduser() if getattr(args, "config", None) else default_config_path()


def load(args: argparse.Namespace, *, required: bool = False) -> Config:
    """The config named on the command line (or the default one).

    With no file at all and ``required`` False, opsdash watches this machine
    through psutil and says how to write a config.
    """
    path = config_path(args)
    if not path.exists() and not getattr(args, "config", None) and not os.environ.get("OPSDASH_CONFIG") and not required:
        print(
            f"opsdash: no config at {path}; watching this machine only. "
            "Write a starter config with `opsdash init`.",
            file=sys.stderr,
        )
        return empty_config()
    return load_config(path)


def store_path(args: argparse.Namespace) -> Path:
    return Path(args.store).expanduser() if getattr(args, "store", None) else default_store_path()


def open_store(args: argparse.Namespace, *, readonly: bool = False) -> Store:
    return Store(store_path(args), readonly=readonly)


def duration_arg(text: str) -> float:
    """argparse type for "90s", "8h", "7d"."""
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a duration like "90s", "5m", "8h", got "{text}"') from None


def bad_argument(name: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem("command line", name, message)])


def write_out(path: str | os.PathLike[str], text: str) -> bool:
    """A report written to ``--out`` (atomically, 0600): one line on stderr either way."""
    try:
        write_atomic(path, text)
    except OSError as e:
        print(f"opsdash: {path}: cannot write: {e.strerror or e}", file=sys.stderr)
        return False
    print(f"wrote {path}", file=sys.stderr)
    return True


def emit(args: argparse.Namespace, text: str) -> int:
    """A report to ``--out`` if given, else to stdout; the exit code."""
    if args.out:
        return 0 if write_out(args.out, text) else 1
    sys.stdout.write(text)
    return 0
