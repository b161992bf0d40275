"""The Alertmanager mirror: how a silence made here reaches the Alertmanager sources.

Silences live in the store (queue.py). An alert that came from an Alertmanager
source is silenced there too, so its own receivers stay quiet, and a silence
ended here is expired there. That takes HTTP, which lives in collect/; the TUI
(ui/actions.py) never imports collect/, so whoever builds the app passes it a
mirror: ``opsdash`` (commands/run.py) passes
``collect.alertmanager.AlertmanagerSilences(config)``. An app built without one
(tests, a store with no config) gets ``NO_MIRROR``: nothing to copy.
"""

from __future__ import annotations

from typing import Protocol

from ..store import Store

__all__ = ["NO_MIRROR", "AlertmanagerMirror", "NoMirror"]


class AlertmanagerMirror(Protocol):
    def push_silence(self, store: Store, silence_id: int) -> dict[str, str]:
        """After silence ``silence_id`` was written here: create it in every Alertmanager source
        holding alerts it matches. Returns {source: Alertmanager's id, or "error: ..."}."""
        ...

    def expire_silence(self, store: Store, silence_id: int) -> dict[str, str]:
        """After silence ``silence_id`` ended here: expire its copies.
        Returns {source: "expired" | "already gone" | "error: ..."}."""
        ...


class NoMirror:
    """No Alertmanager to copy silences to."""

    def push_silence(self, store: Store, silence_id: int) -> dict[str, str]:
        return {}

    def expire_silence(self, store: Store, silence_id: int) -> dict[str, str]:
        return {}


NO_MIRROR = NoMirror()
