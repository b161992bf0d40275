"""Health: one row per host. Up/down, CPU, memory, worst disk, load per core, uptime, poll age."""

from .pane import Pane


class HealthPane(Pane):
    pane_id = "health"
    empty_text = "no hosts yet: waiting for the first poll (hosts come from [[hosts]] in the config)"
