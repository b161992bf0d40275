"""`opsdash init`: write a starter config (never overwrites one)."""

from __future__ import annotations

import argparse

from ..config import STARTER_CONFIG
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="write a starter config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = _common.config_path(args)
    if path.exists():
        raise _common.bad_argument("--config", f"{path} exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG)
    print(f"wrote {path}; check it with `opsdash check-config`")
    return 0
