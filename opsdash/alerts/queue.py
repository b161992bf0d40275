"""Queue actions on alerts, written to the store by any viewer (TUI, shell).

Each action is one committed SQLite transaction, so it survives a kill -9 of
whoever wrote it; the collector's engine reads acks and silences from the
store when it decides whether to page, and clears acks when an alert changes
(non-sticky) or resolves (all).

- ``ack``: who (``$USER``), note, sticky (kept through severity changes until
  the alert resolves) or not (cleared by the next change), optional expiry.
- ``unack``, ``note``.
- ``silence``: matchers (``target``, ``rule``, ``severity``, tags and labels;
  glob values not supported: exact match, as the store compares), a duration,
  a note, optionally ending when the matched alerts resolve. Matchers are
  checked against what alerts can carry (``matcher_vocabulary``), so a typo
  is refused with a did-you-mean instead of silencing nothing.
- ``unsilence``: ends a silence early.
- ``escalate``: to the next tier (L1 -> L2 -> L3), recorded with who and when.

``now`` is injectable everywhere (default: the wall clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..config import format_duration
from ..errors import OpsdashError
from ..model import Alert
from ..store import Silence, Store, current_user
from .rules import next_tier

__all__ = [
    "MatcherVocabulary",
    "QueueError",
    "UnknownAlert",
    "UnknownSilence",
    "ack",
    "describe_silence",
    "escalate",
    "find_alert",
    "find_silence",
    "matcher_vocabulary",
    "note",
    "parse_matchers",
    "silence",
    "silence_matches",
    "silenced_by",
    "unack",
    "unsilence",
    "vocabulary_from_store",
]


class QueueError(OpsdashError):
    """A queue action cannot be done (bad matcher, nothing to escalate)."""


class UnknownAlert(QueueError):
    def __init__(self, alert_id: str, detail: str = "no such alert"):
        self.alert_id = alert_id
        super().__init__(f"{alert_id}: {detail} (see `opsdash alerts --all`)")


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def find_alert(store: Store, alert_id: str, *, now: float | None = None) -> Alert:
    """The alert with this id, or the only one whose id starts with it (like git's short hashes)."""
    alert_id = alert_id.strip()
    if not alert_id:
        raise UnknownAlert(alert_id, "empty alert id")
    alerts = store.alerts(now=_now(now))
    exact = [a for a in alerts if a.id == alert_id]
    if exact:
        return exact[0]
    hits = [a for a in alerts if a.id.startswith(alert_id)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise UnknownAlert(alert_id, f"ambiguous: {len(hits)} alerts start with it")
    raise UnknownAlert(alert_id)


def ack(
    store: Store, alert_id: str, *, note: str = "", sticky: bool = False, expires: float | None = None,
    who: str | None = None, now: float | None = None,
) -> Alert:
    """Acknowledge an alert; ``expires`` is a duration in seconds from now. Returns the alert."""
    now = _now(now)
    a = find_alert(store, alert_id, now=now)
    if expires is not None and expires <= 0:
        raise QueueError("an ack's expiry must be a duration greater than zero")
    who = who or current_user()
    store.add_ack(a.id, who=who, note=note, sticky=sticky, expires_at=now + expires if expires else None, t=now)
    if note:
        store.add_note(note, who=who, target=a.target, alert_id=a.id, t=now)
    a.acked, a.ack_note, a.ack_by = True, note, who
    return a


def unack(store: Store, alert_id: str, *, who: str | None = None, now: float | None = None) -> int:
    """Clear the alert's acks; returns how many were active."""
    now = _now(now)
    a = find_alert(store, alert_id, now=now)
    return store.clear_acks(a.id, reason=f"unacked by {who or current_user()}", t=now)


def note(store: Store, alert_id: str, text: str, *, who: str | None = None, now: float | None = None) -> int:
    """A note on an alert ("what was tried"); it shows in the queue and the handover."""
    now = _now(now)
    if not text.strip():
        raise QueueError("a note needs some text")
    a = find_alert(store, alert_id, now=now)
    return store.add_note(text, who=who or current_user(), target=a.target, alert_id=a.id, t=now)


# --- silences -------------------------------------------------------------------------------

# What a silence is matched against (store.alerts, the engine): an alert's labels (its target's
# tags and its series' labels) plus these. "alertname" is Alertmanager's word for the rule.
BUILTIN_KEYS = ("target", "rule", "alertname", "severity")
SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class MatcherVocabulary:
    """The keys a silence matcher may use, and for some keys the values they may take.

    ``values[key]`` is the set of known values, or None when any value is accepted (a tag's
    value, a label's value: a host about to be added may carry it). Built by
    ``matcher_vocabulary``; the CLI's ``silence`` and the TUI's silence dialog both check
    with it, so a typo is refused the same way in both."""

    values: Mapping[str, frozenset[str] | None]

    def check(self, matchers: Mapping[str, str]) -> None:
        """Raise QueueError for the first matcher an alert cannot carry, with a did-you-mean."""
        for k, v in matchers.items():
            if k == "tier" and k not in self.values:  # opsdash's tier, not a tag named "tier"
                raise QueueError(f'{k}={v}: a silence cannot match "tier" (an escalation changes it, and '
                                 "silences match labels); use target=, rule= or severity=")
            if k not in self.values:
                raise QueueError(f'{k}={v}: unknown label "{k}"' + _did_you_mean(k, self.values, "labels"))
            known = self.values[k]
            if known is not None and v not in known:
                what = {"alertname": "rule"}.get(k, k)
                raise QueueError(f'{k}={v}: unknown {what} "{v}"' + _did_you_mean(v, known, f"{what}s"))


def _did_you_mean(word: str, choices: Iterable[str], what: str) -> str:
    import difflib

    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == word.lower()]
    if close:
        return "; did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f" (known {what}: {shown})" if choices else ""


def matcher_vocabulary(
    config: Any = None, *, alerts: Iterable[Alert] = (), target_tags: Mapping[str, Mapping[str, str]] | None = None,
    series_labels: Iterable[tuple[str, Mapping[str, str]]] = (), targets: Iterable[str] = (),
) -> MatcherVocabulary:
    """What alerts can carry: target, rule (alertname), severity, the config's host and endpoint
    tags, and the labels seen on alerts, on the store's series and on targets' rows (a
    Prometheus target's labels). ``targets``: other names seen in the store (latest rows).
    Target and rule values are checked when any are known; tag and label values are not."""
    from .rules import rules_from_config, tags_from_config

    tag_keys: set[str] = set()
    known_targets: set[str] = set(targets)
    rules: set[str] = set()
    if config is not None:
        for target, tags in tags_from_config(config).items():
            known_targets.add(target)
            tag_keys.update(tags)
        rules.update(r.name for r in rules_from_config(config))
    for target, tags in (target_tags or {}).items():
        known_targets.add(target)
        tag_keys.update(tags)
    for a in alerts:
        known_targets.add(a.target)
        rules.add(a.rule)
        tag_keys.update(a.labels)
    for target, labels in series_labels:
        known_targets.add(target)
        tag_keys.update(labels)
    values: dict[str, frozenset[str] | None] = {k: None for k in tag_keys}
    values["target"] = frozenset(known_targets) or None
    values["rule"] = values["alertname"] = frozenset(rules) or None
    values["severity"] = frozenset(SEVERITIES)
    return MatcherVocabulary(values)


def vocabulary_from_store(store: Store, config: Any = None, now: float | None = None) -> MatcherVocabulary:
    """``matcher_vocabulary`` over what this store holds (read-only use; call off the UI thread)."""
    target_tags: dict[str, dict[str, str]] = {}
    targets: set[str] = set()
    for kind in ("host", "endpoint", "cache", "backup", "patches"):
        for row in store.latest(kind, raw=False):
            targets.add(row["target"])
            tags = (row.get("data") or {}).get("tags")
            if isinstance(tags, dict):
                target_tags.setdefault(row["target"], {}).update({str(k): str(v) for k, v in tags.items()})
    series = [(target, labels) for target, _metric, labels in store.series()]
    return matcher_vocabulary(config, alerts=store.alerts(now=_now(now)), target_tags=target_tags,
                              series_labels=series, targets=targets)


def parse_matchers(items: Iterable[str], vocabulary: MatcherVocabulary | None = None) -> dict[str, str]:
    """["target=web-1", "rule=disk"] -> {"target": "web-1", "rule": "disk"}; checked against
    ``vocabulary`` when given (QueueError: ``targt=web1: unknown label "targt"; did you mean "target"?``)."""
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or not k or not v:
            raise QueueError(f'{item}: expected key=value, like target=web-1 or rule=disk')
        if k in out and out[k] != v:
            raise QueueError(f'{item}: "{k}" is matched twice ({k}={out[k]}); a silence matches one value per key')
        out[k] = v
    if vocabulary is not None:
        vocabulary.check(out)
    return out


def silence(
    store: Store, matchers: Mapping[str, str], duration_s: float, *, note: str = "", until_resolved: bool = False,
    who: str | None = None, now: float | None = None,
) -> int:
    """Silence the alerts matching every matcher for ``duration_s`` seconds; returns the silence id."""
    if not matchers:
        raise QueueError("a silence needs at least one matcher (like target=web-1)")
    if duration_s <= 0:
        raise QueueError("a silence needs a duration greater than zero")
    now = _now(now)
    return store.add_silence(dict(matchers), ends_at=now + duration_s, who=who or current_user(), note=note,
                             until_resolved=until_resolved, t=now)


class UnknownSilence(QueueError):
    def __init__(self, text: str, detail: str = "no such silence"):
        super().__init__(f"silence {text}: {detail} (see `opsdash alerts`)")


def find_silence(store: Store, silence_id: str | int) -> Silence:
    """The silence with this id ("12" or "#12"), active or not."""
    text = str(silence_id).strip()
    try:
        sid = int(text.removeprefix("#"))
    except ValueError:
        raise UnknownSilence(text, "expected a silence number, like 12 or #12") from None
    hit = next((s for s in store.silences(since=0.0) if s.id == sid), None)
    if hit is None:
        raise UnknownSilence(text)
    return hit


def unsilence(store: Store, silence_id: int | str, *, now: float | None = None) -> bool:
    """End a silence now. True when it was active; False when it had already ended
    (or expired by its own end time). Unknown ids raise UnknownSilence."""
    now = _now(now)
    s = find_silence(store, silence_id)
    if s.expired_at is not None or s.ends_at <= now:
        return False
    return store.expire_silence(s.id, now)


def _silence_labels(a: Alert) -> dict[str, str]:
    return {**a.labels, "target": a.target, "rule": a.rule, "alertname": a.rule, "severity": a.severity}


def silenced_by(store: Store, a: Alert, now: float | None = None) -> list[Silence]:
    full = _silence_labels(a)
    return [s for s in store.active_silences(_now(now)) if s.matches(full)]


def silence_matches(store: Store, matchers: Mapping[str, str], now: float | None = None) -> list[Alert]:
    """The open (pending or firing) alerts these matchers cover now: what one silence silences."""
    probe = Silence(0, 0.0, "", dict(matchers), "", 0.0, False, None, None)
    return [a for a in store.alerts(states=("pending", "firing"), now=_now(now)) if probe.matches(_silence_labels(a))]


@dataclass(frozen=True)
class Escalation:
    alert: Alert
    from_tier: str
    to_tier: str
    who: str
    t: float

    @property
    def changed(self) -> bool:
        return self.from_tier != self.to_tier


def escalate(store: Store, alert_id: str, *, who: str | None = None, now: float | None = None) -> Escalation:
    """Raise the alert to the next tier (L1 -> L2 -> L3) and record who did it."""
    now = _now(now)
    who = who or current_user()
    # The tier lives in the alert's row (the collector never lowers it while the alert is
    # open). Compare-and-set: if someone escalated between our read and our write, read
    # again and go one tier above theirs, or report the top tier; never two rows for one step.
    for _ in range(5):
        a = find_alert(store, alert_id, now=now)
        to = next_tier(a.tier)
        if to == a.tier or store.add_escalation(a.id, who=who, from_tier=a.tier, to_tier=to, t=now):
            break
    esc = Escalation(a, a.tier, to, who, now)
    a.tier = to
    return esc


def describe_silence(s: Silence, now: float) -> str:
    m = ",".join(f"{k}={v}" for k, v in s.matchers.items())
    left = format_duration(max(0, round(s.ends_at - now)))
    extra = " until resolved" if s.until_resolved else ""
    return f"#{s.id} {m} by {s.who}, {left} left{extra}" + (f": {s.note}" if s.note else "")
