"""Alerts: the queue. Firing first, then pending, then resolved; acked and silenced sink."""

from .pane import Pane


class AlertsPane(Pane):
    pane_id = "alerts"
    empty_text = "no alerts. Quiet shift so far."
