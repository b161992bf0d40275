"""Drill-down: one host / endpoint / cache / backup / alert with its history,
its raw last probe output (escaped) and its alerts. Loaded in a worker thread."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from ..kinds.registry import by_name as kind_by_name, host_kind, kinds as registered_kinds
from ..model import Alert, parse_iso
from ..stats import sparkline
from ..store import Store
from .data import LEVEL_NAME, Ref, alert_level, fmt_age, fmt_bytes
from .safetext import join, safe
from .keybar import KeyBar

HISTORY_S = 6 * 3600.0
SPARK_W = 48

_PREFIX = {"host": "host.", "endpoint": ("endpoint.", "tls.")}  # an endpoint's certificate figures are its own (kinds/tls.py)


def _relevant(ref: Ref, metric: str, labels: dict[str, str]) -> bool:
    if ref.kind == "alert":
        return False
    hk = host_kind(ref.kind)
    if hk is not None:  # a host kind's own series; one of its rows' (a cache's) when it has several
        return metric.startswith(hk.name + ".") and (hk.label is None or labels.get(hk.label) == ref.name)
    if ref.kind not in _PREFIX:  # a registered probe kind: its own metrics, from this vantage
        return metric.startswith(ref.kind + ".") and labels.get("vantage", ref.name) == ref.name
    if not metric.startswith(_PREFIX[ref.kind]):
        return False
    if ref.kind == "endpoint":
        return labels.get("vantage", ref.name) == ref.name
    return True


def _fmt_value(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _kv_table(items: list[tuple[str, Any]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in items:
        cell = v if isinstance(v, Text) else safe("—" if v is None else v)
        cell.no_wrap = False  # a long value (a restore test's detail) wraps in its column, never cut
        t.add_row(safe(k), cell)
    return t


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys, lists of dicts as ``key[i]``; values as they are (``fmt_field`` shows them)."""
    out: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out += _flatten(v, key)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for i, x in enumerate(v[:20]):
                    out += _flatten(x, f"{key}[{i}]")
                if len(v) > 20:
                    out.append((f"{key}", f"… {len(v) - 20} more"))
            else:
                out.append((key, v))
    return out


# --- field values for people ------------------------------------------------------------------
# A reading's JSON is shown by field name: the leaf of the dotted key ("restore_test.duration_s"
# -> "duration_s") picks the unit. Anything not known, or not of the expected type, is shown as
# it is. The result is plain text: the caller shows it with safe() like any remote string.

_TIME_KEYS = {"t", "since", "until", "ends_at"}  # plus *_t: Unix time
_SECONDS_KEYS = {"interval", "max_age", "timeout", "every"}  # plus *_s: seconds
_PERCENT_KEYS = {"percent", "availability"}  # plus *_percent: already 0..100
_RATIO_KEYS = {"hit_rate", "miss_rate", "error_rate"}  # plus *_ratio: 0..1, shown as percent
_BYTES_KEYS = {"bytes"}  # plus *_bytes
_ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)")


def _trim(s: str) -> str:
    return s.rstrip("0").rstrip(".") if "." in s else s


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_time(t: float, now: float) -> str:
    """Local time and how long ago: ``2026-09-21 14:13:15 (5s ago)``."""
    try:
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return str(t)
    d = now - t
    return f"{clock} ({fmt_age(d)} ago)" if d >= -1 else f"{clock} (in {fmt_age(-d)})"


def fmt_clock(t: float | None) -> str:
    """Local time alone (lists of events, where every line has one)."""
    if t is None:
        return "—"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return str(t)


def fmt_duration(s: float) -> str:
    """Seconds for people: ``420ms``, ``2.4s``, ``41s``, ``2m55s``, ``5h``, ``1d2h`` (the two largest units)."""
    if s < 0:
        return "-" + fmt_duration(-s)
    if s * 1000 < 999.5:
        return f"{_trim(f'{s * 1000:.3g}')}ms"
    if s < 9.95:
        return f"{_trim(f'{s:.1f}')}s"
    n = round(s)
    units = [(n // 86400, "d"), (n % 86400 // 3600, "h"), (n % 3600 // 60, "m"), (n % 60, "s")]
    first = next(i for i, (q, _) in enumerate(units) if q)
    return "".join(f"{q}{u}" for q, u in units[first:first + 2] if q)


def _ms(v: float) -> str:
    if abs(v) >= 1000:
        return fmt_duration(v / 1000)
    return f"{_trim(f'{v:.3g}')}ms" if abs(v) < 10 else f"{v:.0f}ms"


def _pct(v: float) -> str:
    """93.5%, but 99.995% and 0.012%: the decimals that matter near 100 and near 0 are kept."""
    return _trim(f"{v:.{1 if 1 <= abs(v) < 99 else 3}f}") + "%"


def fmt_field(key: str, value: Any, now: float) -> str:
    """One field of a reading as a person reads it, by its name (see the tables above) and type."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    leaf = re.sub(r"\[\d+\]", "", key).rsplit(".", 1)[-1]
    if isinstance(value, list):
        return ", ".join(fmt_field(leaf, x, now) for x in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt_field(str(k), v, now)}" for k, v in value.items()) if value else "(none)"
    if isinstance(value, str):
        if value == "":
            return "—"
        if _ISO_RE.fullmatch(value):
            at = parse_iso(value)
            return fmt_time(at, now) if at is not None else value
        return value
    if not _number(value):
        return str(value)
    if leaf.endswith("_per_s"):
        return f"{_trim(_fmt_value(value))}/s"
    if leaf in _TIME_KEYS or leaf.endswith("_t"):
        return fmt_time(value, now)
    if leaf.endswith("_ms"):
        return _ms(value)
    if leaf in _SECONDS_KEYS or leaf.endswith("_s"):
        return fmt_duration(value)
    if leaf in _BYTES_KEYS or leaf.endswith("_bytes"):
        return fmt_bytes(value)
    if leaf in _PERCENT_KEYS or leaf.endswith("_percent"):
        return _pct(value)
    if leaf in _RATIO_KEYS or leaf.endswith("_ratio"):
        return _pct(100 * value)
    return str(value) if isinstance(value, int) else _trim(_fmt_value(value))


class DetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("a", "app.ack", "Ack"),
        Binding("s", "app.silence", "Silence"),
        Binding("u", "app.unsilence", "Unsilence"),
        Binding("e", "app.escalate", "Escalate"),
    ]

    class Loaded(Message):
        def __init__(self, parts: list[RenderableType]) -> None:
            super().__init__()
            self.parts = parts

    def __init__(self, ref: Ref, store_path: Path, now: Callable[[], float], styles: dict[str, Any]) -> None:
        super().__init__(classes="detail-screen")
        self.ref = ref
        self.store_path = store_path
        self.now = now
        self.palette = styles

    def compose(self) -> ComposeResult:
        title = join((self.ref.kind, "bold"), "  ", (self.ref.target, "bold"),
                     *(("/", (self.ref.name, "bold")) if self.ref.name and self.ref.kind != "alert" else ()))
        yield Static(title, id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(Text("loading…", style="italic"), id="detail-content")
        yield KeyBar()

    def on_mount(self) -> None:
        # ↑ ↓ PgUp PgDn scroll the body at once, not after a Tab: it is the one thing to move here.
        self.query_one("#detail-body", VerticalScroll).focus()
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        try:
            with Store(self.store_path, readonly=True) as store:
                parts = self.build(store, self.now())
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            parts = [join(("cannot read the store: ", "bold"), (str(e), ""))]
        self.post_message(self.Loaded(parts))

    def on_detail_screen_loaded(self, msg: "DetailScreen.Loaded") -> None:
        self.query_one("#detail-content", Static).update(Group(*msg.parts))

    # --- building (worker thread) ------------------------------------------------

    def _section(self, title: str) -> Text:
        return Text(f"\n{title}", style="bold underline")

    def build(self, store: Store, now: float) -> list[RenderableType]:
        ref = self.ref
        parts: list[RenderableType] = []
        alerts = [a for a in store.alerts(now=now) if a.target == ref.target]
        if ref.kind == "alert":
            a = next((x for x in alerts if x.id == ref.name), None) or store.alert(ref.name, now=now)
            if a is None:
                return [Text("This alert is no longer in the store.")]
            parts += self._alert(store, a, now)
            return parts
        probe_kind = kind_by_name(ref.kind)  # a registered probe kind (dns, journey, db ...), or a built-in
        rows = [r for r in store.latest(ref.kind, ref.target) if ref.kind in ("host", "patches") or r["name"] == ref.name]
        row = rows[0] if rows else None
        if probe_kind is not None and row is not None:
            # The kind says what its row means; the raw fields would repeat it.
            parts.append(self._section(f"{probe_kind.title} {ref.target} from {ref.name}"))
            parts.append(_kv_table([("read", Text(fmt_time(row["t"], now)))]))
            parts.append(safe("\n".join(probe_kind.detail(row["data"] or {})), multiline=True, limit=20000))
        else:
            parts.append(self._section("Now"))
            if row is None:
                parts.append(Text("no reading in the store"))
            else:
                data = dict(row["data"] or {})
                if data.get("t") == row["t"]:
                    del data["t"]  # the same time as "read"
                items: list[tuple[str, Any]] = [("read", Text(fmt_time(row["t"], now)))]
                items += [(k, fmt_field(k, v, now)) for k, v in _flatten(data)]
                parts.append(_kv_table(items))
        if ref.kind == "host":
            # Kinds whose checks run on this host and show in its drill-down (slow queries: Database).
            for k in registered_kinds():
                if k.pane != "health":
                    continue
                for r in store.latest(k.name):
                    if r["name"] == ref.target:
                        parts.append(self._section(f"{k.title}: {r['target']}"))
                        parts.append(safe("\n".join(k.detail(r["data"] or {})), multiline=True, limit=20000))
        parts.append(self._section(f"History, last {int(HISTORY_S // 3600)}h"))
        hist = self._history(store, now)
        parts.append(hist if hist is not None else Text("no samples yet"))
        parts.append(self._section("Alerts"))
        parts.append(self._alerts_table(alerts, now) if alerts else Text("none for this target"))
        parts.append(self._section("Raw last probe output (escaped)"))
        raw = row.get("raw") if row else None
        if ref.kind == "host" and not raw and row is not None:
            raw = None
        parts.append(safe(raw, multiline=True, limit=20000) if raw else Text("(none stored)", style="italic"))
        return parts

    def _history(self, store: Store, now: float) -> Table | None:
        series = [(m, lab) for _, m, lab in store.series(target=self.ref.target) if _relevant(self.ref, m, lab)]
        if not series:
            return None
        t = Table.grid(padding=(0, 1))
        t.add_column(no_wrap=True, style="bold")
        t.add_column(no_wrap=True)
        t.add_column(no_wrap=True)
        for metric, labels in series:
            pts = store.history(self.ref.target, metric, now - HISTORY_S, labels=labels)
            if not pts:
                continue
            vals = [v for _, v in pts]
            name = metric + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "")
            lo = 0.0 if min(vals) >= 0 else None
            t.add_row(
                safe(name),
                Text(sparkline(vals, SPARK_W, lo=lo), style=self.palette.get("spark", "")),
                Text(f"last {_fmt_value(vals[-1])}  min {_fmt_value(min(vals))}  max {_fmt_value(max(vals))}"),
            )
        return t

    def _alerts_table(self, alerts: list[Alert], now: float) -> Table:
        t = Table.grid(padding=(0, 1))
        for _ in range(5):
            t.add_column(no_wrap=False)
        for a in sorted(alerts, key=lambda a: (a.state != "firing", -alert_level(a))):
            sev = "✖ CRIT" if a.severity == "critical" else "▲ warn"
            t.add_row(
                Text(sev, style=self.palette.get(LEVEL_NAME[alert_level(a)], "")),
                safe("flapping" if a.flapping else a.state),
                safe(a.summary or a.rule),
                Text(f"since {fmt_age(now - a.since)}"),
                Text("acked" if a.acked else "silenced" if a.silenced else ""),
            )
        return t

    def _alert(self, store: Store, a: Alert, now: float) -> list[RenderableType]:
        sev_style = self.palette.get(LEVEL_NAME[alert_level(a)], "")
        items: list[tuple[str, Any]] = [
            ("severity", Text(("✖ CRITICAL" if a.severity == "critical" else "▲ warning"), style=sev_style)),
            ("state", "flapping" if a.flapping else a.state),
            ("rule", a.rule),
            ("target", a.target),
            ("since", fmt_time(a.since, now)),
            ("value", fmt_field("value", a.value, now)),
            ("summary", a.summary),
            ("runbook", a.runbook or "(none)"),
            ("tier", a.tier),
            ("acked", f"yes, by {a.ack_by}: {a.ack_note or ''}" if a.acked else "no"),
            ("silenced", "yes" if a.silenced else "no"),
            ("source", a.source),
            ("id", a.id),
        ]
        items += [(f"label {k}", v) for k, v in sorted(a.labels.items())]
        parts: list[RenderableType] = [self._section("Alert"), _kv_table(items)]
        trs = store.transitions(alert_id=a.id)
        parts.append(self._section("Transitions (why it is in this state)"))
        if trs:
            t = Table.grid(padding=(0, 1))
            for tr in trs[-30:]:
                t.add_row(Text(fmt_clock(tr.t)), safe(f"{tr.from_state} → {tr.to_state}"), safe(tr.reason))
            parts.append(t)
        else:
            parts.append(Text("none recorded"))
        notes = store.notes(alert_id=a.id)
        acks = [k for k in store.acks() if k.alert_id == a.id]
        parts.append(self._section("Acks and notes"))
        if acks or notes:
            t = Table.grid(padding=(0, 1))
            for k in acks:
                t.add_row(Text(fmt_clock(k.t)), safe(k.who), safe(f"ack: {k.note}" + (" (cleared)" if k.cleared_at else "")))
            for n in notes:
                t.add_row(Text(fmt_clock(n.t)), safe(n.who), safe(n.text))
            parts.append(t)
        else:
            parts.append(Text("none"))
        host_rows = store.latest("host", a.target)
        if host_rows:
            parts.append(self._section(f"Raw last probe output of {a.target} (escaped)"))
            raw = host_rows[0].get("raw")
            parts.append(safe(raw, multiline=True, limit=20000) if raw else Text("(none stored)", style="italic"))
        return parts
