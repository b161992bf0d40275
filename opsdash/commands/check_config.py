"""`opsdash check-config`: validate and summarise; exit 0 valid, 3 invalid."""

from __future__ import annotations

import argparse
import sys

from ..alerts.engine import METRIC_NAMES
from ..alerts.rules import builtin_rules, rules_from_config
from ..config import format_duration
from ..config_checks import check_references, theme_names
from ..errors import ConfigError
from ..security import warn_world_readable_secrets
from ..textsafe import clean, redact_url
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check-config", parents=[common], help="validate the config and print a summary")
    p.set_defaults(func=run, error_exit=3)


def run(args: argparse.Namespace) -> int:
    config = _common.load(args, required=True)
    path = _common.config_path(args)
    builtins = {r.name: r for r in builtin_rules(config)}
    problems = check_references(
        config, path.read_text(encoding="utf-8"), metrics=METRIC_NAMES,
        builtin_metrics={name: r.metric for name, r in builtins.items()}, themes=theme_names(),
    )
    if problems:
        raise ConfigError(problems)
    print(f"{path}: valid")
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
    if config.notify:
        print(f"  notify: {len(config.notify)}")
        for n in config.notify:
            where = redact_url(n.url) if n.url else f"smtp {n.smtp} to {', '.join(n.to)}"
            match = " for " + ",".join(f"{k}={v}" for k, v in n.match.items()) if n.match else ""
            print(f"    {clean(n.name)}: {n.kind} {clean(where)}{clean(match)}")
    rules = rules_from_config(config)
    print(f"  rules: {len(rules)}")
    for r in rules:
        origin = "built-in" if r.builtin else ("built-in, changed" if r.name in builtins else "yours")
        print(f"    {clean(r.describe())}  [{origin}]")
    return 0
