"""`opsdash replay SAMPLES.jsonl [--format json]`: recorded samples through the config's rules.

Runs on the samples' time, never the wall clock; needs no hosts or endpoints
in the config (built-in rules plus [[rules]] match the samples' targets,
metrics and labels). Prints every transition. A bad line is one error line
naming the file and line number, exit 3.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..model import iso
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replay", parents=[common], help="feed recorded samples (JSON lines) through the rules; print every transition",
        description="Feed recorded samples through the rules on recorded time and print every alert transition.",
    )
    p.add_argument("samples", metavar="SAMPLES.jsonl", help='JSON lines: {"t", "target", "metric", "value", "labels"?}; - for stdin')
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--rule", action="append", metavar="NAME", help="only these rules (repeatable)")
    p.set_defaults(func=run, error_exit=3)


def run(args: argparse.Namespace) -> int:
    from ..alerts.replay import ReplayError, replay_file
    from ..alerts.rules import check_rule_names, rules_from_config, tags_from_config

    cfg = _common.load(args)
    rules = rules_from_config(cfg)
    check_rule_names(rules, args.rule)
    if args.rule:
        rules = [r for r in rules if r.name in args.rule]
    tags = tags_from_config(cfg)
    try:
        src = sys.stdin if args.samples == "-" else args.samples
        res = replay_file(src, rules, tags=lambda name: tags.get(name, {}))
    except ReplayError as e:
        print(f"opsdash: {e}", file=sys.stderr)
        return 3
    if args.format == "json":
        json.dump(res.to_json(), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0
    for e in res.transitions:
        value = "" if e.value is None else f"{e.value:g}"
        labels = ",".join(f"{k}={v}" for k, v in e.labels.items() if k in ("mount", "backup", "metric", "vantage"))
        target = f"{e.target}{{{labels}}}" if labels else e.target
        flags = "".join((" [flapping]" if e.flapping and e.to_state != "flapping" else "",
                         " [inhibited]" if e.inhibited else ""))
        print(f"{iso(e.t)}  {e.rule:<20} {target:<24} {e.from_state:>8} -> {e.to_state:<9} {e.severity:<8} "
              f"{value:>10}  {e.reason}{flags}")
    by_rule = res.fired_by_rule()
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(by_rule.items()))
    span = f", {iso(res.first_t)} .. {iso(res.last_t)}" if res.first_t is not None else ""
    print(f"{res.samples} samples, {res.series} series{span}; {len(res.transitions)} transitions; "
          f"{res.alerts_fired} alerts fired" + (f" ({detail})" if detail else ""))
    return 0
