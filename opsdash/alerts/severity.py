"""Severity: the level a value is at, asked of the rules in force. The one place it is decided.

The panes, ``opsdash once``'s status and the handover ask ``Severity.level``;
none of them holds a threshold of its own. The rules are the same ``Rule``
objects the alert engine evaluates (``rules_from_config``: the built-ins, the
user's ``[[rules]]`` over them, and whatever ``tune --write`` wrote there), so a
user rule or a tuned threshold changes the panes' colours and the alerts alike.

**A level is not an alert.** ``level`` answers "is this value past a rule's
warn or crit threshold *now*?" — what a pane colours a figure with. An alert
*fires* only after the engine's noise controls agree: ``for``, ``attempts``,
hysteresis (``clear``), ``keep_firing_for`` and flap detection. So a disk at 91%
under the built-in 85/95 rule is ``warning`` in the Health pane at once, while
its alert is pending for five minutes; and a disk that falls from 91% to 82% is
``ok`` in the pane while its alert stays firing until it clears at 80%. Both
read the same thresholds, with the engine's comparison: strictly past the
threshold (``>`` for op ">", ``<`` for op "<"); exactly at it is not a breach.

Levels: ``critical`` past a rule's crit (or past its only threshold when it has
no warn), ``warning`` past its warn, ``ok`` inside every rule that covers the
series, ``unknown`` when a rule covers it but there is no value (None, NaN), and
``none`` when no rule covers it: a figure with no rule is shown uncoloured, never
judged by invented numbers. The worst level over all the rules that cover a
series wins (the built-in "disk" and a user "host-disk" on the same metric).

A rule covers a series when its ``metric`` is the series' metric (or a glob that
matches it) and its ``match`` matches the series' view: the target's tags, the
sample's labels and ``target`` (as in the engine). Per-target thresholds (an
endpoint's SLO, a backup's ``max_age``) come from the rule's overrides. The
no-data rule (the dead man's switch) is about arrival, not value: never a level.

Rules are indexed by metric once, so a redraw of a big fleet costs a dict
lookup and a few comparisons per figure. No I/O, no Textual.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from .rules import Rule, matches

__all__ = ["CRITICAL", "LEVELS", "NONE", "OK", "UNKNOWN", "WARNING", "Severity", "worst"]

NONE, OK, UNKNOWN, WARNING, CRITICAL = "none", "ok", "unknown", "warning", "critical"
LEVELS = (NONE, OK, UNKNOWN, WARNING, CRITICAL)
_RANK = {NONE: 0, OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}


def worst(*levels: str) -> str:
    """The worst of some levels (``none`` and ``ok`` count alike; ``none`` wins a tie of nothing)."""
    out = NONE
    for lv in levels:
        if _RANK[lv] > _RANK[out] or (lv == OK and out == NONE):
            out = lv
    return out


def _is_glob(metric: str) -> bool:
    return any(c in metric for c in "*?[")


def _past(rule: Rule, thresholds: tuple[float | None, float | None, float | None], v: float) -> str:
    warn, crit, _clear = thresholds
    s = 1.0 if rule.op == ">" else -1.0
    lo = warn if warn is not None else crit
    if lo is None:
        return NONE
    vs = s * v
    if not vs > s * lo:
        return OK
    if warn is None or (crit is not None and vs > s * crit):
        return CRITICAL
    return WARNING


class Severity:
    """The level of a value of metric M for target T with labels L, by the rules in force."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(r for r in rules if r.enabled and not r.is_no_data)
        self._by_metric: dict[str, list[Rule]] = {}
        self._globs: list[Rule] = []
        for r in self.rules:
            if _is_glob(r.metric):
                self._globs.append(r)
            else:
                self._by_metric.setdefault(r.metric, []).append(r)
        self._memo: dict[str, tuple[Rule, ...]] = {}

    @classmethod
    def for_config(cls, cfg: Any = None) -> "Severity":
        """The rules a collector with this config evaluates (the built-ins alone for None)."""
        from .rules import builtin_rules, rules_from_config

        return cls(rules_from_config(cfg) if cfg is not None else builtin_rules(None))

    def rules_for(self, metric: str) -> tuple[Rule, ...]:
        """The rules on ``metric`` (before ``match``): exact names first, then globs."""
        got = self._memo.get(metric)
        if got is None:
            got = tuple(self._by_metric.get(metric, ())) + tuple(
                r for r in self._globs if matches({"m": r.metric}, {"m": metric}))
            self._memo[metric] = got
        return got

    def _covering(self, metric: str, target: str, labels: Mapping[str, str] | None,
                  tags: Mapping[str, str] | None) -> list[tuple[Rule, tuple[float | None, float | None, float | None]]]:
        rules = self.rules_for(metric)
        if not rules:
            return []
        view = {**(tags or {}), **(labels or {}), "target": target}
        out = []
        for r in rules:
            if r.match and not matches(r.match, view):
                continue
            th = r.thresholds(view)
            if th[0] is None and th[1] is None:
                continue  # e.g. availability-slo for an endpoint without an SLO
            out.append((r, th))
        return out

    def covers(self, metric: str, target: str, labels: Mapping[str, str] | None = None,
               tags: Mapping[str, str] | None = None) -> bool:
        return bool(self._covering(metric, target, labels, tags))

    def level(self, metric: str, value: Any, target: str, labels: Mapping[str, str] | None = None,
              tags: Mapping[str, str] | None = None) -> str:
        """``none`` | ``ok`` | ``unknown`` | ``warning`` | ``critical`` for this value now.

        ``labels`` are the sample's labels as the collector writes them (``mount`` for a
        disk, ``cache``, ``backup``, ``vantage``); ``tags`` the target's tags."""
        covering = self._covering(metric, target, labels, tags)
        if not covering:
            return NONE
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or math.isnan(value):
            return UNKNOWN
        return worst(*(_past(r, th, float(value)) for r, th in covering))

    def check_level(self, kind: Any, row: Mapping[str, Any], target: str, vantage: str) -> str:
        """The level of a probe kind's row (kinds/base.Kind), for its pane, ``once`` and the
        handover alike: a failing check is what the rule on the kind's up-metric says of 0
        (critical with the built-ins; ``unknown`` if the user disabled it), a working one the
        worst level of the figures its columns name."""
        labels = {"vantage": vantage}
        _word, failing = kind.state(row)
        if failing:
            if not kind.up_metric:
                return CRITICAL
            lv = self.level(kind.up_metric, 0.0, target, labels)
            return UNKNOWN if lv == NONE else lv
        levels = [self.level(c.metric, row.get(c.key), target, labels) for c in kind.columns if c.metric]
        return worst(OK, *(lv for lv in levels if lv != UNKNOWN))
