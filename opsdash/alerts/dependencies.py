"""Dependencies between targets: a parent down explains its dependants' alerts.

``depends_on = ["bastion"]`` on a host or endpoint, and a host's ``jump`` when it names
a configured host (Config.parents), make a graph; config.py refuses unknown names and
loops. The engine asks two things of it, with the set of targets that are down now
(their host-down / endpoint-down alert fires):

- ``cause(target, down)``: the down ancestor that explains this target, or None. When
  several are down (db behind web behind bastion), the one with no down ancestor of
  its own: the root of the outage, so every alert behind it names the same parent.
- ``held_by(parent, down)``: the dependants whose cause is this parent, which its
  page names ("12 dependants suppressed: ...").

Pure: no clock, no store.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

__all__ = ["Dependencies"]


class Dependencies:
    def __init__(self, parents: Mapping[str, Sequence[str]], intervals: Mapping[str, float] | None = None):
        self.parents = {k: tuple(v) for k, v in parents.items() if v}
        self.intervals = dict(intervals or {})  # a target's poll interval, for the hold-off after a recovery
        self._ancestors: dict[str, tuple[str, ...]] = {}
        children: dict[str, set[str]] = {}
        for child, ps in self.parents.items():
            for p in ps:
                children.setdefault(p, set()).add(child)
        self._children = children
        self._dependants: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_config(cls, config: Any) -> "Dependencies":
        intervals = {h.name: h.interval for h in config.hosts}
        intervals.update({e.name: e.interval for e in config.endpoints})
        return cls(config.parents(), intervals)

    def __bool__(self) -> bool:
        return bool(self.parents)

    def ancestors(self, target: str) -> tuple[str, ...]:
        """Every target this one depends on, nearest first (breadth-first); loops are cut."""
        got = self._ancestors.get(target)
        if got is None:
            out: list[str] = []
            todo = list(self.parents.get(target, ()))
            while todo:
                p = todo.pop(0)
                if p == target or p in out:
                    continue
                out.append(p)
                todo.extend(self.parents.get(p, ()))
            got = self._ancestors[target] = tuple(out)
        return got

    def dependants(self, parent: str) -> tuple[str, ...]:
        """Every target that depends on ``parent``, directly or through others, sorted."""
        got = self._dependants.get(parent)
        if got is None:
            seen: set[str] = set()
            todo = list(self._children.get(parent, ()))
            while todo:
                c = todo.pop()
                if c == parent or c in seen:
                    continue
                seen.add(c)
                todo.extend(self._children.get(c, ()))
            got = self._dependants[parent] = tuple(sorted(seen))
        return got

    def cause(self, target: str, down: Collection[str]) -> str | None:
        """The down ancestor that explains ``target`` (the root of the outage), or None."""
        if not down:
            return None
        downs = [a for a in self.ancestors(target) if a in down]
        if not downs:
            return None
        for a in downs:
            if not any(x in down for x in self.ancestors(a)):
                return a
        return downs[0]

    def held_by(self, parent: str, down: Collection[str]) -> tuple[str, ...]:
        """The dependants of ``parent`` it explains now (sorted): what its page names."""
        if parent not in down:
            return ()
        return tuple(d for d in self.dependants(parent) if self.cause(d, down) == parent)
