"""Backups: one row per backup job. The last restore test (result and age) comes first."""

from .pane import Pane


class BackupsPane(Pane):
    pane_id = "backups"
    empty_text = "no backups yet (add [[hosts.backups]] to a host in the config)"
