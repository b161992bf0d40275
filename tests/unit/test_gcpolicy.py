"""gcpolicy: what exists when a loop starts is frozen out of the GC's reach until the last holder lets go."""

from __future__ import annotations

import gc
import threading

from opsdash import gcpolicy


def test_hold_freezes_the_heap_and_release_restores_it() -> None:
    before = gc.get_threshold()
    long_lived = [[i] for i in range(10_000)]
    gcpolicy.hold()
    try:
        assert gc.get_freeze_count() >= len(long_lived)
        assert gc.get_threshold() == gcpolicy.THRESHOLD
    finally:
        gcpolicy.release()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_holds_nest_across_threads_and_extra_releases_are_harmless() -> None:
    before = gc.get_threshold()
    gcpolicy.hold()  # the TUI
    t = threading.Thread(target=lambda: (gcpolicy.hold(), gcpolicy.release()))  # its embedded collector
    t.start()
    t.join()
    assert gc.get_freeze_count() > 0, "the collector's release unfroze the TUI's heap"
    assert gc.get_threshold() == gcpolicy.THRESHOLD
    gcpolicy.release()
    gcpolicy.release()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    with gcpolicy.held():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
