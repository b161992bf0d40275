"""Alerts: rules, the one state machine, queue actions, replay.

Nothing here imports Textual or does network I/O; time comes from the samples
or from ``AlertEngine.tick(now)``.
"""

from __future__ import annotations

from .engine import AlertEngine, TransitionEvent, alert_id, group_alerts
from .rules import NO_DATA, Rule, builtin_rules, rules_from_config, tags_from_config

__all__ = [
    "NO_DATA",
    "AlertEngine",
    "Rule",
    "TransitionEvent",
    "alert_id",
    "builtin_rules",
    "group_alerts",
    "rules_from_config",
    "tags_from_config",
]
