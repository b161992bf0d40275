"""Pending package updates and reboot signals of a host: the probe, its metrics and rules.

One POSIX ``sh`` script of ``sec`` sections (kinds/sections.py), sent on stdin,
detects the package manager (unless the job remembers it), reads the manager's
own state without refreshing it (never ``apt-get update``; dnf/yum run
cache-only), and gathers every reboot signal. Works as non-root. The rest of
the host's security posture is kinds/security.py.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterable, Mapping

from ..errors import ParseError, ProbeError
from ..model import PackageUpdate, PatchesRow, PatchStatus
from ..parsers import apt, reboot, rpm
from . import security
from .base import (OK, UNKNOWN, WARN, BuiltinRule, CommandRunner, HostContext, HostJob, HostKind, Metric, PaneView,
                   Probed, ViewContext)
from .sections import Section, run_script

__all__ = ["KIND", "MANAGERS", "METRICS", "REBOOT_REQUIRED_FILE", "RULES", "PatchesKind", "kernel_newer",
           "probe_patches"]

DAY = 86400.0
MANAGERS = ("apt", "dnf", "yum", "zypper")
PROBE_BUDGET = 120.0  # at least this long: a cold dnf or zypper reads its whole metadata

METRICS: tuple[Metric, ...] = (
    Metric("patches.pending", "pending updates", "", "Package updates pending on the host.",
           prom="opsdash_patches_pending"),
    Metric("patches.security", "security updates", "", "Security updates pending on the host.",
           prom="opsdash_patches_security_pending"),
    Metric("patches.reboot_required", "reboot required", "bool",
           "1 when the host needs a reboot (reboot-required, needrestart).",
           ("reboot required", "no reboot required"), prom="opsdash_reboot_required"),
)

RULES: tuple[BuiltinRule, ...] = (
    # `for` 7 days is the rule: a pending security update is normal until the patch window.
    BuiltinRule("security-updates", "patches.security", warn=0, for_s=7 * DAY,
                description="security updates pending for more than 7 days",
                runbook="apt list --upgradable / dnf updateinfo list security; schedule the patch window"),
    BuiltinRule("reboot-required", "patches.reboot_required", warn=0.5,
                description="a reboot is required (kernel or core library updated)",
                runbook="cat /var/run/reboot-required.pkgs / needs-restarting -r; schedule a reboot"),
)


_DETECT = """
m=
for c in apt-get dnf yum zypper; do
  if command -v "$c" >/dev/null 2>&1; then m=$c; break; fi
done
sec manager echo "${m:-none}"
"""

# Reboot signals shared by all managers. needrestart needs root to see every
# service; as non-root it reports what it can (kernel status still works).
REBOOT_REQUIRED_FILE = "/var/run/reboot-required"  # a module constant so tests can point elsewhere

_REBOOT = """
sec uname uname -r
sec boot ls -1 /boot
sec tz date +%z
rr={rr}
if [ -e "$rr" ]; then
  sec reboot_required cat "$rr"
  sec reboot_pkgs cat "$rr.pkgs"
fi
if command -v needrestart >/dev/null 2>&1; then sec needrestart needrestart -b; fi
"""

_BY_MANAGER = {
    # -s simulates; Debug::NoLocking lets it run beside a running apt.
    "apt": """
sec apt apt-get -s -o Debug::NoLocking=1 dist-upgrade
hist() { grep -E '^(Start-Date|End-Date|Upgrade|Install):' /var/log/apt/history.log | tail -n 400 | cut -c1-64; }
sec history hist
""",
    # -C: read the system metadata cache; never download metadata on a poll.
    "dnf": """
sec check dnf -C check-update
sec security dnf -C updateinfo list --security
nr() { if command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r; else dnf -C needs-restarting -r; fi; }
sec needs_restarting nr
sec installtime sh -c "rpm -qa --qf '%{INSTALLTIME}\\n' | sort -n | tail -n 1"
""",
    "yum": """
sec check yum -C check-update
sec security yum -C updateinfo list security
if command -v needs-restarting >/dev/null 2>&1; then sec needs_restarting needs-restarting -r; fi
sec installtime sh -c "rpm -qa --qf '%{INSTALLTIME}\\n' | sort -n | tail -n 1"
""",
    "zypper": """
sec check zypper --non-interactive --no-refresh list-updates
sec security zypper --non-interactive --no-refresh list-patches --category security
sec needs_rebooting zypper --non-interactive needs-rebooting
sec installtime sh -c "rpm -qa --qf '%{INSTALLTIME}\\n' | sort -n | tail -n 1"
""",
}


def _script(manager: str | None) -> str:
    reboot_part = _REBOOT.replace("{rr}", shlex.quote(REBOOT_REQUIRED_FILE))
    if manager is None:
        dispatch = "\n".join(
            f'if [ "$m" = {"apt-get" if k == "apt" else k} ]; then\n{v}\nfi' for k, v in _BY_MANAGER.items()
        )
        return _DETECT + dispatch + reboot_part
    return _BY_MANAGER[manager] + reboot_part


def _err(sec: Section, what: str) -> ProbeError:
    lines = [ln for ln in (sec.err + "\n" + sec.out).splitlines() if ln.strip()]
    # apt and dnf put the real reason on an "E:" / "Error:" line; else the last line.
    line = next((ln for ln in lines if ln.startswith(("E:", "Error:"))), lines[-1] if lines else "")
    return ProbeError(f"{what} exited {sec.rc}: {line[:200]}")


async def probe_patches(runner: CommandRunner, *, timeout: float, manager: str | None = None) -> tuple[PatchStatus, str]:
    """Pending and security updates plus reboot status in one round trip. Returns the status
    and the manager ("apt", "dnf", "yum", "zypper") for the caller to pass next time."""
    if manager == "apt-get":
        manager = "apt"
    if manager is not None and manager not in MANAGERS:
        raise ProbeError(f"unknown package manager {manager!r}; expected one of {', '.join(MANAGERS)}")
    s = await run_script(runner, _script(manager), timeout=timeout)
    if manager is None:
        found = s["manager"].out.strip()
        if found == "none":
            raise ProbeError("no supported package manager (apt-get, dnf, yum, zypper) on the host")
        manager = "apt" if found == "apt-get" else found
    status = _patch_status(manager, s)
    return status, manager


def _patch_status(manager: str, s: Mapping[str, Section]) -> PatchStatus:
    last_update: float | None = None
    reasons: list[str] = []
    needs_reboot = False
    if manager == "apt":
        if s["apt"].rc != 0:
            raise _err(s["apt"], "apt-get -s dist-upgrade")
        sim = apt.parse_apt_get_simulate(s["apt"].out)
        packages = sim.packages
        security = sim.security
        if "history" in s and s["history"].rc == 0:
            last_update = apt.parse_apt_history_last_update(s["history"].out, _utc_offset(s))
    else:
        check = s["check"]
        if manager == "zypper":
            if check.rc not in (0, 100, 101):
                raise _err(check, "zypper list-updates")
            packages = rpm.parse_zypper_list_updates(check.out)
            sec = s["security"]
            if sec.rc not in (0, 100, 101):
                raise _err(sec, "zypper list-patches")
            security = rpm.parse_zypper_list_patches(sec.out)
            if s["needs_rebooting"].rc == 102:  # ZYPPER_EXIT_INF_REBOOT_NEEDED
                needs_reboot = True
                reasons.append("zypper needs-rebooting")
        else:
            if check.rc not in (0, 100):
                raise _err(check, f"{manager} check-update")
            packages = rpm.parse_check_update(check.out, check.rc)
            sec = s["security"]
            if sec.rc != 0:
                raise _err(sec, f"{manager} updateinfo")
            advisories = rpm.parse_updateinfo_list(sec.out)
            # A pending package is a security update if an advisory names it.
            packages = tuple(PackageUpdate(p.name, p.current, p.candidate, p.name in advisories) for p in packages)
            security = sum(p.security for p in packages)
            nr = s.get("needs_restarting")
            if nr is not None and nr.rc in (0, 1):
                required, pkgs = reboot.parse_needs_restarting(nr.out, nr.rc)
                if required:
                    needs_reboot = True
                    reasons.append("needs-restarting: " + (", ".join(pkgs) or "core packages updated"))
        it = s.get("installtime")
        if it is not None and it.rc == 0 and it.out.strip().isdigit():
            last_update = float(it.out.strip())

    services: tuple[str, ...] = ()
    if "reboot_required" in s:
        needs_reboot = True
        pkgs = reboot.parse_reboot_required_pkgs(s["reboot_pkgs"].out) if s["reboot_pkgs"].rc == 0 else ()
        reasons.append("/var/run/reboot-required" + (f" ({', '.join(pkgs)})" if pkgs else ""))
    if "needrestart" in s and s["needrestart"].rc == 0:
        nr_b = reboot.parse_needrestart_batch(s["needrestart"].out)
        services = nr_b.services
        if nr_b.reboot_required:
            needs_reboot = True
            reasons.append(nr_b.reason)
    newer = kernel_newer(s)
    if newer:
        needs_reboot = True
        reasons.append(f"running kernel {s['uname'].out.strip()}, newest installed {newer}")
    return PatchStatus(
        manager=manager,
        pending=len(packages),
        security=security,
        reboot_required=needs_reboot,
        packages=tuple(packages),
        services_restart=services,
        reboot_reason="; ".join(dict.fromkeys(reasons)),
        last_update=last_update,
    )


def kernel_newer(s: Mapping[str, Section]) -> str | None:
    if s["uname"].rc != 0 or s["boot"].rc != 0:
        return None
    return reboot.kernel_outdated(s["uname"].out, reboot.installed_kernels(s["boot"].out))


def _utc_offset(s: Mapping[str, Section]) -> int:
    # Hours 00-23, minutes 00-59: datetime.timezone refuses a day or more (ValueError).
    m = re.fullmatch(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])", s["tz"].out.strip())
    if not m:
        raise ParseError("date +%z: unexpected output", s["tz"].out.strip())
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs


class PatchesKind(HostKind):
    """The "patches" probe of a host, every ``patches_interval``."""

    name = "patches"
    word = "patches"
    title = "Patches"
    metrics = METRICS
    rules = RULES
    row_type = PatchesRow
    exports = tuple((m.prom_name, m.help) for m in METRICS)
    pane = "patches"

    def export(self, row: Any, now: float) -> Iterable[tuple[str, float | None, Mapping[str, str]]]:
        p = row.patches
        if p is None:
            return ()
        return ((m.prom_name, float(v), {}) for m, v in
                zip(METRICS, (p.pending, p.security, 1.0 if p.reboot_required else 0.0)))

    def jobs(self, host: Any, *, restore_tests: bool) -> list[HostJob]:
        if "patches" not in host.probes:
            return []
        return [HostJob("patches", "", host.patches_interval, max(host.timeout, PROBE_BUDGET))]

    async def poll(self, host: Any, job: HostJob, ctx: HostContext) -> Probed:
        t = ctx.clock()
        status, ctx.memory["manager"] = await probe_patches(ctx.runner, timeout=job.budget,
                                                            manager=ctx.memory.get("manager"))
        return Probed(PatchesRow(t, job.interval, status), status.samples(t, host.name))

    def failed(self, host: Any, job: HostJob, reason: str, t: float, ctx: HostContext) -> Probed:
        return Probed(PatchesRow(t, job.interval, None, reason))

    def view(self, target: str, name: str, data: Mapping[str, Any], ctx: ViewContext) -> PaneView:
        row = PatchesRow.from_json(data)
        p = row.patches
        if p is None:
            host_down = (ctx.host_state(target) or "ok") != "ok"
            level = UNKNOWN  # a probe error is unknown, as in `once`; a down host is the Health pane's
            word = "host down" if host_down else "error" if row.error else "no data"
            cells: tuple[tuple[str, str], ...] = (
                (target, ""), ("—", "muted"), ("—", "muted"), ("—", "muted"), ("", "muted"), ("—", "muted"))
            pend_rank = 0
        else:
            sec, pend, reboot = p.security, p.pending, p.reboot_required
            lv_pend, st_pend = ctx.level("patches.pending", pend, target)
            lv_sec, st_sec = ctx.level("patches.security", sec, target)
            lv_rb, st_rb = ctx.level("patches.reboot_required", 1.0 if reboot else 0.0, target)
            # security-updates waits 7 days before it fires; the pane shows the count past its threshold now
            level = max(x for x in (lv_pend, lv_sec, lv_rb, OK) if x != UNKNOWN)
            word = "security" if sec else "reboot" if reboot else ("pending" if pend else "current")
            last_t = p.last_update
            cells = (
                (target, ""),
                (str(pend), _count_style(lv_pend, st_pend, pend)),
                (str(sec), _count_style(lv_sec, st_sec, sec)),
                ("YES" if reboot else "no", _count_style(lv_rb, st_rb, reboot)),
                (p.manager, "muted"),
                (ctx.age(ctx.now - last_t) if last_t else "—", ""),
            )
            pend_rank = -(sec * 1000 + pend)
        # The host's security posture (kinds/security.py) in one column beside its updates.
        sec_cell, sec_level = security.KIND.summary_cell(ctx.row("security", target), target, ctx)
        state_level = level
        if p and sec_level > level:
            level = sec_level
        return PaneView(level, word, cells + (sec_cell,), (pend_rank, target),
                        (target, "reboot" if p and p.reboot_required else "", "stale" if ctx.stale else "",
                         " ".join(x.name for x in p.packages) if p else ""), state_level=state_level)

    def once(self, host: Any, rows: Mapping[str, Any]) -> Any:
        if "patches" not in host.probes:
            return None
        row = rows.get("")
        if row is not None and row.patches is not None:
            return row.patches.to_json()
        return {**_NULL, "error": row.error if row is not None else None}


def _count_style(level: int, style: str, n: int) -> str:
    """A count's cell style: its rule's level when past a threshold, else muted when zero."""
    return style if level >= WARN else "muted" if not n else ""


_NULL = {"manager": None, "pending": None, "security": None, "reboot_required": None, "packages": None}

KIND = PatchesKind()
