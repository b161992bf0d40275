"""Load, validate and save the TOML config.

``load_config(path)`` reads with tomllib into frozen dataclasses and reports
*every* problem at once as ``FILE:LINE: key.path: expected ..., got ...``
(ConfigError). Unknown keys are errors with a "did you mean". ``[defaults]``
are inherited by each host. ``update_config`` edits the file with tomlkit (so
the user's comments and layout survive) and writes it atomically, keeping a
``.bak`` of the old file byte for byte.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, MutableMapping, TypeVar

import platformdirs
import tomlkit
import tomlkit.exceptions

from .errors import ConfigError, ConfigProblem
from .fsutil import write_atomic
from .kinds import security as security_kind
from .kinds.values import Invalid as _Invalid
from .kinds.values import duration as _duration
from .kinds.values import nonempty as _nonempty
from .kinds.values import one_of as _one_of
from .kinds.values import parse_duration  # noqa: F401  (config.parse_duration, as it always was)
from .kinds.values import positive_duration as _positive_duration
from .kinds.values import str_table as _str_table
from .kinds.values import string as _str
from .kinds.cache_counters import CacheConfig
from .kinds import tls as tls_kind
from .kinds.registry import host_kinds
from .kinds.registry import kinds as registered_kinds
# A backup job's config is declared with the backup kinds (their keys are theirs); re-exported here.
from .kinds.backups import BackupConfig, CheckConfig, RestoreTestConfig  # noqa: F401
from .textsafe import HTTP_TOKEN

APP = "opsdash"

# --- durations -------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 120 -> '2m', 5400 -> '1h30m', 1.5 -> '1500ms'."""
    if seconds <= 0:
        return "0s"
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    s, out = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out


# --- byte sizes -------------------------------------------------------------------

_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb|k|m|g)?")
_SIZE_UNIT = {None: 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3,
              "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def parse_size(text: str) -> int:
    """'32MiB' -> 33554432, '512k' -> 524288, '1GB' -> 10**9, '4096' -> 4096. Raises ValueError."""
    m = _SIZE_RE.fullmatch(text.strip().lower())
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _SIZE_UNIT[m.group(2)])


def format_size(n: int) -> str:
    """The people's spelling: 33554432 -> '32 MiB', 1536 -> '1.5 KiB'."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.{0 if n % size == 0 else 1}f} {unit}"
    return f"{n} B"


# --- the schema as dataclasses ----------------------------------------------------------


@dataclass(frozen=True)
class HostConfig:
    name: str
    address: str
    port: int | None  # None: from ~/.ssh/config, else 22
    user: str | None
    identity_file: str | None
    jump: str | None
    tags: dict[str, str]
    probes: tuple[str, ...]
    interval: float
    timeout: float
    host_key_policy: str
    known_hosts: str
    ssh_config: str
    patches_interval: float
    max_output: int = 8 * 1024 * 1024  # bytes one remote command may return (stdout + stderr); past it, stopped
    depends_on: tuple[str, ...] = ()  # hosts/endpoints whose outage explains this one's (alerts/dependencies.py)
    # Each host kind's own settings on this host, by kind name (kinds/base.HostKind.configure):
    # "cache" -> its [[hosts.caches]], "security" -> its SecurityConfig ...
    kinds: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return "local" in self.probes

    # Typed views of the built-in host kinds' settings, for the code that reads them by name.
    @property
    def caches(self) -> tuple[CacheConfig, ...]:
        return self.kinds.get("cache", ())

    @property
    def backups(self) -> tuple[BackupConfig, ...]:
        return self.kinds.get("backup", ())

    @property
    def security(self) -> security_kind.SecurityConfig:
        return self.kinds.get("security") or security_kind.SecurityConfig()


@dataclass(frozen=True)
class SLO:
    availability: float | None = None  # percent
    ttfb_p95_ms: float | None = None


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    url: str
    interval: float = 15.0
    timeout: float = 10.0
    expect_status: tuple[int, ...] = (200,)
    vantage: tuple[str, ...] = ("local",)
    window: float = 300.0
    slo: SLO = SLO()
    verify_tls: bool = True
    fresh_connection: bool = True
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold Authorization: kept out of repr/logs
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # a [[sources]] name: quantiles from Prometheus instead
    queries: dict[str, str] = field(default_factory=dict)  # p50/p95/p99/error_rate PromQL
    depends_on: tuple[str, ...] = ()  # hosts/endpoints whose outage explains this one's
    ca_file: str | None = None  # a PEM bundle for a private CA; None: the system store
    tls: tls_kind.TLSConfig = tls_kind.TLSConfig()  # the certificate check of an https URL (kinds/tls.py)


@dataclass(frozen=True)
class SourceConfig:
    kind: str  # prometheus | alertmanager
    name: str
    url: str
    interval: float = 15.0
    timeout: float = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None
    username: str | None = None
    password_file: str | None = None
    queries: dict[str, str] = field(default_factory=dict)
    match: dict[str, str] = field(default_factory=dict)
    max_reply: int = 32 * 1024 * 1024  # bytes of one HTTP reply body; past it the reply is dropped


@dataclass(frozen=True)
class RuleConfig:
    name: str
    metric: str
    warn: float | None = None
    crit: float | None = None
    op: str = ">"
    clear: float | None = None  # None: the warn (or crit) threshold
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    attempts: int = 1
    flap: tuple[float, float] | None = None  # (low, high) percent
    tier: dict[str, str] = field(default_factory=lambda: {"warning": "L1", "critical": "L2"})
    runbook: str = ""
    summary: str = ""
    match: dict[str, str] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class NotifyConfig:
    """A [[notify]] target: where pages go (opsdash/notify)."""

    name: str
    kind: str  # alertmanager | webhook | email
    url: str = ""  # alertmanager, webhook
    match: dict[str, str] = field(default_factory=dict)  # the same matchers as silences
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # webhook; may hold Authorization
    group_window: float = 30.0  # a storm: one rule's alerts within this go out as one notification
    resend: float = 60.0  # alertmanager: re-post firing alerts this often (before its resolve_timeout)
    timeout: float = 10.0
    retry_max: float = 300.0  # the longest wait between two tries while a receiver is down
    smtp: str = ""  # email: "host:port"
    sender: str = ""  # email: the "from" key
    to: tuple[str, ...] = ()
    starttls: bool = True
    username: str | None = None  # email: default the from address
    password_file: str | None = None

    @property
    def smtp_host_port(self) -> tuple[str, int]:
        host, _, port = self.smtp.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class MaintenanceConfig:
    """A [[maintenance]] window (opsdash/maintenance.py): matching alerts are not paged during it.

    Recurring (``every``: ``days`` at ``at`` local time in ``tz``) or one window (``start``)."""

    name: str
    match: dict[str, str]  # the same matchers as silences
    duration: float
    tz: str = "UTC"
    every: str = ""  # as written ("sat 02:00"), for display
    days: tuple[int, ...] = ()  # 0 = Monday .. 6 = Sunday
    at: tuple[int, int] = (0, 0)  # (hour, minute), wall clock in tz
    start: float | None = None  # one window: Unix time


@dataclass(frozen=True)
class SeverityConfig:
    """An incident severity ([[severities]]): how soon someone must respond and resolve.

    Incidents (opsdash/incidents.py) take their severity from these; the SLA report reads
    the same targets for MTTA (``respond_s``) and MTTR (``resolve_s``) breaches."""

    name: str  # P1 .. P4
    respond_s: float  # time to respond (first acknowledgement) target
    resolve_s: float  # time to resolve target
    postmortem_s: float | None = None  # a postmortem is due this long after resolve; None: none required
    description: str = ""


# Used when the config has no [[severities]]; a config that has them replaces the lot.
DEFAULT_SEVERITIES: tuple[SeverityConfig, ...] = (
    SeverityConfig("P1", 15 * 60.0, 4 * 3600.0, 48 * 3600.0, "critical: down or unusable for many users"),
    SeverityConfig("P2", 3600.0, 8 * 3600.0, None, "major: degraded for many, or down for some"),
    SeverityConfig("P3", 4 * 3600.0, 3 * 86400.0, None, "minor: a workaround exists"),
    SeverityConfig("P4", 86400.0, 7 * 86400.0, None, "low: cosmetic or a question"),
)


@dataclass(frozen=True)
class SLAConfig:
    """[sla]: how `opsdash sla` (opsdash/sla.py, report/sla.py) and the burn-rate rules count.

    ``respond_s``: time to acknowledge a firing alert, per tier (T1 = L1 under 1 h, T2 = L2
    under 4 h); ``resolve_s``: time to resolve it, per tier (none by default)."""

    exclude_maintenance: bool = True  # time in a [[maintenance]] window covering the endpoint is not counted
    respond_s: dict[str, float] = field(default_factory=lambda: {"L1": 3600.0, "L2": 4 * 3600.0, "L3": 8 * 3600.0})
    resolve_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    retention: float = 14 * 86400.0
    theme: str = "opsdash-dark"
    ssh_connect_concurrency: int = 20


@dataclass(frozen=True)
class Config:
    path: Path | None
    settings: Settings
    hosts: tuple[HostConfig, ...]
    endpoints: tuple[EndpointConfig, ...]
    sources: tuple[SourceConfig, ...]
    rules: tuple[RuleConfig, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the TOML document as read
    notify: tuple[NotifyConfig, ...] = ()
    maintenance: tuple[MaintenanceConfig, ...] = ()
    severities: tuple[SeverityConfig, ...] = DEFAULT_SEVERITIES  # incident severities, most severe first
    sla: SLAConfig = SLAConfig()
    # The checks of every registered probe kind (opsdash/kinds/registry.py): kind name -> its typed checks.
    checks: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def host(self, name: str) -> HostConfig | None:
        return next((h for h in self.hosts if h.name == name), None)

    def parents(self) -> dict[str, tuple[str, ...]]:
        """Each host's and endpoint's direct parents: its ``depends_on``, and for a host its
        ``jump`` when that names a configured host (reached through it, it is down with it)."""
        return _parents(self.hosts, self.endpoints)


# --- locations ---------------------------------------------------------------------


def default_config_path() -> Path:
    env = os.environ.get("OPSDASH_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_store_path() -> Path:
    env = os.environ.get("OPSDASH_STORE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP)) / "opsdash.sqlite"


def user_themes_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "themes"


# --- validation ---------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"')[:60] + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)[:60]


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Invalid("true or false")
    return v


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):  # TOML has inf and nan
        raise _Invalid("a number")
    return float(v)


def _port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise _Invalid("an integer 1-65535")
    return v


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _Invalid("an integer >= 1")
    return v


def _size(v: Any) -> int:
    expected = 'a size like "32MiB", "512KiB" or a number of bytes, at least 1 KiB'
    if isinstance(v, bool):
        raise _Invalid(expected)
    n: float | None = None
    if isinstance(v, int):
        n = v
    elif isinstance(v, str):
        try:
            n = parse_size(v)
        except (ValueError, OverflowError):
            n = None
    if n is None or not 1024 <= n <= 2**62:
        raise _Invalid(expected)
    return int(n)


def _headers(v: Any) -> dict[str, str]:
    table = _str_table(v)
    for name, value in table.items():
        if not HTTP_TOKEN.fullmatch(name):  # an HTTP token (RFC 9110)
            raise _Invalid(f"an HTTP header name (letters, digits, !#$%&'*+.^_`|~-), got {name!r:.60}")
        if any(c in value for c in "\r\n\0"):
            raise _Invalid(f"one line per header, but {name!r:.60} holds a line break or NUL")
    return table


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Invalid("a list of strings")
    return tuple(v)


def _status_list(v: Any) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list) or not v or not all(
        isinstance(x, int) and not isinstance(x, bool) and 100 <= x <= 599 for x in v
    ):
        raise _Invalid("a list of HTTP status codes 100-599")
    return tuple(v)


def _url(v: Any) -> str:
    if not isinstance(v, str) or not re.match(r"^https?://[^\s/]+", v):
        raise _Invalid("an http:// or https:// URL")
    return v


def _percent(v: Any) -> float:
    f = _number(v)
    if not 0 <= f <= 100:
        raise _Invalid("a percentage 0-100")
    return f


# What a host's ``probes`` may name: its health (over SSH, or "local"), and every host kind.
PROBES = ("health", "local", *(k.word for k in host_kinds()))
SOURCE_KINDS = ("prometheus", "alertmanager")


def _kind_key(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A probe kind's own key check (it raises ValueError saying what it expected)."""

    def convert(v: Any) -> Any:
        try:
            return check(v)
        except ValueError as e:
            raise _Invalid(str(e)) from None

    return convert


def _probe_list(v: Any) -> tuple[str, ...]:
    items = _str_list(v)
    for p in items:
        if p not in PROBES:
            raise _Invalid("probes from " + ", ".join(f'"{p}"' for p in PROBES) + f' (not "{p}")')
    return items


_JUMP_RE = re.compile(r"^(?:[^@\s:]+@)?[A-Za-z0-9_.\-\[\]:]+?(?::\d{1,5})?$")


class _Checker:
    """Walks the TOML document, collecting problems instead of stopping at the first."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.locator = _Locator(text)
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, path, message, self.locator.line_of(path)))

    def table(self, data: Any, path: str, spec: dict[str, tuple[Callable[[Any], Any], Any]]) -> dict[str, Any]:
        """Check ``data`` against ``spec`` {key: (converter, default)}; return converted values.

        A default of ``_REQUIRED`` makes the key mandatory. Unknown keys are problems.
        """
        out: dict[str, Any] = {}
        if not isinstance(data, dict):
            self.problem(path, f"expected a table, got {_show(data)}")
            data = {}
        for key in data:
            if key not in spec:
                close = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.6)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                expected = ", ".join(spec)
                self.problem(_join(path, key), f"unknown key{hint}; expected one of: {expected}")
        for key, (convert, default) in spec.items():
            if key in data:
                try:
                    out[key] = convert(data[key])
                except _Invalid as e:
                    self.problem(_join(path, key), f"expected {e.expected}, got {_show(data[key])}")
                    out[key] = None if default is _REQUIRED else default
            elif default is _REQUIRED:
                self.problem(_join(path, key), "is required")
                out[key] = None
            else:
                out[key] = default
        return out

    def array(self, data: Any, path: str) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.problem(path, f"expected an array of tables ([[{path}]]), got {_show(data)}")
            return []
        return data

    def unique(self, items: list[dict[str, Any]], path: str, what: str = "name") -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            name = item.get(what)
            if not isinstance(name, str):
                continue
            if name in seen:
                self.problem(f"{path}[{i}].{what}", f'duplicate {what} "{name}" (first at {path}[{seen[name]}])')
            else:
                seen[name] = i


_REQUIRED = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Locator:
    """Best-effort line numbers for key paths like ``hosts[2].port``.

    tomllib gives no positions, so we walk the text: table headers set the
    current table (counting ``[[array]]`` occurrences), ``key =`` lines are
    matched inside it. Inline tables and dotted keys fall back to the table's line.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str):
        self.index: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        counts = self._counts
        current = ""
        for n, raw in enumerate(text.splitlines(), start=1):
            m = self._HEADER.match(raw)
            if m:
                name = m.group(2).strip()
                if m.group(1) == "[[":
                    # nested arrays like hosts.caches belong to the latest parent element
                    parent, _, leaf = name.rpartition(".")
                    prefix = self._resolve(parent) if parent else ""
                    key = _join(prefix, leaf)
                    i = counts.get(key, 0)
                    counts[key] = i + 1
                    current = f"{key}[{i}]"
                else:
                    parent, _, leaf = name.rpartition(".")
                    current = _join(self._resolve(parent) if parent else "", leaf)
                self.index.setdefault(current, n)
                continue
            k = self._KEY.match(raw)
            if k:
                self.index.setdefault(_join(current, k.group(1).strip('"')), n)

    def _resolve(self, dotted: str) -> str:
        """'hosts' inside a nested header means the latest [[hosts]] element."""
        out = ""
        for part in dotted.split("."):
            key = _join(out, part)
            n = self._counts.get(key)
            out = f"{key}[{n - 1}]" if n else key
        return out

    def line_of(self, path: str) -> int | None:
        p = path
        while p:
            if p in self.index:
                return self.index[p]
            p = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", p) if re.search(r"(\.[^.\[\]]+|\[\d+\])$", p) else ""
        return None


# --- loading ---------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file. Raises ConfigError with every problem found."""
    p = Path(path) if path is not None else default_config_path()
    name = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, "", "no such file (write one with `opsdash init`)")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigProblem(name, "", f"cannot read: {e}")]) from None
    return parse_config(text, name, p)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_config(text: str, name: str = "config.toml", path: Path | None = None) -> Config:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        line = int(m.group(1)) if m else None
        msg = _TOML_POS.sub("", msg).strip()
        raise ConfigError([ConfigProblem(name, "", f"TOML syntax error: {msg}", line)]) from None
    ck = _Checker(name, text)
    cfg = _build(doc, ck, path)
    if ck.problems:
        raise ConfigError(ck.problems)
    return cfg


def _build(doc: dict[str, Any], ck: _Checker, path: Path | None) -> Config:
    ck.table(
        {k: v for k, v in doc.items()},
        "",
        {
            "opsdash": (lambda v: v, {}),
            "defaults": (lambda v: v, {}),
            "hosts": (lambda v: v, []),
            "endpoints": (lambda v: v, []),
            "sources": (lambda v: v, []),
            "rules": (lambda v: v, []),
            "notify": (lambda v: v, []),
            "maintenance": (lambda v: v, []),
            "severities": (lambda v: v, None),
            "sla": (lambda v: v, {}),
            **{k.section: (lambda v: v, []) for k in registered_kinds()},
        },
    )
    s = ck.table(
        doc.get("opsdash", {}),
        "opsdash",
        {
            "retention": (_positive_duration, 14 * 86400.0),
            "theme": (_nonempty, "opsdash-dark"),
            "ssh_connect_concurrency": (_positive_int, 20),
        },
    )
    settings = Settings(**s)

    defaults = ck.table(
        doc.get("defaults", {}),
        "defaults",
        {
            "interval": (_positive_duration, 15.0),
            "timeout": (_positive_duration, 10.0),
            "user": (_nonempty, None),
            "port": (_port, None),
            "identity_file": (_nonempty, None),
            "host_key_policy": (_one_of("strict", "accept-new"), "strict"),
            "known_hosts": (_nonempty, "~/.ssh/known_hosts"),
            "ssh_config": (_nonempty, "~/.ssh/config"),
            "probes": (_probe_list, ("health",)),
            "patches_interval": (_positive_duration, 3600.0),
            "jump": (_nonempty, None),
            "max_output": (_size, 8 * 1024 * 1024),
            **{k: (_kind_key(check), d) for hk in host_kinds() for k, (check, d) in hk.keys.items()},
        },
    )

    raw_hosts = ck.array(doc.get("hosts"), "hosts")
    # only strings: a name of the wrong type (a list) is reported below, and is unhashable here
    host_names = {h.get("name") for h in raw_hosts if isinstance(h, dict) and isinstance(h.get("name"), str)}
    kc = _KindChecker(ck, frozenset(host_names))
    hosts = []
    for i, h in enumerate(raw_hosts):
        hp = f"hosts[{i}]"
        v = ck.table(
            h,
            hp,
            {
                "name": (_nonempty, _REQUIRED),
                "address": (_nonempty, None),
                "port": (_port, defaults["port"]),
                "user": (_nonempty, defaults["user"]),
                "identity_file": (_nonempty, defaults["identity_file"]),
                "jump": (_nonempty, defaults["jump"]),
                "tags": (_str_table, {}),
                "probes": (_probe_list, defaults["probes"]),
                "interval": (_positive_duration, defaults["interval"]),
                "timeout": (_positive_duration, defaults["timeout"]),
                "host_key_policy": (_one_of("strict", "accept-new"), defaults["host_key_policy"]),
                "known_hosts": (_nonempty, defaults["known_hosts"]),
                "ssh_config": (_nonempty, defaults["ssh_config"]),
                "patches_interval": (_positive_duration, defaults["patches_interval"]),
                "max_output": (_size, defaults["max_output"]),
                "depends_on": (_str_list, ()),
                **{k: (_kind_key(check), defaults[k]) for hk in host_kinds() for k, (check, _) in hk.keys.items()},
                **{k.key: (lambda x: x, []) for k in host_kinds() if k.key},  # each kind checks its own
            },
        )
        if v["jump"] is not None:
            j = v["jump"]
            if j == v["name"]:
                ck.problem(f"{hp}.jump", "a host cannot jump through itself")
            elif j not in host_names and ("@" not in j and ":" not in j or not _JUMP_RE.match(j)):
                ck.problem(f"{hp}.jump", f'expected a host name from this file or "user@host:port", got {_show(j)}')
        # Each host kind's settings: its array ([[hosts.caches]]) checked by the kind, or its keys.
        own = {}
        for hk in host_kinds():
            if hk.key:
                own[hk.name] = hk.load(kc, ck.array(v.pop(hk.key), f"{hp}.{hk.key}"), f"{hp}.{hk.key}")
            if hk.keys:
                own[hk.name] = hk.configure({k: v.pop(k) for k in hk.keys})
        if v["name"] is None:
            continue
        hosts.append(HostConfig(**{**v, "address": v["address"] or v["name"]}, kinds=own))
    ck.unique([h for h in raw_hosts if isinstance(h, dict)], "hosts")
    _check_jump_cycles(ck, hosts)

    raw_eps = ck.array(doc.get("endpoints"), "endpoints")
    endpoints = []
    for i, e in enumerate(raw_eps):
        ep = f"endpoints[{i}]"
        v = ck.table(
            e,
            ep,
            {
                "name": (_nonempty, _REQUIRED),
                "url": (_url, _REQUIRED),
                "interval": (_positive_duration, 15.0),
                "timeout": (_positive_duration, 10.0),
                "expect_status": (_status_list, (200,)),
                "vantage": (_str_list, ("local",)),
                "window": (_positive_duration, 300.0),
                "slo": (lambda x: x, {}),
                "verify_tls": (_bool, True),
                "fresh_connection": (_bool, True),
                "method": (_one_of("GET", "HEAD", "POST"), "GET"),
                "headers": (_headers, {}),
                "tags": (_str_table, {}),
                "source": (_nonempty, None),
                "queries": (_str_table, {}),
                "depends_on": (_str_list, ()),
                "ca_file": (_nonempty, None),
                "tls": (lambda x: x, {}),
            },
        )
        tls = ck.table(v.pop("tls"), f"{ep}.tls", {k: (_kind_key(check), d) for k, (check, d) in tls_kind.KEYS.items()})
        if tls["warn_days"] is not None and tls["crit_days"] is not None and tls["crit_days"] > tls["warn_days"]:
            ck.problem(f"{ep}.tls", f"expected crit_days <= warn_days, got crit_days={tls['crit_days']:g} "
                                    f"warn_days={tls['warn_days']:g}")
        slo = ck.table(
            v.pop("slo"), f"{ep}.slo", {"availability": (_percent, None), "ttfb_p95_ms": (_number, None)}
        )
        for vi, vant in enumerate(v["vantage"] or ()):
            if vant != "local" and vant not in host_names:
                ck.problem(f"{ep}.vantage[{vi}]", f'expected "local" or a host name from this file, got {_show(vant)}')
        if v["name"] is None or v["url"] is None:
            continue
        endpoints.append(EndpointConfig(**v, slo=SLO(**slo), tls=tls_kind.TLSConfig(**tls)))
    ck.unique([e for e in raw_eps if isinstance(e, dict)], "endpoints")
    _check_depends_on(ck, hosts, endpoints)

    raw_src = ck.array(doc.get("sources"), "sources")
    sources = []
    for i, src in enumerate(raw_src):
        sp = f"sources[{i}]"
        v = ck.table(
            src,
            sp,
            {
                "kind": (_one_of(*SOURCE_KINDS), _REQUIRED),
                "name": (_nonempty, _REQUIRED),
                "url": (_url, _REQUIRED),
                "interval": (_positive_duration, 15.0),
                "timeout": (_positive_duration, 10.0),
                "verify_tls": (_bool, True),
                "ca_file": (_nonempty, None),
                "bearer_token_file": (_nonempty, None),
                "bearer_token_env": (_nonempty, None),
                "username": (_nonempty, None),
                "password_file": (_nonempty, None),
                "queries": (_str_table, {}),
                "match": (_str_table, {}),
                "max_reply": (_size, 32 * 1024 * 1024),
            },
        )
        if None in (v["kind"], v["name"], v["url"]):
            continue
        sources.append(SourceConfig(**v))
    ck.unique([s for s in raw_src if isinstance(s, dict)], "sources")
    source_names = {s.name for s in sources}
    for i, e in enumerate(endpoints):
        if e.source is not None and e.source not in source_names:
            ck.problem(f"endpoints[{i}].source", f"expected a [[sources]] name, got {_show(e.source)}")

    raw_rules = ck.array(doc.get("rules"), "rules")
    rules = []
    for i, r in enumerate(raw_rules):
        rp = f"rules[{i}]"
        v = ck.table(
            r,
            rp,
            {
                "name": (_nonempty, _REQUIRED),
                "metric": (_nonempty, _REQUIRED),
                "match": (_str_table, {}),
                "op": (_one_of(">", "<"), ">"),
                "warn": (_number, None),
                "crit": (_number, None),
                "clear": (_number, None),
                "for": (_duration, 0.0),
                "keep_firing_for": (_duration, 0.0),
                "attempts": (_positive_int, 1),
                "flap": (lambda x: x, None),
                "tier": (_str_table, {"warning": "L1", "critical": "L2"}),
                "runbook": (_str, ""),
                "summary": (_str, ""),
                "enabled": (_bool, True),
            },
        )
        flap = None
        if v["flap"] is not None:
            f = ck.table(v["flap"], f"{rp}.flap", {"low": (_percent, _REQUIRED), "high": (_percent, _REQUIRED)})
            if f["low"] is not None and f["high"] is not None:
                if f["low"] >= f["high"]:
                    ck.problem(f"{rp}.flap", f"expected low < high, got low={f['low']:g} high={f['high']:g}")
                flap = (f["low"], f["high"])
        if v["warn"] is None and v["crit"] is None and v["name"] is not None:
            ck.problem(rp, "expected at least one of warn or crit")
        for level in v["tier"] or {}:
            if level not in ("warning", "critical"):
                ck.problem(f"{rp}.tier.{level}", 'expected "warning" or "critical" as keys')
        if v["name"] is None or v["metric"] is None:
            continue
        rules.append(
            RuleConfig(
                name=v["name"],
                metric=v["metric"],
                warn=v["warn"],
                crit=v["crit"],
                op=v["op"],
                clear=v["clear"],
                for_s=v["for"],
                keep_firing_for_s=v["keep_firing_for"],
                attempts=v["attempts"],
                flap=flap,
                tier=v["tier"],
                runbook=v["runbook"],
                summary=v["summary"],
                match=v["match"],
                enabled=v["enabled"],
            )
        )
    ck.unique([r for r in raw_rules if isinstance(r, dict)], "rules")

    return Config(
        path=path,
        settings=settings,
        hosts=tuple(hosts),
        endpoints=tuple(endpoints),
        sources=tuple(sources),
        rules=tuple(rules),
        raw=doc,
        notify=tuple(_notify(ck, doc.get("notify"))),
        maintenance=tuple(_maintenance(ck, doc.get("maintenance"), hosts, endpoints, sources)),
        severities=_severities(ck, doc.get("severities")),
        sla=_sla(ck, doc.get("sla", {})),
        checks=_kind_checks(ck, doc, hosts),
    )


class _KindChecker:
    """The checker a probe kind gets (kinds/base.KeyChecker): its checks raise ValueError
    saying what they expected; problems go to the one list with their key paths and lines."""

    REQUIRED = _REQUIRED

    def __init__(self, ck: "_Checker", hosts: frozenset[str]):
        self._ck = ck
        self.hosts = hosts

    def table(self, data: Any, path: str, spec: Mapping[str, tuple[Callable[[Any], Any], Any]]) -> dict[str, Any]:
        return self._ck.table(data, path, {k: (_kind_key(c), d) for k, (c, d) in spec.items()})

    def array(self, data: Any, path: str) -> list[Any]:
        return self._ck.array(data, path)

    def problem(self, path: str, message: str) -> None:
        self._ck.problem(path, message)

    def unique(self, items: list[dict[str, Any]], path: str, what: str = "name") -> None:
        self._ck.unique(items, path, what)

    def duration(self, v: Any) -> float:
        try:
            return _duration(v)
        except _Invalid as e:
            raise ValueError(e.expected) from None


def _kind_checks(ck: "_Checker", doc: Mapping[str, Any], hosts: list[HostConfig]) -> dict[str, tuple[Any, ...]]:
    kc = _KindChecker(ck, frozenset(h.name for h in hosts))
    out: dict[str, tuple[Any, ...]] = {}
    for kind in registered_kinds():
        items = ck.array(doc.get(kind.section), kind.section)
        out[kind.name] = tuple(kind.load(kc, items, kind.section)) if items else ()
    return out


def _tier_durations(v: Any) -> dict[str, float]:
    """{ L1 = "1h", L2 = "4h" }: a duration per tier."""
    if not isinstance(v, dict):
        raise _Invalid('a table of durations per tier like { L1 = "1h", L2 = "4h" }')
    out = {}
    for k, d in v.items():
        if k not in ("L1", "L2", "L3"):
            raise _Invalid(f"tiers L1, L2 or L3 as keys (not {_show(k)})")
        try:
            out[k] = _positive_duration(d)
        except _Invalid:
            raise _Invalid(f'a duration like "1h" for {k}') from None
    return out


def _sla(ck: _Checker, data: Any) -> SLAConfig:
    """[sla]: exclude_maintenance, targets (respond per tier), resolve_targets."""
    d = SLAConfig()
    v = ck.table(data, "sla", {
        "exclude_maintenance": (_bool, True),
        "targets": (_tier_durations, dict(d.respond_s)),
        "resolve_targets": (_tier_durations, {}),
    })
    return SLAConfig(exclude_maintenance=bool(v["exclude_maintenance"]),
                     respond_s={**d.respond_s, **(v["targets"] or {})}, resolve_s=dict(v["resolve_targets"] or {}))


def _severities(ck: _Checker, data: Any) -> tuple[SeverityConfig, ...]:
    """[[severities]]: name, respond, resolve, postmortem (optional), description; the
    defaults (P1..P4) when absent. Listed most severe first."""
    if data is None:
        return DEFAULT_SEVERITIES
    items = ck.array(data, "severities")
    out = []
    for i, item in enumerate(items):
        sp = f"severities[{i}]"
        v = ck.table(item, sp, {
            "name": (_nonempty, _REQUIRED),
            "respond": (_positive_duration, _REQUIRED),
            "resolve": (_positive_duration, _REQUIRED),
            "postmortem": (_positive_duration, None),
            "description": (_str, ""),
        })
        if None in (v["name"], v["respond"], v["resolve"]):
            continue
        if v["respond"] > v["resolve"]:
            ck.problem(f"{sp}.respond", f"expected at most resolve ({format_duration(v['resolve'])}), "
                                        f"got {format_duration(v['respond'])}")
        out.append(SeverityConfig(v["name"], v["respond"], v["resolve"], v["postmortem"], v["description"]))
    ck.unique([x for x in items if isinstance(x, dict)], "severities")
    if not out and not ck.problems:
        ck.problem("severities", "expected at least one [[severities]] entry")
    return tuple(out)


NOTIFY_KINDS = ("alertmanager", "webhook", "email")
_SMTP_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")
_EMAIL_RE = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")


def _smtp(v: Any) -> str:
    m = _SMTP_RE.match(v) if isinstance(v, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise _Invalid('"host:port", like "127.0.0.1:25" or "smtp.example.com:587"')
    return v


def _email(v: Any) -> str:
    if not isinstance(v, str) or not _EMAIL_RE.match(v):
        raise _Invalid('an email address like "oncall@example.com"')
    return v


def _email_list(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    expected = 'a list of email addresses like ["oncall@example.com"]'
    if not isinstance(items, list) or not items:
        raise _Invalid(expected)
    for x in items:
        if not isinstance(x, str) or not _EMAIL_RE.match(x):
            raise _Invalid(f"{expected} ({_show(x)} is not one)")
    return tuple(items)


def _notify(ck: _Checker, data: Any) -> list[NotifyConfig]:
    """[[notify]]: alertmanager and webhook need url; email needs smtp, from and to."""
    out = []
    items = ck.array(data, "notify")
    for i, n in enumerate(items):
        np_ = f"notify[{i}]"
        v = ck.table(
            n,
            np_,
            {
                "name": (_nonempty, _REQUIRED),
                "kind": (_one_of(*NOTIFY_KINDS), _REQUIRED),
                "url": (_url, ""),
                "match": (_str_table, {}),
                "headers": (_headers, {}),
                "group_window": (_duration, None),
                "resend": (_positive_duration, 60.0),
                "timeout": (_positive_duration, 10.0),
                "retry_max": (_positive_duration, 300.0),
                "smtp": (_smtp, ""),
                "from": (_email, ""),
                "to": (_email_list, ()),
                "starttls": (_bool, True),
                "username": (_nonempty, None),
                "password_file": (_nonempty, None),
            },
        )
        kind = v["kind"]
        if kind in ("alertmanager", "webhook") and not v["url"] and "url" not in (n if isinstance(n, dict) else {}):
            ck.problem(f"{np_}.url", f"is required for kind {kind}")
        if kind == "email":
            for key, what in (("smtp", '"host:port"'), ("from", "an email address"), ("to", "a list of addresses")):
                if not v[key] and key not in (n if isinstance(n, dict) else {}):
                    ck.problem(f"{np_}.{key}", f"is required for kind email ({what})")
        elif kind is not None:
            for key in ("smtp", "from", "to", "username", "password_file"):
                if isinstance(n, dict) and key in n:
                    ck.problem(f"{np_}.{key}", f"is for kind email only, not {kind}")
        if kind != "webhook" and kind is not None and isinstance(n, dict) and "headers" in n:
            ck.problem(f"{np_}.headers", f"is for kind webhook only, not {kind}")
        if v["name"] is None or kind is None:
            continue
        # Alertmanager groups by itself (its group_wait): opsdash posts at once unless told otherwise.
        window = v["group_window"] if v["group_window"] is not None else (0.0 if kind == "alertmanager" else 30.0)
        out.append(NotifyConfig(
            name=v["name"], kind=kind, url=v["url"], match=v["match"], headers=v["headers"], group_window=window,
            resend=v["resend"], timeout=v["timeout"], retry_max=v["retry_max"], smtp=v["smtp"], sender=v["from"],
            to=v["to"], starttls=v["starttls"], username=v["username"], password_file=v["password_file"],
        ))
    ck.unique([n for n in items if isinstance(n, dict)], "notify")
    return out


def _check_jump_cycles(ck: _Checker, hosts: list[HostConfig]) -> None:
    by_name = {h.name: h for h in hosts}
    for i, h in enumerate(hosts):
        seen = {h.name}
        j = h.jump
        while j in by_name:
            if j in seen:
                ck.problem(f"hosts[{i}].jump", f'jump chain loops back to "{j}"')
                break
            seen.add(j)
            j = by_name[j].jump


# --- dependencies and maintenance windows ----------------------------------------------


def _parents(hosts: Any, endpoints: Any) -> dict[str, tuple[str, ...]]:
    names = {h.name for h in hosts}
    out: dict[str, list[str]] = {}
    for h in hosts:
        ps = out.setdefault(h.name, [])
        ps += [p for p in h.depends_on if p not in ps and p != h.name]
        if h.jump in names and h.jump not in ps:
            ps.append(h.jump)  # implicit: reached through it
    for e in endpoints:
        ps = out.setdefault(e.name, [])
        ps += [p for p in e.depends_on if p not in ps and p != e.name]
    return {k: tuple(v) for k, v in out.items() if v}


def _check_depends_on(ck: _Checker, hosts: list[HostConfig], endpoints: list[EndpointConfig]) -> None:
    """Every ``depends_on`` names a host or endpoint of this file (did-you-mean), not itself,
    and no chain of depends_on (and jump) loops back: a loop would keep each quiet for ever."""
    known = {h.name for h in hosts} | {e.name for e in endpoints}
    where: dict[str, str] = {}
    for kind, items in (("hosts", hosts), ("endpoints", endpoints)):
        for i, item in enumerate(items):
            where.setdefault(item.name, f"{kind}[{i}]")
            for j, p in enumerate(item.depends_on):
                path = f"{kind}[{i}].depends_on[{j}]"
                if p == item.name:
                    ck.problem(path, f'"{p}" cannot depend on itself')
                elif p not in known:
                    close = difflib.get_close_matches(p, sorted(known), n=1, cutoff=0.6)
                    hint = f' (did you mean "{close[0]}"?)' if close else ""
                    ck.problem(path, f"expected a host or endpoint name from this file, got {_show(p)}{hint}")
    graph = _parents(hosts, endpoints)
    jump_only = {h.name: h.jump for h in hosts}
    done: set[str] = set()
    for start in sorted(graph):
        # depth-first along parents; a name met again on the current path is a loop
        path: list[str] = []
        on_path: set[str] = set()

        def visit(n: str) -> list[str] | None:
            if n in on_path:
                return path[path.index(n):] + [n]
            if n in done:
                return None
            path.append(n)
            on_path.add(n)
            for p in graph.get(n, ()):
                loop = visit(p)
                if loop:
                    return loop
            path.pop()
            on_path.discard(n)
            done.add(n)
            return None

        loop = visit(start)
        if loop:
            if all(jump_only.get(a) == b for a, b in zip(loop, loop[1:])):
                return  # a loop of jumps only: _check_jump_cycles reported it
            ck.problem(f"{where.get(loop[0], 'hosts')}.depends_on",
                       "dependencies loop: " + " -> ".join(loop) + " (each would keep the other quiet)")
            return


_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY_WORDS = {"daily": tuple(range(7)), "weekdays": (0, 1, 2, 3, 4), "weekends": (5, 6)}
_EVERY_EXPECTED = 'days and a time, like "sat 02:00", "mon,wed 03:30", "mon-fri 22:00" or "daily 02:00"'


def parse_every(text: Any) -> tuple[tuple[int, ...], tuple[int, int]]:
    """ "sat 02:00" -> ((5,), (2, 0)); "mon,wed 03:30", "mon-fri 22:00", "daily 02:00". Days are
    three-letter names (or whole ones), comma lists and ranges; "daily", "weekdays", "weekends"."""
    if not isinstance(text, str):
        raise _Invalid(_EVERY_EXPECTED)
    parts = text.strip().lower().split()
    if len(parts) != 2:
        raise _Invalid(_EVERY_EXPECTED)
    days_s, time_s = parts
    m = re.fullmatch(r"(\d{1,2}):(\d\d)", time_s)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise _Invalid(f"{_EVERY_EXPECTED} (the time is HH:MM, 00:00-23:59)")

    def day(word: str) -> int:
        d = _DAY_NAMES.get(word[:3]) if len(word) >= 3 else None
        full = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday",
                "sat": "saturday", "sun": "sunday"}
        if d is None or not full[word[:3]].startswith(word):
            raise _Invalid(f"{_EVERY_EXPECTED} (not a day: {word!r})")
        return d

    days: set[int] = set()
    for item in days_s.split(","):
        if item in _DAY_WORDS:
            days.update(_DAY_WORDS[item])
        elif "-" in item:
            a, _, b = item.partition("-")
            lo, hi = day(a), day(b)
            d = lo
            while True:
                days.add(d)
                if d == hi:
                    break
                d = (d + 1) % 7
        else:
            days.add(day(item))
    return tuple(sorted(days)), (int(m.group(1)), int(m.group(2)))


def _start_time(v: Any) -> Any:
    """A TOML datetime or an ISO-8601 string; without an offset it is wall time in the window's tz."""
    import datetime as _dt

    if isinstance(v, _dt.datetime):
        return v
    if isinstance(v, str):
        try:
            return _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
    raise _Invalid('a date and time like "2026-12-05T02:00:00Z" (or without Z: in the window\'s tz)')


def _zone(name: str) -> Any:
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


# Labels a series carries besides its target's tags (engine.py, rules.py): what a matcher may use too.
SERIES_LABELS = ("mount", "cache", "backup", "vantage", "metric")
_MATCH_BUILTINS = ("target", "rule", "alertname", "severity")


def _maintenance(ck: _Checker, data: Any, hosts: list[HostConfig], endpoints: list[EndpointConfig],
                 sources: list[SourceConfig]) -> list[MaintenanceConfig]:
    """[[maintenance]]: name, match (silence matchers, checked like `opsdash silence` checks them),
    `every` or `start`, duration, tz (an IANA zone name)."""
    out = []
    items = ck.array(data, "maintenance")
    tag_keys = {k for x in (*hosts, *endpoints) for k in x.tags}
    keys = set(_MATCH_BUILTINS) | set(SERIES_LABELS) | tag_keys
    targets = {h.name for h in hosts} | {e.name for e in endpoints}
    # A Prometheus source brings targets of its own (instance labels): any target name may come.
    check_targets = not any(s.kind == "prometheus" for s in sources)
    for i, w in enumerate(items):
        wp = f"maintenance[{i}]"
        v = ck.table(
            w,
            wp,
            {
                "name": (_nonempty, _REQUIRED),
                "match": (_str_table, _REQUIRED),
                "every": (lambda x: (x, parse_every(x)), None),
                "start": (_start_time, None),
                "duration": (_positive_duration, _REQUIRED),
                "tz": (_nonempty, "UTC"),
            },
        )
        ok = v["name"] is not None and v["match"] is not None and v["duration"] is not None
        if v["match"] is not None:
            if not v["match"]:
                ck.problem(f"{wp}.match", 'expected at least one matcher, like { role = "db" }')
                ok = False
            for k, val in v["match"].items():
                mp = f"{wp}.match.{k}"
                if k not in keys:
                    close = difflib.get_close_matches(k, sorted(keys), n=1, cutoff=0.6)
                    hint = f' (did you mean "{close[0]}"?)' if close else ""
                    ck.problem(mp, f'unknown label "{k}"{hint}; alerts carry target, rule, severity, '
                                   "their target's tags and their series' labels")
                    ok = False
                elif k == "severity" and val not in ("warning", "critical"):
                    ck.problem(mp, f'expected "warning" or "critical", got {_show(val)}')
                    ok = False
                elif k == "target" and check_targets and val not in targets:
                    close = difflib.get_close_matches(val, sorted(targets), n=1, cutoff=0.6)
                    hint = f' (did you mean "{close[0]}"?)' if close else ""
                    ck.problem(mp, f"expected a host or endpoint name from this file, got {_show(val)}{hint}")
                    ok = False
        zone = _zone(v["tz"]) if v["tz"] else None
        if v["tz"] and zone is None:
            import zoneinfo

            close = difflib.get_close_matches(v["tz"], sorted(zoneinfo.available_timezones()), n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            ck.problem(f"{wp}.tz", f'unknown time zone {_show(v["tz"])}{hint}; expected an IANA name like "Europe/Berlin"')
            ok = False
        raw = w if isinstance(w, dict) else {}
        if ("every" in raw) == ("start" in raw):
            ck.problem(wp, 'expected exactly one of every (a recurring window, like "sat 02:00") or start (one window)')
            ok = False
        if v["every"] is not None and v["duration"] is not None and v["duration"] > 7 * 86400:
            ck.problem(f"{wp}.duration", f"expected at most 7d for a recurring window, got {_show(raw.get('duration'))}")
            ok = False
        if not ok or (v["every"] is None and v["start"] is None):
            continue
        start = None
        days: tuple[int, ...] = ()
        at = (0, 0)
        if v["start"] is not None:
            st = v["start"]
            if st.tzinfo is None:
                st = st.replace(tzinfo=zone)
            start = st.timestamp()
        else:
            days, at = v["every"][1]
        out.append(MaintenanceConfig(name=v["name"], match=v["match"], duration=v["duration"], tz=v["tz"],
                                     every=v["every"][0].strip() if v["every"] else "", days=days, at=at,
                                     start=start))
    ck.unique([w for w in items if isinstance(w, dict)], "maintenance")
    return out


def empty_config() -> Config:
    """What opsdash watches with no config file: this machine, through psutil."""
    return parse_config('[[hosts]]\nname = "localhost"\nprobes = ["local"]\n', "<built-in>")


# --- saving ------------------------------------------------------------------------------


_T = TypeVar("_T")


def update_config(path: str | os.PathLike[str], edit: Callable[[MutableMapping[str, Any]], _T]) -> _T:
    """Apply ``edit`` to the TOML document in ``path`` and write it back atomically (temp file +
    rename), the old file kept as .bak. Returns what ``edit`` returns.

    The file is read again here, not taken from the loaded Config: an edit made since
    opsdash started is kept. tomlkit's document is a dict (tables) and list (arrays of
    tables) that remembers comments and layout, so only what ``edit`` changes changes.
    The result must load like any config, or the file is left as it was (ConfigError).
    """
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")  # bytes: CRLF line ends stay CRLF
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigProblem(name, "", f"cannot read: {getattr(e, 'strerror', None) or e}")]) from None
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as e:
        raise ConfigError([ConfigProblem(name, "", f"not changed: no longer valid TOML: {e}", getattr(e, "line", None))]) from None
    try:
        result = edit(doc)
    except (TypeError, KeyError, AttributeError, ValueError, tomlkit.exceptions.TOMLKitError) as e:
        # the file has a shape the edit did not expect (changed since it was loaded)
        raise ConfigError([ConfigProblem(name, "", f"not changed: cannot edit this file: {type(e).__name__}: {e}")]) from None
    new = tomlkit.dumps(doc)
    if new != text:
        parse_config(new, name, Path(path))  # raises ConfigError, and nothing is written
        write_atomic(path, new, backup=True)
    return result


def set_theme(doc: MutableMapping[str, Any], name: str) -> None:
    """``[opsdash] theme = name``, for update_config."""
    doc.setdefault("opsdash", {})["theme"] = name


def new_table(values: dict[str, Any]) -> Any:
    """A table for an array of tables (``[[rules]]``), followed by a blank line like a hand-written one."""
    t = tomlkit.table()
    t.update(values)
    t.add(tomlkit.nl())
    return t


STARTER_CONFIG = """\
# opsdash config: see docs/config.md for every key.
[opsdash]
retention = "14d"
theme = "opsdash-dark"

[defaults]
interval = "15s"
timeout = "10s"
host_key_policy = "strict"

# This machine, read through psutil (no SSH).
[[hosts]]
name = "localhost"
probes = ["local"]

# A host polled over SSH (an ~/.ssh/config alias works as address):
# [[hosts]]
# name = "web-1"
# address = "10.0.4.11"
# user = "ops"
# probes = ["health", "patches"]
#
# [[endpoints]]
# name = "shop-home"
# url = "https://shop.example.com/"
# slo = { availability = 99.9, ttfb_p95_ms = 400 }
"""
