"""Alert rules: the compiled form the engine evaluates, and the built-in defaults.

A ``Rule`` is a ``[[rules]]`` entry (docs/contracts.md) made ready for evaluation:
durations in seconds, ``clear`` resolved (default: the lower of warn/crit, on
the right side of it), and optional per-target thresholds (``overrides``) for
the built-ins whose limits come from the config (an endpoint's SLO, a backup's
``max_age``).

``rules_from_config(cfg)`` returns the built-in rules derived from the config,
with every user ``[[rules]]`` entry applied on top: an entry with a built-in's
name overrides only the keys it sets (so ``for = "10m"`` on "cpu" keeps the
built-in thresholds), ``enabled = false`` drops a rule, any other name adds one.

``match`` selects targets: every key must equal (or glob-match, with ``*``,
``?``, ``[``) the value of that key in the target's tags, the sample's labels,
or the special key ``"target"`` (the target's name).

Label conventions the built-ins rely on: disks carry ``mount``, backups carry
``backup`` (the ``[[hosts.backups]]`` name; target = the host), endpoints have
the endpoint name as target.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from ..config import Config, RuleConfig
from ..errors import ConfigError, ConfigProblem
from ..kinds.registry import rule_sources

__all__ = ["NO_DATA", "Rule", "builtin_rules", "check_rule_names", "rules_from_config", "tags_from_config"]

NO_DATA = "no-data"
DAY = 86400.0
_TIERS = ("L1", "L2", "L3")


def _is_glob(v: str) -> bool:
    return any(c in v for c in "*?[")


def match_value(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == value:
        return True
    return _is_glob(pattern) and fnmatch.fnmatchcase(value, pattern)


def matches(matchers: Mapping[str, str], view: Mapping[str, str]) -> bool:
    return all(match_value(p, view.get(k)) for k, p in matchers.items())


@dataclass(frozen=True, slots=True)
class Override:
    """Thresholds for the series whose view (tags + labels + target) matches ``match``."""

    match: Mapping[str, str]
    warn: float | None
    crit: float | None
    clear: float | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str  # a metric name; "*" or a glob for the no-data rule
    warn: float | None = None
    crit: float | None = None
    op: str = ">"
    clear: float | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    attempts: int = 1
    flap: tuple[float, float] | None = None
    tier: Mapping[str, str] = field(default_factory=lambda: {"warning": "L1", "critical": "L2"})
    runbook: str = ""
    summary: str = ""
    match: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    description: str = ""
    builtin: bool = False
    overrides: tuple[Override, ...] = ()

    @property
    def is_no_data(self) -> bool:
        return self.name == NO_DATA

    def thresholds(self, view: Mapping[str, str]) -> tuple[float | None, float | None, float | None]:
        """(warn, crit, clear) for one series; clear already defaulted and on the right side."""
        warn, crit, clear = self.warn, self.crit, self.clear
        for o in self.overrides:
            if matches(o.match, view):
                warn, crit, clear = o.warn, o.crit, o.clear
                break
        lo = warn if warn is not None else crit
        if lo is None:
            return None, None, None
        if clear is None:
            clear = lo
        elif self.op == ">":
            clear = min(clear, lo)
        else:
            clear = max(clear, lo)
        return warn, crit, clear

    def instant(self) -> "Rule":
        """This rule for a one-shot snapshot (`opsdash once`): thresholds only, no `for`, attempts,
        keep_firing_for or flap detection. Rules whose `for` is a day or more are part of what they
        mean ("pending for 7 days") and cannot be judged from one snapshot: disabled."""
        if self.for_s >= DAY or self.is_no_data:
            return replace(self, enabled=False)
        return replace(self, for_s=0.0, attempts=1, keep_firing_for_s=0.0, flap=None)

    def tier_for(self, severity: str) -> str:
        return self.tier.get(severity) or ("L2" if severity == "critical" else "L1")

    def describe(self) -> str:
        """One line for `opsdash check-config`: what the rule checks, and its noise controls."""
        from ..config import format_duration

        parts = [f"{self.name}: {self.metric}"]
        if self.is_no_data:
            parts.append(f"no sample for {self.warn or 3:g}x the series' interval")
        else:
            if self.warn is not None:
                parts.append(f"warn {self.op} {self.warn:g}")
            if self.crit is not None:
                parts.append(f"crit {self.op} {self.crit:g}")
            if self.overrides:
                parts.append(f"({len(self.overrides)} per-target thresholds)")
            if self.clear is not None:
                parts.append(f"clear {self.clear:g}")
        if self.for_s:
            parts.append(f"for {format_duration(self.for_s)}")
        if self.attempts > 1:
            parts.append(f"attempts {self.attempts}")
        if self.keep_firing_for_s:
            parts.append(f"keep_firing_for {format_duration(self.keep_firing_for_s)}")
        if self.flap:
            parts.append(f"flap {self.flap[0]:g}/{self.flap[1]:g}%")
        if self.match:
            parts.append("match " + ",".join(f"{k}={v}" for k, v in self.match.items()))
        parts.append("tiers " + "/".join(f"{k}={v}" for k, v in self.tier.items()))
        if not self.enabled:
            parts.append("disabled")
        return "  ".join(parts)


def from_rule_config(rc: RuleConfig) -> Rule:
    return Rule(
        name=rc.name, metric=rc.metric, warn=rc.warn, crit=rc.crit, op=rc.op, clear=rc.clear,
        for_s=rc.for_s, keep_firing_for_s=rc.keep_firing_for_s, attempts=rc.attempts, flap=rc.flap,
        tier=dict(rc.tier), runbook=rc.runbook, summary=rc.summary, match=dict(rc.match), enabled=rc.enabled,
    )


def builtin_rules(cfg: Config | None = None) -> list[Rule]:
    """The default rules: every kind's built-ins (kinds/base.BuiltinRule: the host's, the
    endpoints', caches', patches', backups', security's, certificates', DNS', journeys',
    databases' ...), with the per-check thresholds the config sets (an endpoint's SLO, a
    backup's max_age, a check's own) as overrides on the series each check's ``match``
    selects; then the dead man's switch."""
    out = []
    for rules, checks, match in rule_sources(cfg):
        for b in rules:
            overrides = []
            if b.per_check is not None:
                for c in checks:
                    own = b.per_check(c)
                    if own is not None:
                        overrides.append(Override(dict(match(c)), own[0], own[1]))
            kw: dict[str, Any] = {"tier": dict(b.tier)} if b.tier else {}
            out.append(Rule(name=b.name, metric=b.metric, warn=b.warn, crit=b.crit, op=b.op, clear=b.clear,
                            for_s=b.for_s, keep_firing_for_s=b.keep_firing_for_s, attempts=b.attempts, flap=b.flap,
                            description=b.description, runbook=b.runbook, summary=b.summary,
                            overrides=tuple(overrides), builtin=True, **kw))
    out.append(Rule(
        name=NO_DATA, metric="*", warn=3.0, tier={"warning": "L1", "critical": "L2"}, builtin=True,
        description="dead man's switch: a series stopped arriving (no sample for 3x its interval)",
        runbook="is the collector running (`opsdash collect`)? did the probe start failing? check its error"))
    return out


# Keys of a [[rules]] table and the Rule fields they set.
_RAW_KEYS = {
    "metric": ("metric",), "warn": ("warn",), "crit": ("crit",), "op": ("op",), "clear": ("clear",),
    "for": ("for_s",), "keep_firing_for": ("keep_firing_for_s",), "attempts": ("attempts",), "flap": ("flap",),
    "tier": ("tier",), "runbook": ("runbook",), "summary": ("summary",), "match": ("match",),
    "enabled": ("enabled",),
}


def _raw_rule_keys(cfg: Config, name: str) -> set[str] | None:
    raw = cfg.raw.get("rules") if isinstance(cfg.raw, dict) else None
    if not isinstance(raw, list):
        return None
    for item in raw:
        if isinstance(item, dict) and item.get("name") == name:
            return set(item)
    return None


def rules_from_config(cfg: Config) -> list[Rule]:
    """Built-in rules overlaid with the config's [[rules]]; disabled rules left out."""
    rules = {r.name: r for r in builtin_rules(cfg)}
    for rc in cfg.rules:
        user = from_rule_config(rc)
        base = rules.get(rc.name)
        if base is None:
            rules[rc.name] = user
            continue
        keys = _raw_rule_keys(cfg, rc.name)
        if keys is None:  # no raw document (built in code): the entry replaces the built-in
            rules[rc.name] = replace(user, description=base.description, runbook=user.runbook or base.runbook)
            continue
        changes: dict[str, Any] = {}
        for key in keys:
            for f in _RAW_KEYS.get(key, ()):
                changes[f] = getattr(user, f)
        if "warn" in keys or "crit" in keys:
            changes["overrides"] = ()  # the user's thresholds win over per-target ones
        rules[rc.name] = replace(base, builtin=False, **changes)
    return [r for r in rules.values() if r.enabled]


def tags_from_config(cfg: Config) -> "dict[str, dict[str, str]]":
    """Tags by target name: hosts and endpoints (what the engine's ``tags`` callable looks up)."""
    out: dict[str, dict[str, str]] = {}
    for h in cfg.hosts:
        out[h.name] = dict(h.tags)
    for e in cfg.endpoints:
        out.setdefault(e.name, {}).update(e.tags)
    return out


def next_tier(tier: str) -> str:
    try:
        i = _TIERS.index(tier)
    except ValueError:
        return "L2"
    return _TIERS[min(i + 1, len(_TIERS) - 1)]


def check_rule_names(rules: Sequence[Rule], names: Sequence[str] | None) -> None:
    """Raise a one-line ConfigError when ``--rule`` names a rule that does not exist."""
    unknown = sorted(set(names or ()) - {r.name for r in rules})
    if unknown:
        raise ConfigError([ConfigProblem(
            "command line", "--rule",
            f"no rule named {', '.join(unknown)} (rules: {', '.join(sorted(r.name for r in rules))})")])
