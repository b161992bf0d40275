"""`opsdash init`: write a starter config (never overwrites one)."""

from __future__ import annotations

import argparse

from ..config import STARTER_CONFIG
from ..errors import OpsdashError
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="write a starter config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = _common.config_path(args)
    if path.exists():
        # Not a config mistake (exit 3 and "command line: --config:"): a refusal, exit 1.
        raise OpsdashError(f"{path} exists; not overwriting it (check it with `opsdash check-config`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG)
    print(f"wrote {path}; check it with `opsdash check-config`")
    return 0
