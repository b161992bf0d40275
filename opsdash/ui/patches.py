"""Patches: one row per host. Pending and security updates, reboot required, last update."""

from .pane import Pane


class PatchesPane(Pane):
    pane_id = "patches"
    empty_text = "no patch data yet (hosts with the \"patches\" probe)"
