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


def test_a_settle_frees_the_garbage_and_freezes_what_lives_and_a_sweep_frees_what_died_frozen() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the GC frees it

    with gcpolicy.held():
        frozen = gc.get_freeze_count()
        live = [Node() for _ in range(1000)]
        dead = [Node() for _ in range(500)]
        del dead
        assert gcpolicy.settle()
        assert gc.get_freeze_count() >= frozen + 1000  # what lives is frozen now ...
        assert gc.collect() == 0  # ... and the dead cycles were freed first, not frozen
        del live  # cycles that die frozen: no pass of the young generations finds them
        assert gc.collect() == 0
        assert gcpolicy.sweep()
        assert gc.get_freeze_count() < frozen + 1000
    assert gc.get_freeze_count() == 0


def test_nothing_is_frozen_after_the_start_while_a_ui_runs_the_full_passes() -> None:
    with gcpolicy.held():
        gcpolicy.defer_full()  # the TUI: its rendered lines die after seconds, in cycles
        frozen = gc.get_freeze_count()
        keep = [[i] for i in range(1000)]
        assert not gcpolicy.settle() and not gcpolicy.sweep()
        assert gc.get_freeze_count() == frozen
        del keep
    assert not gcpolicy.settle()  # not held: nothing to do either
    with gcpolicy.held():  # a later holder is not deferred
        assert gcpolicy.settle()


def test_the_settler_freezes_every_fifty_new_connections_and_sweeps_after_a_tenth_dropped() -> None:
    churn = gcpolicy.Churn()
    done: list[str] = []
    s = gcpolicy.Settler(churn, settle=lambda: done.append("settle") or True,
                         sweep=lambda: done.append("sweep") or True)
    assert s.tick() is None
    churn.opened = 49
    assert s.tick() is None
    churn.opened = 50
    assert s.tick() == "settle" and s.tick() is None  # once per 50
    churn.opened = 5000
    assert s.tick() == "settle"
    churn.dropped = 440  # under a tenth of the 4560 open
    assert s.tick() is None
    churn.dropped = 460  # over a tenth of the 4540 open: the frozen dead are worth one full pass
    assert s.tick() == "sweep" and s.tick() is None
    churn.opened, churn.dropped = 5049, 509  # 49 reconnects: neither
    assert s.tick() is None
    assert done == ["settle", "settle", "sweep"]
