"""Does a host need a reboot or service restarts after patching?

Sources: /var/run/reboot-required (+ .pkgs), ``needrestart -b``, RHEL's
``needs-restarting -r``, ``zypper needs-rebooting``, and the running kernel
compared with the newest installed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

__all__ = [
    "NeedRestart",
    "installed_kernels",
    "kernel_outdated",
    "parse_needrestart_batch",
    "parse_needs_restarting",
    "parse_reboot_required_pkgs",
    "version_key",
]


@dataclass(frozen=True, slots=True)
class NeedRestart:
    """``needrestart -b``. KSTA: 0 unknown, 1 current, 2 ABI-compatible upgrade, 3 version upgrade.
    UCSTA (microcode): 0 unknown, 1 current, 2 obsolete."""

    version: str
    kernel_current: str
    kernel_expected: str
    kernel_status: int
    microcode_status: int | None
    services: tuple[str, ...]
    containers: tuple[str, ...]
    sessions: tuple[str, ...]

    @property
    def reboot_required(self) -> bool:
        return self.kernel_status in (2, 3) or self.microcode_status == 2

    @property
    def reason(self) -> str:
        if self.kernel_status in (2, 3):
            return f"running kernel {self.kernel_current}, expected {self.kernel_expected or 'newer'} (needrestart)"
        if self.microcode_status == 2:
            return "processor microcode update pending (needrestart)"
        return ""


_NR_LINE = re.compile(r"^NEEDRESTART-([A-Z]+):\s?(.*)$")


def parse_needrestart_batch(text: str) -> NeedRestart:
    """Parse ``needrestart -b`` stdout (its Perl warnings go to stderr and are not passed here)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {"SVC": [], "CONT": [], "SESS": []}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _NR_LINE.match(line)
        if not m:
            raise ParseError("needrestart -b: unexpected line", line, n)
        key, value = m.group(1), m.group(2).strip()
        if key in multi:
            multi[key].append(value)
        else:
            single[key] = value  # unknown keys from newer versions are kept harmlessly
    if "VER" not in single or "KSTA" not in single:
        raise ParseError("needrestart -b: missing NEEDRESTART-VER or NEEDRESTART-KSTA")
    try:
        ksta = int(single["KSTA"])
        ucsta = int(single["UCSTA"]) if single.get("UCSTA") else None
    except ValueError:
        raise ParseError("needrestart -b: KSTA/UCSTA not a number", f"KSTA={single['KSTA']}") from None
    return NeedRestart(
        single["VER"],
        single.get("KCUR", ""),
        single.get("KEXP", ""),
        ksta,
        ucsta,
        tuple(multi["SVC"]),
        tuple(multi["CONT"]),
        tuple(multi["SESS"]),
    )


def parse_reboot_required_pkgs(text: str) -> tuple[str, ...]:
    """/var/run/reboot-required.pkgs: one package per line; Ubuntu repeats names."""
    seen: dict[str, None] = {}
    for n, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-]*(?::[a-z0-9]+)?", name):
            raise ParseError("reboot-required.pkgs: not a package name", line, n)
        seen.setdefault(name, None)
    return tuple(seen)


def parse_needs_restarting(text: str, rc: int) -> tuple[bool, tuple[str, ...]]:
    """RHEL ``needs-restarting -r``: rc 1 = reboot needed (lists "  * pkg"), rc 0 = not."""
    if rc not in (0, 1):
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        raise ParseError(f"needs-restarting -r exited {rc}", last)
    pkgs = tuple(m.group(1) for m in re.finditer(r"^\s*\* (\S+)", text, re.M))
    if rc == 1 and "Reboot is required" not in text:
        raise ParseError("needs-restarting -r: rc 1 without 'Reboot is required'", text.strip()[:120])
    return rc == 1, pkgs


def version_key(v: str) -> tuple[tuple[int, int | str], ...]:
    """Order kernel versions like rpmvercmp: compare digit runs numerically,
    letter runs as text, and digits sort after letters ("6.1.0-40" > "6.1.0-37")."""
    # Digit runs in chunks of 18: int() of a 4300+ digit run from a hostile host raises.
    return tuple((1, int(t)) if t.isdigit() else (0, t) for t in re.findall(r"\d{1,18}|[A-Za-z]+", v))


def installed_kernels(boot_listing: str) -> tuple[str, ...]:
    """Kernel versions from ``ls -1 /boot`` (vmlinuz-VERSION); rescue images are not kernels to boot."""
    out = []
    for line in boot_listing.split():
        if line.startswith("vmlinuz-") and "rescue" not in line:
            out.append(line.removeprefix("vmlinuz-"))
    return tuple(out)


def kernel_outdated(running: str, installed: tuple[str, ...]) -> str | None:
    """The newest installed kernel if it is newer than the running one, else None.

    With no kernels in /boot (containers, firecracker VMs booted from outside)
    the answer is None: unknown is not "reboot required".
    """
    running = running.strip()
    if not installed or not running:
        return None
    newest = max(installed, key=version_key)
    return newest if version_key(newest) > version_key(running) else None
