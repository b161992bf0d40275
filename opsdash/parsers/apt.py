"""apt: pending upgrades from ``apt-get -s dist-upgrade`` or ``apt list --upgradable``,
plus Ubuntu's summaries (apt-check, updates-available) and apt's history log.

All parsers expect LC_ALL=C output. A translated line ("Paketlisten werden
gelesen...") is unknown text and raises ParseError instead of reading as
"nothing pending".
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from ..errors import ParseError
from ..model import PackageUpdate

__all__ = [
    "AptSimulation",
    "is_security_origin",
    "parse_apt_check",
    "parse_apt_get_simulate",
    "parse_apt_history_last_update",
    "parse_apt_list_upgradable",
    "parse_updates_available",
]

# Debian names the archive ("oldstable-security", label "Debian-Security");
# Ubuntu copies security fixes into -updates too, so any matching origin counts.
_SECURITY = re.compile(r"(?:^|[-/:,\s])security\b|Debian-Security", re.IGNORECASE)


def is_security_origin(origins: str) -> bool:
    return bool(_SECURITY.search(origins))


@dataclass(frozen=True, slots=True)
class AptSimulation:
    packages: tuple[PackageUpdate, ...]
    new: tuple[str, ...] = ()  # pulled in by dist-upgrade (e.g. a new kernel ABI package)
    removed: tuple[str, ...] = ()
    kept_back: tuple[str, ...] = ()  # held, or not installable without removals
    deferred: tuple[str, ...] = ()  # Ubuntu phased updates: apt will not install them yet

    @property
    def pending(self) -> int:
        return len(self.packages)

    @property
    def security(self) -> int:
        return sum(p.security for p in self.packages)


# Inst NAME [CURRENT] (CANDIDATE ORIGINS [ARCH]) [optional trailing brackets]
_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*) \[([^\]]+)\]\)(?: \[.*\])?$")
_CONF = re.compile(r"^(?:Conf|Remv|Purg) (\S+)")
# \d{1,9}: int() of a 4300+ digit run raises ValueError, not a ParseError.
_SUMMARY = re.compile(r"^(\d{1,9}) upgraded, (\d{1,9}) newly installed, (\d{1,9}) to remove and (\d{1,9}) not upgraded\.$")
_PROGRESS = (
    "Reading package lists...",
    "Building dependency tree...",
    "Reading state information...",
    "Calculating upgrade...",
)
# Blocks whose indented continuation lines list package names.
_BLOCKS = {
    "The following packages have been kept back:": "kept_back",
    "The following upgrades have been deferred due to phasing:": "deferred",
}


def parse_apt_get_simulate(text: str) -> AptSimulation:
    """Parse ``apt-get -s dist-upgrade`` (or ``upgrade``) stdout.

    Counts from the Inst lines and checks them against apt's own summary line,
    so a truncated or unexpected output raises instead of under-counting.
    """
    pkgs: list[PackageUpdate] = []
    new: list[str] = []
    removed: list[str] = []
    lists: dict[str, list[str]] = {"kept_back": [], "deferred": []}
    block: str | None = None  # name of the list an indented line belongs to, or "" to skip
    summary: tuple[int, ...] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            block = None
            continue
        if line[0] in " \t":
            if block is None:
                raise ParseError("apt-get: indented line outside a block", line, n)
            if block:
                lists[block].extend(line.split())
            continue
        block = None
        if m := _INST.match(line):
            name, current, cand, origins, _arch = m.groups()
            if current:
                pkgs.append(PackageUpdate(name, current, cand, is_security_origin(origins)))
            else:
                new.append(name)
        elif m := _CONF.match(line):
            if line.startswith(("Remv", "Purg")):
                removed.append(m.group(1))
        elif m := _SUMMARY.match(line):
            summary = tuple(int(x) for x in m.groups())
        elif line.startswith(_PROGRESS):
            pass
        elif line in _BLOCKS:
            block = _BLOCKS[line]
        elif line.startswith("The following ") and line.endswith(":"):
            block = ""  # upgraded / NEW / REMOVED lists repeat what the Inst lines say
        elif line.startswith(("NOTE: This is only a simulation!", "W: ", "N: ")):
            block = ""  # non-root note (continues indented), warnings, notices
        elif line.startswith("E: "):
            raise ParseError("apt-get reported an error", line, n)
        else:
            raise ParseError("apt-get: unexpected line", line, n)
    if summary is None:
        raise ParseError("apt-get: no 'N upgraded, ...' summary line (output truncated?)")
    if summary[0] != len(pkgs) or summary[1] != len(new):
        raise ParseError(
            f"apt-get: summary says {summary[0]} upgraded, {summary[1]} new; "
            f"found {len(pkgs)} and {len(new)} Inst lines"
        )
    return AptSimulation(tuple(pkgs), tuple(new), tuple(removed), tuple(lists["kept_back"]), tuple(lists["deferred"]))


# name/archive[,archive] version arch [flags]
_LIST_ROW = re.compile(r"^([^/\s]+)/(\S+) (\S+) (\S+)(?: \[(.*)\])?$")


def parse_apt_list_upgradable(text: str) -> tuple[PackageUpdate, ...]:
    """Parse ``apt list --upgradable`` (or ``apt list -a``) stdout.

    A package is a security update if any archive that carries its candidate
    version is a security archive; ``apt list -a`` lists those archives on
    separate rows, so rows are merged by (name, version).
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Listing..."):
        raise ParseError("apt list: expected 'Listing...' first", lines[0] if lines else "", 1)
    upgradable: dict[str, tuple[str, str]] = {}  # name -> (current, candidate)
    archives: dict[tuple[str, str], set[str]] = {}
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        m = _LIST_ROW.match(line)
        if not m:
            raise ParseError("apt list: unexpected line", line, n)
        name, arch_list, version, _arch, flags = m.groups()
        archives.setdefault((name, version), set()).update(arch_list.split(","))
        if flags and flags.startswith("upgradable from: "):
            upgradable[name] = (flags.removeprefix("upgradable from: "), version)
    return tuple(
        PackageUpdate(name, cur, cand, any(is_security_origin(a) for a in archives[(name, cand)]))
        for name, (cur, cand) in upgradable.items()
    )


def parse_apt_check(text: str) -> tuple[int, int]:
    """Ubuntu ``/usr/lib/update-notifier/apt-check`` prints "PENDING;SECURITY" on stderr."""
    m = re.fullmatch(r"\s*(\d{1,9});(\d{1,9})\s*", text)
    if not m:
        raise ParseError("apt-check: expected 'N;M'", text.strip().splitlines()[0] if text.strip() else "", 1)
    return int(m.group(1)), int(m.group(2))


_UA_PATTERNS = (
    # 22.04+: "11 updates can be applied immediately." / "8 of these updates are standard security updates."
    (re.compile(r"^(\d{1,9}) updates? can be applied immediately\.$"), "pending"),
    (re.compile(r"^(\d{1,9}) of these updates (?:is a|are) (?:standard )?security updates?\.$"), "security"),
    # 16.04-20.04: "71 packages can be updated." / "47 updates are security updates."
    (re.compile(r"^(\d{1,9}) packages? can be updated\.$"), "pending"),
    (re.compile(r"^(\d{1,9}) updates? (?:is a|are) security updates?\.$"), "security"),
)


def parse_updates_available(text: str) -> tuple[int, int]:
    """Ubuntu's /var/lib/update-notifier/updates-available (motd) -> (pending, security).

    Lines other than the counts are advertising and hints that change between
    releases; they are skipped, but a file without a pending count raises.
    """
    found: dict[str, int] = {}
    for line in text.splitlines():
        for rx, key in _UA_PATTERNS:
            if m := rx.match(line.strip()):
                found[key] = int(m.group(1))
    if "pending" not in found:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        raise ParseError("updates-available: no 'N updates can be applied' line", first)
    return found["pending"], found.get("security", 0)


def parse_apt_history_last_update(text: str, utc_offset_s: int) -> float | None:
    """Time of the last transaction in /var/log/apt/history.log that upgraded or installed.

    Accepts the full log or just its ``Start-Date/End-Date/Upgrade/Install``
    lines (cut short). Dates are the host's local time, hence ``utc_offset_s``.
    """
    last: float | None = None
    changed = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("Start-Date:"):
            changed = False
        elif line.startswith(("Upgrade:", "Install:")):
            changed = True
        elif line.startswith("End-Date:") and changed:
            stamp = " ".join(line.removeprefix("End-Date:").split())
            try:
                local = _dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise ParseError("apt history: bad End-Date", line, n) from None
            last = local.replace(tzinfo=_dt.timezone(_dt.timedelta(seconds=utc_offset_s))).timestamp()
    return last
