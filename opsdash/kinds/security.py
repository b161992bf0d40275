"""Host security posture: one read-only script, its parsers, its metrics and runbooks.

The kind declares its ``[[hosts]]`` / ``[defaults]`` keys (``KEYS``, checked by
config.py), the script it runs through the one remote runner (``script``: ``sec
NAME CMD`` sections, kinds/sections.py), how it reads them back (``read``) and
the runbook of each metric (``RUNBOOKS``, for alerts/rules.py). It imports only
the model, errors and its parsers; the collector hands it the runner's output.

Privileges: every command is tried as the login user first and, only if that
fails, as ``sudo -n CMD`` (never a password prompt). A command that neither may
run leaves its figure None and one line naming it in ``errors``; the other
figures are still read.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from ..errors import ParseError
from .base import OK, WARN, BuiltinRule, Cell, HostContext, HostJob, HostKind, Metric, Probed, ViewContext
from ..model import Sample
from ..parsers import apt
from ..parsers.authlog import failed_logins
from ..parsers.ss import parse_ss
from ..parsers.sshd_config import parse_sshd_t, weak_settings

__all__ = ["KEYS", "KIND", "METRICS", "RULES", "RUNBOOKS", "SecurityConfig", "SecurityKind", "SecurityRow",
           "SecurityStatus", "read", "script"]

DAY = 86400.0


@dataclass(frozen=True)
class SecurityConfig:
    expect_listen: tuple[str, ...] | None = None  # "22/tcp"; None: listeners are not checked
    sshd_config: str = "/etc/ssh/sshd_config"
    auth_log: str = ""  # "": the journal (ssh/sshd units), else /var/log/auth.log or /var/log/secure


_LISTEN = re.compile(r"^(\d{1,5})/(tcp|udp)$")


def _listen_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and _LISTEN.match(x) for x in v):
        raise ValueError('a list of "PORT/tcp" or "PORT/udp", like ["22/tcp", "443/tcp"]')
    return tuple(v)


def _path(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith("/"):
        raise ValueError("an absolute path")
    return v


def _log_path(v: Any) -> str:
    if v == "":
        return v
    try:
        return _path(v)
    except ValueError:
        raise ValueError('an absolute path, or "" for the journal') from None


# key -> (check: value -> value, raising ValueError(what was expected); default)
KEYS: dict[str, tuple[Any, Any]] = {
    "expect_listen": (_listen_list, None),
    "sshd_config": (_path, SecurityConfig.sshd_config),
    "auth_log": (_log_path, SecurityConfig.auth_log),
}

METRICS: tuple[Metric, ...] = (
    Metric("security.unexpected_listeners", "unexpected listeners", "",
           "Sockets listening on a port not in the host's expect_listen."),
    Metric("security.sshd_weak_settings", "weak sshd settings", "",
           "sshd settings that allow root or password login, keyboard-interactive or X11 forwarding."),
    Metric("security.failed_logins_per_h", "failed SSH logins/h", "", "Failed SSH logins in the last hour."),
    Metric("security.firewall_active", "firewall active", "bool",
           "1 when a firewall is active (nftables ruleset, ufw or firewalld).",
           ("a firewall is active", "no firewall")),
    Metric("security.extra_uid0", "uid 0 accounts besides root", "", "Accounts other than root with uid 0."),
    Metric("security.sudoers_changed", "sudoers changed", "bool",
           "1 when /etc/sudoers or /etc/sudoers.d changed since the last poll.",
           ("sudoers changed", "sudoers unchanged")),
    Metric("security.days_since_security_update", "days since updates applied", "",
           "Days since updates were last applied (apt or dnf history)."),
)

RUNBOOKS: dict[str, str] = {
    "security.unexpected_listeners": "ss -tulpn on the host: which process listens? stop it, or add the "
                                     "port to expect_listen if it belongs there",
    "security.sshd_weak_settings": "sshd -T | grep -E 'permitrootlogin|passwordauthentication|"
                                   "kbdinteractiveauthentication|x11forwarding'; fix sshd_config, sshd -t, reload",
    "security.failed_logins_per_h": "journalctl -u ssh --since -1h | grep -E 'Failed|Invalid': one source "
                                    "or many? block it (fail2ban, firewall); is password login still on?",
    "security.firewall_active": "nft list ruleset / ufw status / firewall-cmd --state: load the host's ruleset",
    "security.extra_uid0": "awk -F: '$3 == 0' /etc/passwd: an account with uid 0 besides root is root; "
                           "who added it? lock it (usermod -L) and investigate",
    "security.sudoers_changed": "ls -l /etc/sudoers /etc/sudoers.d; visudo -c; was the change planned "
                                "(a ticket, config management)?",
    "security.days_since_security_update": "zgrep End-Date /var/log/apt/history.log* / dnf history: "
                                           "schedule the patch window",
}

RULES: tuple[BuiltinRule, ...] = (
    BuiltinRule("unexpected-listeners", "security.unexpected_listeners", warn=0,
                description="a socket listens on a port not in the host's expect_listen",
                runbook=RUNBOOKS["security.unexpected_listeners"]),
    BuiltinRule("sshd-weak-settings", "security.sshd_weak_settings", warn=0,
                description="sshd allows root or password login, keyboard-interactive or X11 forwarding",
                runbook=RUNBOOKS["security.sshd_weak_settings"]),
    BuiltinRule("failed-logins", "security.failed_logins_per_h", warn=50, crit=500,
                description="failed SSH logins in the last hour", runbook=RUNBOOKS["security.failed_logins_per_h"]),
    BuiltinRule("no-firewall", "security.firewall_active", op="<", warn=0.5,
                description="no firewall active (empty nftables ruleset, ufw and firewalld off)",
                runbook=RUNBOOKS["security.firewall_active"]),
    BuiltinRule("extra-uid0", "security.extra_uid0", crit=0, tier={"warning": "L2", "critical": "L2"},
                description="an account other than root has uid 0", runbook=RUNBOOKS["security.extra_uid0"]),
    BuiltinRule("sudoers-changed", "security.sudoers_changed", warn=0.5,
                description="/etc/sudoers or /etc/sudoers.d changed since the last poll",
                runbook=RUNBOOKS["security.sudoers_changed"]),
    BuiltinRule("updates-not-applied", "security.days_since_security_update", warn=30, crit=90,
                description="days since updates were last applied (apt/dnf history)",
                runbook=RUNBOOKS["security.days_since_security_update"]),
)

# Tried as the login user, then with sudo -n; the first attempt's output is the reason if both fail.
_TRY = r"""
try() {
  _s=
  if _o=$("$@" 2>&1); then printf '%s\n' "$_o"; return 0; else _rc=$?; fi
  if command -v sudo >/dev/null 2>&1; then
    if _s=$(sudo -n "$@" 2>&1); then printf '%s\n' "$_s"; return 0; fi
  else _s="sudo: not installed"; fi
  printf '%s\n' "$_o" | tail -n 3 >&2; printf 'sudo -n: %s\n' "$_s" | tail -n 1 >&2; return $_rc
}
"""

_FAIL_RE = "sshd.*(Failed |Invalid user |authenticating user |invalid user |maximum authentication)"


def script(cfg: SecurityConfig) -> str:
    q = shlex.quote
    # A pipe's status is tail's: test the file first, so a denial is not read as "none".
    grep = (f"[ -r \"$0\" ] || {{ echo \"$0: Permission denied\" >&2; exit 1; }}; "
            f"grep -E {q(_FAIL_RE)} \"$0\" | tail -n 20000")
    if cfg.auth_log:
        auth = f"sec auth try sh -c {q(grep)} {q(cfg.auth_log)}\n"
    else:
        auth = (
            "if command -v journalctl >/dev/null 2>&1; then sec journal try sh -c "
            + q(f"journalctl -q --no-pager -o short-iso -u ssh -u sshd --since -1h | grep -E {q(_FAIL_RE)} "
                "| tail -n 20000") + "; fi\n"
            "for f in /var/log/auth.log /var/log/secure; do\n"
            f"  if [ -e \"$f\" ]; then sec auth try sh -c {q(grep)} \"$f\"; break; fi\n"
            "done\n"
        )
    sudoers = ('for f in /etc/sudoers /etc/sudoers.d/*; do [ -e "$f" ] || continue; '
               'sha256sum "$f" || exit 1; done')
    return _TRY + f"""
sec now date +%s
sec tz date +%z
sec ss ss -tulpnH
sec sshd try sshd -T -f {q(cfg.sshd_config)}
{auth}sec nft try nft list ruleset
if command -v ufw >/dev/null 2>&1; then sec ufw try ufw status; fi
if command -v firewall-cmd >/dev/null 2>&1; then sec firewalld firewall-cmd --state; fi
sec uid0 awk -F: '$3 == 0 {{print $1}}' /etc/passwd
sec sudoers try sh -c {q(sudoers)}
if [ -r /var/log/apt/history.log ]; then
  sec history sh -c "grep -E '^(Start-Date|End-Date|Upgrade|Install):' /var/log/apt/history.log | tail -n 400 | cut -c1-64"
elif command -v rpm >/dev/null 2>&1; then
  sec installtime sh -c "rpm -qa --qf '%{{INSTALLTIME}}\\n' | sort -n | tail -n 1"
fi
"""


class Section(Protocol):
    rc: int
    out: str
    err: str


@dataclass
class SecurityStatus:
    unexpected: tuple[str, ...] | None = None  # "8080/tcp (python3)"
    weak: tuple[str, ...] | None = None  # "passwordauthentication yes"
    failed_logins_per_h: int | None = None
    firewall: str | None = None  # "nftables", "ufw", "firewalld", or "" for none
    extra_uid0: tuple[str, ...] | None = None
    sudoers_hash: str | None = None
    sudoers_changed: bool | None = None
    last_update: float | None = None  # epoch s of the last apt/dnf transaction
    days_since_update: float | None = None
    errors: tuple[str, ...] = ()  # one line per command that could not run, naming it

    @property
    def issues(self) -> list[str]:
        """Each finding in a few words, for the pane's detail and the handover."""
        out = []
        if self.unexpected:
            out.append("unexpected listeners: " + ", ".join(self.unexpected))
        if self.weak:
            out.append("sshd: " + ", ".join(self.weak))
        if self.failed_logins_per_h:
            out.append(f"{self.failed_logins_per_h} failed SSH logins in the last hour")
        if self.firewall == "":
            out.append("no firewall")
        if self.extra_uid0:
            out.append("uid 0 besides root: " + ", ".join(self.extra_uid0))
        if self.sudoers_changed:
            out.append("sudoers changed since the last poll")
        if self.days_since_update is not None and self.days_since_update > 30:
            out.append(f"no updates applied for {self.days_since_update:.0f} days")
        return out

    def samples(self, t: float, target: str) -> list[Sample]:
        vals: dict[str, float | None] = {
            "security.unexpected_listeners": None if self.unexpected is None else len(self.unexpected),
            "security.sshd_weak_settings": None if self.weak is None else len(self.weak),
            "security.failed_logins_per_h": self.failed_logins_per_h,
            "security.firewall_active": None if self.firewall is None else float(self.firewall != ""),
            "security.extra_uid0": None if self.extra_uid0 is None else len(self.extra_uid0),
            "security.sudoers_changed": None if self.sudoers_changed is None else float(self.sudoers_changed),
            "security.days_since_security_update": self.days_since_update,
        }
        return [Sample(t, target, m, float(v)) for m, v in vals.items() if v is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "unexpected_listeners": list(self.unexpected) if self.unexpected is not None else None,
            "sshd_weak_settings": list(self.weak) if self.weak is not None else None,
            "failed_logins_per_h": self.failed_logins_per_h,
            "firewall": self.firewall,
            "extra_uid0": list(self.extra_uid0) if self.extra_uid0 is not None else None,
            "sudoers_hash": self.sudoers_hash,
            "sudoers_changed": self.sudoers_changed,
            "days_since_security_update": self.days_since_update,
            "issues": self.issues,
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SecurityStatus":
        def strs(v: Any) -> tuple[str, ...] | None:
            return tuple(str(x) for x in v) if isinstance(v, list) else None

        def num(v: Any) -> float | None:
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        fl, sc, fw = d.get("failed_logins_per_h"), d.get("sudoers_changed"), d.get("firewall")
        return cls(unexpected=strs(d.get("unexpected_listeners")), weak=strs(d.get("sshd_weak_settings")),
                   failed_logins_per_h=int(fl) if num(fl) is not None else None,
                   firewall=fw if isinstance(fw, str) else None, extra_uid0=strs(d.get("extra_uid0")),
                   sudoers_hash=d.get("sudoers_hash") if isinstance(d.get("sudoers_hash"), str) else None,
                   sudoers_changed=sc if isinstance(sc, bool) else None,
                   days_since_update=num(d.get("days_since_security_update")),
                   errors=strs(d.get("errors")) or ())


@dataclass(frozen=True)
class SecurityRow:
    """A host's latest "security" row: what the script found, or why it could not run."""

    t: float | None
    interval: float | None
    security: SecurityStatus | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "interval": self.interval,
                "security": self.security.to_json() if self.security is not None else None, "error": self.error}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SecurityRow":
        j = d.get("security")
        num = (lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
        return cls(num(d.get("t")), num(d.get("interval")),
                   SecurityStatus.from_json(j) if isinstance(j, Mapping) else None,
                   str(d["error"]) if d.get("error") else None)


_DENIED = re.compile(r"permission denied|operation not permitted|password is required|must be run as root|"
                     r"requires root|only root|not in the sudoers|sudo: not installed|you must be root", re.I)


def _fail(cmd: str, sec: Section) -> str:
    """One line naming the command: denied (and sudo -n refused), or its own last words."""
    text = sec.err + "\n" + sec.out
    if _DENIED.search(text):
        return f"{cmd}: permission denied (not as this user, and sudo -n not allowed)"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("sudo -n:")]
    return f"{cmd} exited {sec.rc}: {lines[-1][:160] if lines else 'no message'}"


def read(cfg: SecurityConfig, s: Mapping[str, Section], *, previous_sudoers: str | None = None,
         last_update: float | None = None) -> SecurityStatus:
    """Read the script's sections. ``previous_sudoers``: the hash of the last poll (None on
    the first: no change is reported). ``last_update``: the patches probe's parsed last
    transaction, when the collector has one; else this script's own apt/rpm history."""
    st = SecurityStatus()
    errors: list[str] = []
    now = float(s["now"].out.strip()) if s["now"].rc == 0 and s["now"].out.strip().isdigit() else time.time()
    offset = _utc_offset(s["tz"].out.strip()) if s["tz"].rc == 0 else 0

    def ok(name: str, cmd: str) -> Section | None:
        sec = s.get(name)
        if sec is None:
            return None
        if sec.rc != 0:
            errors.append(_fail(cmd, sec))
            return None
        return sec

    if (sec := ok("ss", "ss -tulpnH")) is not None:
        try:
            listeners = parse_ss(sec.out)
        except ParseError as e:
            errors.append(str(e))
        else:
            if cfg.expect_listen is not None:
                want = set(cfg.expect_listen)
                st.unexpected = tuple(dict.fromkeys(
                    f"{ln.key} ({ln.process})" if ln.process else ln.key
                    for ln in sorted(listeners, key=lambda x: (x.port, x.proto)) if ln.key not in want))
    if (sec := ok("sshd", f"sshd -T -f {cfg.sshd_config}")) is not None:
        try:
            st.weak = tuple(weak_settings(parse_sshd_t(sec.out)))
        except ParseError as e:
            errors.append(str(e))
    journal = s.get("journal")
    auth_name = "journal" if journal is not None and journal.rc == 0 and journal.out.strip() else "auth"
    what = "journalctl -u ssh -u sshd" if auth_name == "journal" else f"reading {cfg.auth_log or 'the auth log'}"
    if (sec := ok(auth_name, what)) is not None:
        st.failed_logins_per_h = failed_logins(sec.out, now=now, utc_offset_s=offset)
    elif auth_name == "auth" and "auth" not in s and journal is not None and journal.rc == 0:
        st.failed_logins_per_h = 0  # an empty journal and no log file: none logged
    st.firewall = _firewall(s, ok)
    if (sec := ok("uid0", "awk /etc/passwd")) is not None:
        st.extra_uid0 = tuple(n for n in sec.out.split() if n != "root")
    if (sec := ok("sudoers", "sha256sum /etc/sudoers /etc/sudoers.d/*")) is not None:
        st.sudoers_hash = hashlib.sha256(sec.out.encode()).hexdigest()[:16]
        st.sudoers_changed = previous_sudoers is not None and previous_sudoers != st.sudoers_hash
    if last_update is None:
        if (sec := s.get("history")) is not None and sec.rc == 0:
            last_update = apt.parse_apt_history_last_update(sec.out, offset)
        elif (sec := s.get("installtime")) is not None and sec.rc == 0 and sec.out.strip().isdigit():
            last_update = float(sec.out.strip())
    st.last_update = last_update
    if last_update is not None:
        st.days_since_update = round(max(0.0, now - last_update) / DAY, 2)
    st.errors = tuple(errors)
    return st


def _firewall(s: Mapping[str, Section], ok: Any) -> str | None:
    """The first active firewall, "" if every tool that ran says none, None if none could tell."""
    told = False
    if (sec := s.get("ufw")) is not None and sec.rc == 0:
        told = True
        if re.search(r"^Status: active", sec.out, re.M):
            return "ufw"
    if (sec := s.get("firewalld")) is not None:
        told = True
        if sec.rc == 0 and sec.out.strip() == "running":
            return "firewalld"
    nft = ok("nft", "nft list ruleset")
    if nft is not None:
        told = True
        if re.search(r"^table ", nft.out, re.M):
            return "nftables"
    return "" if told else None


def _utc_offset(z: str) -> int:
    m = re.fullmatch(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])", z)
    if not m:
        return 0
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs


PROBE_BUDGET = 60.0  # at least this long: the journal's last hour on a busy host


class SecurityKind(HostKind):
    """The "security" probe of a host (probes = ["security"]), every ``patches_interval``.
    A command that may not run is a line in the row's errors, not a failed poll."""

    name = "security"
    word = "security"
    title = "Security"
    metrics = METRICS
    rules = RULES
    row_type = SecurityRow
    keys = KEYS

    def configure(self, values: Mapping[str, Any]) -> SecurityConfig:
        return SecurityConfig(**values)

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        if "security" not in host.probes:
            return []
        return [HostJob("security", "", host.patches_interval, max(host.timeout, PROBE_BUDGET))]

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        t = ctx.clock()
        cfg = host.security
        sections = await ctx.run_script(script(cfg), job.budget)
        prev = ctx.memory.get("sudoers_hash")
        if prev is None:  # across restarts: the last poll's, from the store
            old = await ctx.stored("security")
            prev = ((old or {}).get("security") or {}).get("sudoers_hash")
        # The patches probe's parsed history when it has run; else this script's own.
        patches = ctx.row("patches")
        last = patches.patches.last_update if patches is not None and patches.patches is not None else None
        st = read(cfg, sections, previous_sudoers=prev, last_update=last)
        ctx.memory["sudoers_hash"] = st.sudoers_hash
        return Probed(SecurityRow(t, job.interval, st), st.samples(t, host.name))

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        return Probed(SecurityRow(t, job.interval, None, reason))

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        return None  # not in `once`'s host object (docs/contracts.md); the Patches pane shows it

    def summary_cell(self, data: Mapping[str, Any] | None, host: str, ctx: ViewContext) -> tuple[Cell, int]:
        """The Patches pane's Security column: "ok", "2 issues" (figures past their rules),
        "partial" (a command could not run), "error"; "—" when never polled. And its level."""
        if data is None:
            return ("—", "muted"), OK
        j = data.get("security")
        if not j:
            return ("error", "crit") if data.get("error") else ("—", "muted"), OK
        levels = [ctx.level(m, v, host) for m, f in _FIGURES.items() if (v := f(j)) is not None]
        bad = [(lv, st) for lv, st in levels if lv >= WARN]
        if not bad:
            return ("partial" if j.get("errors") else "ok", "" if j.get("errors") else "muted"), OK
        worst = max(bad)
        return (f"{len(bad)} issue{'s' if len(bad) > 1 else ''}", worst[1]), worst[0]


# security.* figure -> how it is read from the row's JSON (SecurityStatus.to_json)
_FIGURES: dict[str, Any] = {
    "security.unexpected_listeners": lambda j: None if j["unexpected_listeners"] is None else len(j["unexpected_listeners"]),
    "security.sshd_weak_settings": lambda j: None if j["sshd_weak_settings"] is None else len(j["sshd_weak_settings"]),
    "security.failed_logins_per_h": lambda j: j["failed_logins_per_h"],
    "security.firewall_active": lambda j: None if j["firewall"] is None else float(j["firewall"] != ""),
    "security.extra_uid0": lambda j: None if j["extra_uid0"] is None else len(j["extra_uid0"]),
    "security.sudoers_changed": lambda j: None if j["sudoers_changed"] is None else float(j["sudoers_changed"]),
    "security.days_since_security_update": lambda j: j["days_since_security_update"],
}


KIND = SecurityKind()
