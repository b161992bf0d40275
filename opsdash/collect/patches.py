"""Patch status of a host in one round trip.

One POSIX ``sh`` script, sent on stdin, detects the package manager (unless the
caller remembers it), reads the manager's own state without refreshing it
(never ``apt-get update``; dnf/yum run cache-only), and gathers every
reboot signal. Each command's stdout, stderr and exit status come back in
sections delimited by ``=== NONCE name rc=N ===``, streamed over the channel
(nothing is written to the host's disk); the random nonce keeps a line of
command output from ever passing for a delimiter. Works as non-root.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

from ..errors import ParseError, ProbeError
from ..model import PackageUpdate, PatchStatus
from ..parsers import apt, reboot, rpm
from .runner import Runner

__all__ = [
    "MANAGERS",
    "RESTORE_DIR",
    "ScriptEndedEarly",
    "Section",
    "probe_patches",
    "run_script",
    "section_prelude",
    "split_sections",
]

MANAGERS = ("apt", "dnf", "yum", "zypper")


@dataclass(frozen=True, slots=True)
class Section:
    rc: int
    out: str
    err: str


class ScriptEndedEarly(ProbeError):
    """The script stopped before its end marker: a command killed it, a syntax error,
    SIGPIPE. Carries the exit status and the reason (the last stderr line)."""

    def __init__(self, message: str, rc: int, reason: str):
        super().__init__(message)
        self.rc = rc
        self.reason = reason


# Section headers: "\n=== NONCE name rc=N ===\n". A command's stdout streams right
# after its header, so the exit status cannot be in it (-1 there); it follows in
# a "name.rc" trailer. Its stderr (at most 4 KiB) comes as a "name.stderr"
# section just before the trailer.
SECTION_STDERR_BYTES = 4096


def section_prelude(nonce: str) -> str:
    """Shell that defines ``sec NAME CMD...``: runs CMD with stdin closed, its stdout
    streamed straight to ours after a header, and its stderr (first 4 KiB; the rest is
    read and dropped, so CMD never dies of SIGPIPE) printed after it as a section of
    its own. No temp files: stderr waits in a shell variable, the exit status comes
    back through a command substitution on fd 5. CMD runs in a subshell, so an
    ``exit`` in a function (a user's backup command) ends CMD, not the script.
    fd 4 is the script's stdout."""
    return f"""
LC_ALL=C; LANG=C; export LC_ALL LANG
PATH="$PATH:/usr/sbin:/sbin"; export PATH
exec 4>&1
_lim() {{ _b=$(head -c {SECTION_STDERR_BYTES}; echo .); cat >/dev/null; printf '\\n=== {nonce} %s.stderr rc=%d ===\\n%s' "$1" -1 "${{_b%.}}"; }}
sec() {{
  _n=$1; shift
  printf '\\n=== {nonce} %s rc=%d ===\\n' "$_n" -1
  _rc=$( {{ {{ ( "$@" ) </dev/null 2>&1 >&4 4>&- 5>&-; echo "$?" >&5; }} | _lim "$_n" >&4 5>&-; }} 5>&1 )
  _rc=${{_rc:--1}}
  printf '\\n=== {nonce} %s.rc rc=%d ===\\n' "$_n" "$_rc"
}}
"""


# A restore test restores into a directory: the one thing a probe writes on a host.
# The trap removes it on exit, and on the SIGTERM the runner sends a stopped command.
RESTORE_DIR = """
_t=$(mktemp -d) || exit 70
trap 'rm -rf "$_t"' EXIT
trap 'exit 129' HUP INT TERM
"""


def split_sections(text: str, nonce: str, *, partial: bool = False) -> dict[str, Section]:
    """Inverse of ``sec``. Raises ParseError if the final ``end`` marker is missing
    (output cut short), so a truncated run never reads as "nothing found";
    ``partial`` returns what did arrive instead (to say where a script died)."""
    parts = re.split(rf"\n=== {re.escape(nonce)} (\S+) rc=(-?\d+) ===\n", text)
    outs: dict[str, tuple[int, str]] = {}
    for i in range(1, len(parts) - 2, 3):
        outs[parts[i]] = (int(parts[i + 1]), parts[i + 2])
    if "end" not in outs and not partial:
        raise ParseError("probe script output has no end marker (truncated or the script failed)")
    sections: dict[str, Section] = {}
    for name, (rc, out) in outs.items():
        if name.endswith((".stderr", ".rc")):
            continue
        # The status from the trailer; a reply without one (older scripts) has it in the header.
        rc = outs[f"{name}.rc"][0] if f"{name}.rc" in outs else rc
        sections[name] = Section(rc, out, outs.get(f"{name}.stderr", (rc, ""))[1])
    return sections


async def run_script(runner: Runner, body: str, *, timeout: float) -> dict[str, Section]:
    """Run ``body`` (which uses ``sec``) as one remote ``sh`` and return its sections.

    The script travels on stdin, so nothing in it (paths, env values) shows in
    the remote process list, and it does not depend on the login shell's quoting.
    The body is wrapped in ``{ ... }`` so sh parses all of it before running any
    command. A script that stops before its end marker raises ScriptEndedEarly
    with its exit status and last stderr line.
    """
    nonce = secrets.token_hex(6)
    script = "{\n" + section_prelude(nonce) + body + f"\nprintf '\\n=== {nonce} end rc=0 ===\\n'\n}}\n"
    res = await runner.run("sh -s", timeout=timeout, input=script, env={"LC_ALL": "C"})
    try:
        return split_sections(res.stdout, nonce)
    except ParseError:
        pass
    # Where it died: the last section that started, and the last words of its command
    # (else of the script itself: a syntax error, "Killed").
    started = split_sections(res.stdout, nonce, partial=True)
    last = list(started)[-1] if started else None
    words = [ln.strip() for ln in (started[last].err if last else "").splitlines() if ln.strip()]
    words = words or [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    reason = words[-1][:200] if words else "no error message"
    where = f" in {last}" if last else ""
    raise ScriptEndedEarly(f"probe script ended early{where} (rc {res.rc}): {reason}", res.rc, reason)


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


async def probe_patches(runner: Runner, *, timeout: float, manager: str | None = None) -> tuple[PatchStatus, str]:
    """Pending and security updates plus reboot status. Returns the status and the
    manager ("apt", "dnf", "yum", "zypper") for the caller to pass next time."""
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


def _patch_status(manager: str, s: dict[str, Section]) -> PatchStatus:
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


def kernel_newer(s: dict[str, Section]) -> str | None:
    if s["uname"].rc != 0 or s["boot"].rc != 0:
        return None
    return reboot.kernel_outdated(s["uname"].out, reboot.installed_kernels(s["boot"].out))


def _utc_offset(s: dict[str, Section]) -> int:
    # Hours 00-23, minutes 00-59: datetime.timezone refuses a day or more (ValueError).
    m = re.fullmatch(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])", s["tz"].out.strip())
    if not m:
        raise ParseError("date +%z: unexpected output", s["tz"].out.strip())
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs
