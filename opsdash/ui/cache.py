"""Cache: one row per cache. Hit rate over the window, ops/s, hit-rate trend."""

from .pane import Pane


class CachePane(Pane):
    pane_id = "cache"
    empty_text = "no caches yet (add [[hosts.caches]] to a host in the config)"
