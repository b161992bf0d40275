"""`opsdash check-config`: validate and summarise; exit 0 valid, 3 invalid."""

from __future__ import annotations

import argparse
import sys

from ..config import format_duration
from ..security import warn_world_readable_secrets
from ..textsafe import clean, redact_url
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check-config", parents=[common], help="validate the config and print a summary")
    p.set_defaults(func=run, error_exit=3)


def run(args: argparse.Namespace) -> int:
    config = _common.load(args, required=True)
    print(f"{_common.config_path(args)}: valid")
    for warning in warn_world_readable_secrets(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"  hosts: {len(config.hosts)}")
    for h in config.hosts:
        extra = []
        if h.caches:
            extra.append(f"{len(h.caches)} caches")
        if h.backups:
            extra.append(f"{len(h.backups)} backups")
        via = f" via {clean(h.jump)}" if h.jump else ""
        print(f"    {clean(h.name)}: {','.join(h.probes)} every {format_duration(h.interval)}{via}"
              + (f" ({', '.join(extra)})" if extra else ""))
    print(f"  endpoints: {len(config.endpoints)}")
    for e in config.endpoints:
        print(f"    {clean(e.name)}: {clean(redact_url(e.url))} from {clean(','.join(e.vantage))} every {format_duration(e.interval)}")
    if config.sources:
        print(f"  sources: {len(config.sources)}")
        for s in config.sources:
            print(f"    {clean(s.name)}: {s.kind} {clean(redact_url(s.url))}")
    try:
        from ..alerts.rules import rules_from_config
    except ImportError:
        rules = list(config.rules)
    else:
        rules = rules_from_config(config)
    print(f"  rules: {len(rules)}")
    for r in rules:
        levels = []
        if getattr(r, "warn", None) is not None:
            levels.append(f"warn {getattr(r, 'op', '>')} {r.warn:g}")
        if getattr(r, "crit", None) is not None:
            levels.append(f"crit {getattr(r, 'op', '>')} {r.crit:g}")
        for_s = getattr(r, "for_s", 0)
        origin = getattr(r, "origin", "")
        print(f"    {clean(r.name)}: {clean(r.metric)} {', '.join(levels)}"
              + (f" for {format_duration(for_s)}" if for_s else "")
              + (f" [{clean(origin)}]" if origin else ""))
    return 0
