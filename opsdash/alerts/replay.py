"""Replay recorded samples through the rules, on the samples' own time.

Input is JSON lines (docs/contracts.md): ``{"t": ..., "target": ..., "metric": ...,
"value": ..., "labels": {...}}``, ``labels`` optional, blank lines and lines
starting with ``#`` skipped. Samples should be in time order; a sample older
than the last one of its series is dropped (as Prometheus does). The engine's
``tick`` runs as recorded time passes (every ``tick_every`` seconds of it), so
``keep_firing_for`` expiries and the dead man's switch happen as they would
have live. No store is written.

This is what ``opsdash replay`` and ``opsdash tune --samples`` build on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import OpsdashError
from .engine import AlertEngine, TransitionEvent
from .rules import Rule

__all__ = ["ReplayError", "ReplayResult", "iter_jsonl", "replay", "replay_file"]


class ReplayError(OpsdashError):
    """A line of the samples file is not a sample. Carries the line number."""

    def __init__(self, source: str, lineno: int, message: str):
        self.source, self.lineno = source, lineno
        super().__init__(f"{source}:{lineno}: {message}" if lineno else f"{source}: {message}")


@dataclass
class ReplayResult:
    transitions: list[TransitionEvent] = field(default_factory=list)
    samples: int = 0
    series: int = 0
    first_t: float | None = None
    last_t: float | None = None

    @property
    def alerts_fired(self) -> int:
        return sum(1 for e in self.transitions if e.to_state == "firing" and e.from_state != "firing"
                   and e.from_state != "flapping")

    def fired_by_rule(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.transitions:
            if e.to_state == "firing" and e.from_state not in ("firing", "flapping"):
                out[e.rule] = out.get(e.rule, 0) + 1
        return out

    def to_json(self) -> dict[str, object]:
        return {"transitions": [e.to_json() for e in self.transitions], "alerts_fired": self.alerts_fired}


_Parsed = tuple[float, str, str, float, Mapping[str, str] | None]


def _bad(source: str, lineno: int, line: str, what: str) -> ReplayError:
    shown = line.strip()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ReplayError(source, lineno, f"{what} (got {shown!r}); expected a JSON object like "
                                       '{"t": 1763800000.0, "target": "web-1", "metric": "host.cpu_percent", "value": 93.5}')


def iter_jsonl(lines: Iterable[str], source: str = "<samples>") -> Iterator[_Parsed]:
    """(t, target, metric, value, labels) per line; ReplayError names the first bad line."""
    loads = json.loads
    isfinite = math.isfinite
    for lineno, line in enumerate(lines, 1):
        try:
            d = loads(line)
        except ValueError:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            raise _bad(source, lineno, line, "not valid JSON") from None
        try:
            t = d["t"]
            target = d["target"]
            metric = d["metric"]
            value = d["value"]
        except (KeyError, TypeError):
            if not isinstance(d, dict):
                raise _bad(source, lineno, line, "not a JSON object") from None
            missing = [k for k in ("t", "target", "metric", "value") if k not in d]
            raise _bad(source, lineno, line, "missing " + ", ".join(missing)) from None
        tt, vt = type(t), type(value)
        if not (tt is float or tt is int) or not (vt is float or vt is int):
            if tt is bool or vt is bool or not isinstance(t, (int, float)) or not isinstance(value, (int, float)):
                which = "t" if tt is bool or not isinstance(t, (int, float)) else "value"
                raise _bad(source, lineno, line, f'"{which}" must be a number')
        if type(target) is not str or type(metric) is not str or not target or not metric:
            raise _bad(source, lineno, line, '"target" and "metric" must be non-empty strings')
        if not isfinite(t):
            raise _bad(source, lineno, line, '"t" must be a finite number')
        labels = d.get("labels")
        if labels is not None:
            if type(labels) is not dict or not all(type(v) is str for v in labels.values()):
                raise _bad(source, lineno, line, '"labels" must be an object of strings')
        yield t, target, metric, value, labels


def replay(
    samples: Iterable[_Parsed],
    rules: Sequence[Rule],
    *,
    tags: Callable[[str], Mapping[str, str]] | None = None,
    tick_every: float = 15.0,
) -> ReplayResult:
    """Feed parsed samples through a fresh engine; every transition, in order."""
    engine = AlertEngine(rules, tags=tags)
    res = ReplayResult()
    out = res.transitions
    engine._out = out  # the hot path appends here directly: no list per sample
    sample = engine._sample
    next_tick = None
    n = 0
    first = last = None
    for t, target, metric, value, labels in samples:
        n += 1
        if next_tick is None:
            first = last = t
            next_tick = t + tick_every
        elif t >= next_tick:
            # recorded time passed: tick through it (bounded, so a year-long gap costs 1000 ticks)
            step = max(tick_every, (t - next_tick) / 1000.0)
            while next_tick <= t:
                out.extend(engine.tick(next_tick))
                next_tick += step
            engine._out = out
        if t > last:
            last = t
        sample(t, target, metric, value, labels)
    res.samples = n
    res.series = len(engine._series)
    res.first_t, res.last_t = first, last
    return res


def replay_file(
    path: str | Path | IO[str],
    rules: Sequence[Rule],
    *,
    tags: Callable[[str], Mapping[str, str]] | None = None,
    tick_every: float = 15.0,
) -> ReplayResult:
    if isinstance(path, (str, Path)):
        try:
            with open(path, encoding="utf-8") as f:
                return replay(iter_jsonl(f, str(path)), rules, tags=tags, tick_every=tick_every)
        except UnicodeDecodeError as e:
            raise ReplayError(str(path), 0, f"not UTF-8 text: {e.reason}") from None
        except OSError as e:
            raise ReplayError(str(path), 0, f"cannot read: {e.strerror or e}") from None
    return replay(iter_jsonl(path, getattr(path, "name", "<samples>")), rules, tags=tags, tick_every=tick_every)
