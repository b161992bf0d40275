"""`opsdash tune`: backtest the rules over history and propose quieter settings.

    opsdash tune [--since 7d | --samples F.jsonl] [--rule R] [--incident 10m] [--max-delay 5m]
                 [--incidents F.json] [--write] [--format text|json]

History is the store (``--since``, default 7d) or a recorded JSON-lines file
(``--samples``, the replay format; needs no hosts in the config). For each
rule, current vs proposed: pages (storms grouped) and pages per 12-hour shift,
precision and recall against the incidents, worst detection delay, time firing
outside incidents, flap episodes, and whether the alert resolves between
incidents. Incidents are tune's own (a sustained condition, ``--incident``) or
the ones marked in ``--incidents``. With too little history nothing is
proposed (exit 0, nothing written). ``--write``
puts the proposals into the config's [[rules]] (a built-in rule gets its own
entry by name) with tomlkit, atomically, keeping ``config.toml.bak`` byte for
byte. Comments and every key it does not change stay as they were.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..config import format_duration
from ..model import iso
from ..textsafe import clean
from . import _common


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "tune", parents=[common], help="backtest the rules over history; propose quieter thresholds",
        description="Replay history against the rules and propose thresholds, `for` and hysteresis that page less "
                    "while still catching every sustained incident in time. --write updates those keys in "
                    "the config (comments and the rest stay; the old file is kept as .bak).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--since", type=_common.duration_arg, default=None, metavar="D",
                     help='history from the store for the last D (default "7d")')
    src.add_argument("--samples", metavar="F.jsonl", help="a recorded samples file (the replay format) instead")
    p.add_argument("--rule", action="append", metavar="R", help="only this rule (repeatable)")
    p.add_argument("--incident", type=_common.duration_arg, default=600.0, metavar="D",
                   help='a sustained incident: the current condition held this long (default "10m")')
    p.add_argument("--max-delay", type=_common.duration_arg, default=300.0, metavar="D",
                   help='an incident must page within D of its start (default "5m")')
    p.add_argument("--incidents", metavar="F.json",
                   help='known incidents, a JSON list of {"target", "start", "end"} (ISO-8601 or epoch seconds; '
                        'optional "rule"): recall is measured against these instead')
    p.add_argument("--write", action="store_true", help="write the proposals into the config file")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run, error_exit=3)


def run(args: argparse.Namespace) -> int:
    from ..alerts.replay import ReplayError, iter_jsonl
    from ..alerts.rules import check_rule_names, rules_from_config, tags_from_config
    from ..config import update_config
    from ..tune import IncidentsError, apply_to_config, load_samples, load_store, parse_incidents, rule_metrics, tune

    known = None
    if args.incidents:
        try:
            with open(args.incidents, encoding="utf-8") as f:
                known = parse_incidents(f.read(), args.incidents)
        except IncidentsError as e:
            for line in e.problems:
                print(f"opsdash: {clean(line)}", file=sys.stderr)
            return 3
        except (OSError, UnicodeDecodeError) as e:
            print(f"opsdash: {args.incidents}: cannot read: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            return 3
    cfg = _common.load(args, required=args.write)
    rules = rules_from_config(cfg)
    check_rule_names(rules, args.rule)
    tags = tags_from_config(cfg)
    wanted = rule_metrics([r for r in rules if not args.rule or r.name in args.rule or r.metric == "host.up"])
    started = time.monotonic()
    silences = []
    if args.samples:
        try:
            if args.samples == "-":
                series = load_samples(iter_jsonl(sys.stdin, "<stdin>"), wanted)
            else:
                with open(args.samples, encoding="utf-8") as f:
                    series = load_samples(iter_jsonl(f, args.samples), wanted)
        except ReplayError as e:
            print(f"opsdash: {e}", file=sys.stderr)
            return 3
        except (OSError, UnicodeDecodeError) as e:
            print(f"opsdash: {args.samples}: cannot read: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            return 3
    else:
        since = args.since if args.since is not None else 7 * 86400.0
        with _common.open_store(args) as store:
            now = time.time()
            series = load_store(store, now - since, None, wanted)
            silences = store.silences(since=now - since)
    if known is not None:
        targets = {s.target for s in series}
        for n, ki in enumerate(known):
            if ki.target not in targets:
                print(f"opsdash: {clean(args.incidents)}: [{n}]: no series of target \"{clean(ki.target)}\" in this "
                      "history; not counted", file=sys.stderr)
    report = tune(series, rules, tags=lambda n: tags.get(n, {}), incident_s=args.incident,
                  max_delay_s=args.max_delay, only=args.rule, silences=silences, known=known,
                  known_source=args.incidents or "--incidents")
    elapsed = time.monotonic() - started

    written: list[str] = []
    if args.write and any(rt.changed for rt in report.rules):
        path = _common.config_path(args)
        # the result must load (as check-config) or nothing is written: ConfigError
        written = update_config(path, lambda doc: apply_to_config(doc, report.rules))
        if written:
            _record_write(args, str(path), written)

    if args.format == "json":
        out = report.to_json()
        out["elapsed_s"] = round(elapsed, 3)
        out["written"] = written
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(render_text(report, elapsed))
    if args.write:
        if written:
            print(f"\nwrote {_common.config_path(args)} (old file kept as "
                  f"{_common.config_path(args).name}.bak):")
            for line in written:
                print(f"  {line}")
        elif any(rt.short_history for rt in report.rules) or report.note:
            print("\nnothing written: too little history to propose anything")
        else:
            print("\nnothing to write: every rule is already at its proposal")
    return 0


def _record_write(args: argparse.Namespace, path: str, written: list[str]) -> None:
    """The store keeps each config write (an incident's timeline shows it); the config is written
    already, so a store that cannot be written is a warning, not a failure."""
    from ..errors import StoreError
    from ..store import current_user

    try:
        with _common.open_store(args) as store:
            store.add_config_write("tune", path, written, who=current_user())
    except StoreError as e:
        print(f"opsdash: tune: the write is not recorded in the store: {e}", file=sys.stderr)


def _delay(o: object) -> str:
    got = [d for d in getattr(o, "delays") if d is not None]
    return format_duration(max(got)) if got else "-"


def _dur(x: float) -> str:
    return format_duration(round(x)) if x >= 1 else "0s"


def _columns(rt: object) -> list[tuple[str, str, str]]:
    """The per-rule table: (what, current, proposed)."""
    from ..tune import Outcome, RuleTuning

    assert isinstance(rt, RuleTuning)
    r = rt.rule
    n_inc = len(rt.incidents)

    def both(f) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        return f(rt.old), (f(rt.new) if rt.new is not None else "-")

    def pages(o: Outcome) -> str:
        return f"{o.pages}" + (f" ({o.notified} alerts)" if o.notified != o.pages else "")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100.0 * x:.0f}%"

    def shift(o: Outcome) -> str:
        x = o.pages_per_shift(rt.span_s)
        return "-" if x is None else f"{x:.2f}"

    def outside(o: Outcome) -> str:
        share = 100.0 * o.outside_s / rt.series_time if rt.series_time else 0.0
        return f"{_dur(o.outside_s)} ({share:.2f}%)"

    def resolves(o: Outcome) -> str:
        return "yes" if not o.latched else f"no: up {_dur(o.latch_s)} after the condition cleared"

    def baseline(o: Outcome) -> str:
        if not o.clear_latches:
            return "reached"
        return f"never reached: baseline {o.baseline:g}"

    def recall(o: Outcome) -> str:
        return f"{o.caught}/{n_inc}" + (f" ({pct(o.recall)})" if n_inc else "")

    rows = [("setting", rt.current.describe(r.op), rt.proposal.describe(r.op) if rt.proposal else "-"),
            ("pages (storms grouped)", *both(pages)),
            ("pages per 12h shift", *both(shift)),
            ("precision", *both(lambda o: pct(o.precision))),
            ("recall (incidents caught)", *both(recall)),
            ("worst detection delay", *both(_delay)),
            ("firing outside incidents", *both(outside)),
            ("flap episodes", *both(lambda o: str(o.flap_episodes))),
            ("resolves between incidents", *both(resolves)),
            ("clear vs baseline", *both(baseline)),
            ("alerts fired", *both(lambda o: str(o.fired)))]
    sj_old = rt.old.to_json(rt.series_time)
    sj_new = rt.new.to_json(rt.series_time) if rt.new else None

    def col(key: str, fmt=str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        x = sj_old[key]
        y = sj_new[key] if sj_new else None
        return (fmt(x) if x is not None else "-", fmt(y) if y is not None else "-")

    rows.append(("time pending %", *col("pending_percent", lambda x: f"{x:.3f}")))
    rows.append(("time firing %", *col("firing_percent", lambda x: f"{x:.3f}")))
    rows.append(("median time to resolve", *col("median_time_to_resolve_s", lambda x: format_duration(round(x)))))
    return rows


def render_text(report: object, elapsed: float | None = None) -> str:
    from ..tune import STORM_WINDOW_S, TuneReport

    assert isinstance(report, TuneReport)
    lines = []
    span = ""
    if report.first_t is not None and report.last_t is not None:
        span = f", {iso(report.first_t)} .. {iso(report.last_t)}"
    lines.append(f"{report.samples} samples, {report.series} series{span}; must page within "
                 f"{format_duration(report.max_delay_s)}" + (f"; {elapsed:.1f}s" if elapsed is not None else ""))
    lines.append(clean(report.incident_definition))
    lines.append(f"pages: what a person receives (one rule's alerts within {STORM_WINDOW_S:g}s count once)")
    if report.note:
        lines.append(clean(report.note))
    if not report.rules:
        lines.append("no tunable rule matched any series")
    for rt in report.rules:
        r = rt.rule
        lines.append("")
        lines.append(f"== {clean(r.name)}: {r.metric} ({rt.series} series, {len(rt.incidents)} incidents)")
        for inc in rt.incidents:
            lab = ",".join(f"{k}={v}" for k, v in inc.labels.items())
            lines.append(f"   incident {clean(inc.target)}{'{' + clean(lab) + '}' if lab else ''} "
                         f"{iso(inc.start)} for {format_duration(round(inc.duration))}")
        rows = _columns(rt)
        w0 = max(len(a) for a, _, _ in rows)
        w1 = max(len(b) for _, b, _ in rows)
        for a, b, c in rows:
            lines.append(f"   {a:<{w0}}  {clean(b):<{w1}}  {clean(c)}")
        cut = rt.page_cut_percent
        if rt.short_history:
            lines.append(f"   -> nothing proposed: {rt.note}")
        elif not rt.changed:
            lines.append("   -> keep as is" + (f" ({rt.note})" if rt.note else ""))
        else:
            assert rt.proposal is not None
            lines.append(f"   -> proposed: {rt.proposal.describe(r.op)}"
                         + (f" ({cut:.0f}% fewer pages)" if cut is not None else ""))
            if rt.note:
                lines.append(f"      note: {rt.note}")
        if rt.rejected:
            lines.append("      not proposed: " + ", ".join(f"{why} ({n})"
                                                          for why, n in rt.rejected.items()))
    return "\n".join(lines)
