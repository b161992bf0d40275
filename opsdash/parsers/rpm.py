"""RPM package managers: ``dnf/yum check-update``, dnf5 ``check-upgrade``,
``updateinfo`` and ``zypper``.

dnf/yum pad columns to the terminal width and wrap long names onto a
continuation line, print metadata, mirror and (EL6/EL7 yum) repository download
progress lines in the middle. So rows are split on whitespace and the first
field must look like ``name.arch``; fixed columns are never sliced.

The "Obsoleting Packages" section (dnf5: "Obsoleting packages") pairs each
obsoleting package with the installed ones it replaces, indented below it
(dnf4/yum mark those ``@repo``). The obsoleting package is pending: yum and
dnf4 list a renamed package only there, dnf5 repeats it from its "Upgrades".
The replaced, installed ones are not.
"""

from __future__ import annotations

import re

from ..errors import ParseError, ProbeError
from ..model import PackageUpdate

__all__ = [
    "parse_check_update",
    "parse_updateinfo_list",
    "parse_updateinfo_summary",
    "parse_zypper_list_patches",
    "parse_zypper_list_updates",
    "split_nevra",
]

_NAME_ARCH = re.compile(r"^(\S+)\.(noarch|x86_64|i[3-6]86|aarch64|armv7hl|ppc64le|ppc64|s390x|riscv64|src)$")
_EVR = re.compile(r"^(?:\d+:)?[^\s:-]+-[^\s-]+$")
# Lines dnf/yum print around the table. Anything else is unknown and raises.
_NOISE = (
    "Last metadata expiration check:",
    "Updating Subscription Management repositories.",
    "Unable to read consumer identity",
    "This system is not registered",
    "Failed to set locale",
    "Loaded plugins:",
    "Loading mirror speeds",
    "Determining fastest mirrors",
    "Security: ",  # dnf: "Security: kernel-... is an installed security update"
    "Repository ",  # "Repository X is listed more than once"
)


# yum (EL6/EL7) while it fetches metadata: "base | 3.7 kB 00:00", "(2/4): updates/7/x86_64/primary_db
# | 4.5 MB 00:00:01", and "adobe-linux-x86_64     2/2" for a repository's metadata steps.
_PROGRESS = re.compile(
    r"^(?:\(\d+/\d+\): )?\S+\s+\|\s+[\d.]+\s*[kMG]?B\s+\d\d(?::\d\d){1,2}\s*$"
    r"|^\S+\s+\d+/\d+$"
)
# dnf5 check-upgrade --security with nothing to do: "No security updates needed, but 1 update(s) available".
_DNF5_NONE = re.compile(r"^No \w+ updates needed, but \d+ update\(s\) available$")


def _noise(line: str) -> bool:
    s = line.strip()
    return (
        s.startswith(_NOISE)
        or s.startswith(": ")  # continuation of a wrapped "Loaded plugins:" line (EL7)
        or s.startswith("* ")  # " * base: mirror.example.com"
        or bool(re.match(r"^\d+ packages? excluded", s))
        or bool(_PROGRESS.match(s))
        or bool(_DNF5_NONE.match(s))
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_check_update(text: str, rc: int) -> tuple[PackageUpdate, ...]:
    """``dnf|yum check-update`` and dnf5 ``check-upgrade``: rc 100 = updates listed,
    0 = none, anything else = error.

    check-update does not print installed versions, so ``current`` is "".
    Security is decided separately from ``updateinfo``.
    """
    if rc not in (0, 100):
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        raise ProbeError(f"check-update failed with rc {rc}: {last[:200]}")
    pkgs: dict[str, PackageUpdate] = {}
    # A wrapped name waiting for its version: (name.arch, line number, line, is an installed package)
    pending_name: tuple[str, int, str, bool] | None = None
    obsoleting = False  # in the "Obsoleting Packages" section
    obsoleter_indent: int | None = None  # the indentation of its obsoleting rows (the first row's)
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields == ["Upgrades"]:  # dnf5's heading of the first section
            continue
        if fields[0] == "Obsoleting" and fields[1:] in ([], ["Packages"], ["packages"]):
            obsoleting, obsoleter_indent = True, None
            continue
        if pending_name is not None:
            name_arch, ln, first, installed = pending_name
            pending_name = None
            if len(fields) == 2 and _EVR.match(fields[0]):
                if not (installed or fields[1].startswith("@")):
                    _add(pkgs, name_arch, fields[0], first, ln, keep=obsoleting)
                continue
            raise ParseError("check-update: wrapped row without a version", first, ln)
        if _NAME_ARCH.match(fields[0]):
            # Below an obsoleting row, indented further: an installed package it replaces.
            installed = False
            if obsoleting:
                if obsoleter_indent is None:
                    obsoleter_indent = _indent(line)
                installed = _indent(line) > obsoleter_indent
            if len(fields) == 3 and _EVR.match(fields[1]):
                if not (installed or fields[2].startswith("@")):
                    _add(pkgs, fields[0], fields[1], line, n, keep=obsoleting)
                continue
            if len(fields) == 1:
                pending_name = (fields[0], n, line, installed)
                continue
        if _noise(line):
            continue
        raise ParseError("check-update: unexpected line", line, n)
    if pending_name is not None:
        raise ParseError("check-update: output ends inside a wrapped row", pending_name[2], pending_name[1])
    if rc == 100 and not pkgs:
        raise ParseError("check-update: rc 100 (updates available) but no package rows found")
    if rc == 0 and pkgs:
        raise ParseError(f"check-update: rc 0 (no updates) but {len(pkgs)} package rows found")
    return tuple(pkgs.values())


def _add(pkgs: dict[str, PackageUpdate], name_arch: str, evr: str, line: str, n: int, *, keep: bool = False) -> None:
    if not _EVR.match(evr):
        raise ParseError("check-update: bad version", line, n)
    if keep and name_arch in pkgs:
        return  # an obsoleting package already listed as an upgrade (dnf5 repeats them)
    # Keyed by name.arch: a package listed twice (two repos) is one pending update.
    pkgs[name_arch] = PackageUpdate(name_arch, "", evr)


def split_nevra(nevra: str) -> tuple[str, str, str]:
    """"dhcp-client-12:4.4.2-11.b1.fc34.x86_64" -> ("dhcp-client", "12:4.4.2-11.b1.fc34", "x86_64")."""
    m = _NAME_ARCH.match(nevra)
    if not m:
        raise ValueError(nevra)
    parts = m.group(1).rsplit("-", 2)
    if len(parts) != 3:
        raise ValueError(nevra)
    name, version, release = parts
    return name, f"{version}-{release}", m.group(2)


_ADVISORY_TYPE = re.compile(r"^(?:(?:Critical|Important|Moderate|Low|Unknown|None)/Sec\.|security)$", re.I)


def parse_updateinfo_list(text: str) -> dict[str, str]:
    """``dnf updateinfo list --security`` / ``yum updateinfo list security [all]``.

    Returns {name.arch: newest advisory version}. Rows are
    ``[i] ADVISORY TYPE NEVRA`` (dnf4/yum) or, with dnf5's header line,
    ``ADVISORY TYPE SEVERITY NEVRA ISSUED...``. Only security rows are kept.
    """
    out: dict[str, str] = {}
    dnf5 = False
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or _noise(line) or fields[0] == "updateinfo":  # "updateinfo list done"
            continue
        if fields[:4] == ["Name", "Type", "Severity", "Package"]:
            dnf5 = True
            continue
        if fields[0] == "i":  # yum "all": already installed advisory
            continue
        if dnf5 and len(fields) >= 4:
            adv_type, nevra = fields[1], fields[3]
        elif len(fields) == 3:
            adv_type, nevra = fields[1], fields[2]
        else:
            raise ParseError("updateinfo: unexpected line", line, n)
        if not _ADVISORY_TYPE.match(adv_type):
            if "/" in adv_type or adv_type.lower() in ("bugfix", "enhancement", "newpackage", "unspecified"):
                continue  # not a security advisory
            raise ParseError("updateinfo: unknown advisory type", line, n)
        try:
            name, evr, arch = split_nevra(nevra)
        except ValueError:
            raise ParseError("updateinfo: bad package NEVRA", line, n) from None
        out[f"{name}.{arch}"] = evr
    return out


_SUMMARY_ROW = re.compile(r"^(\d{1,9}) (.+?) notice\(s\)$")  # bounded: int() of 4300+ digits raises


def parse_updateinfo_summary(text: str) -> dict[str, int]:
    """``yum updateinfo`` summary -> {"Security": 32, "Important Security": 13, "Bugfix": 85, ...}."""
    out: dict[str, int] = {}
    seen_header = False
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or _noise(line):
            continue
        if s.startswith("Updates Information Summary:"):
            seen_header = True
        elif m := _SUMMARY_ROW.match(s):
            out[m.group(2)] = int(m.group(1))
        else:
            raise ParseError("updateinfo summary: unexpected line", line, n)
    if not seen_header:
        raise ParseError("updateinfo summary: no 'Updates Information Summary' line")
    return out


# zypper prints tables with "|" separators after a few status lines.
_ZYPPER_NOISE = (
    "Loading repository data...",
    "Reading installed packages...",
    "Refreshing service",
    "Retrieving repository",
    "Building repository",
    "Warning: ",
    "Found ",  # "Found 3 applicable patches:"
)


def _zypper_table(text: str, required: tuple[str, ...], what: str) -> list[dict[str, str]]:
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith(_ZYPPER_NOISE):
            continue
        if s in ("No updates found.", "No patches found.") or re.match(r"^\d+ patch(es)? needed", s):
            continue
        if "|" not in s and "+" in s and set(s) <= {"-", "+"}:
            continue  # ---+---- separator
        if "|" in s:
            cells = [c.strip() for c in s.split("|")]
            if header is None:
                header = cells
                missing = [c for c in required if c not in header]
                if missing:
                    raise ParseError(f"{what}: table lacks columns {missing}", line, n)
                continue
            if set(s.replace("|", "").replace("+", "")) <= {"-"}:
                continue
            if len(cells) != len(header):
                raise ParseError(f"{what}: row has {len(cells)} cells, header {len(header)}", line, n)
            rows.append(dict(zip(header, cells)))
            continue
        raise ParseError(f"{what}: unexpected line", line, n)
    if header is None and not re.search(r"^No (updates|patches) found\.$", text, re.M):
        raise ParseError(f"{what}: no table and no 'No ... found.' line")
    return rows


def parse_zypper_list_updates(text: str) -> tuple[PackageUpdate, ...]:
    """``zypper --non-interactive --no-refresh list-updates``."""
    rows = _zypper_table(text, ("Name", "Current Version", "Available Version", "Arch"), "zypper list-updates")
    return tuple(PackageUpdate(f"{r['Name']}.{r['Arch']}", r["Current Version"], r["Available Version"]) for r in rows)


def parse_zypper_list_patches(text: str) -> int:
    """``zypper ... list-patches --category security``: number of needed security patches.

    zypper's unit is the patch, not the package, so this is a patch count.
    """
    rows = _zypper_table(text, ("Name", "Category", "Status"), "zypper list-patches")
    return sum(1 for r in rows if r["Category"] == "security" and r["Status"] == "needed")
