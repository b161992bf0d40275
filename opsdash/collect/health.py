"""The health poll: one script written to a long-lived remote ``sh``.

Everything but ``df`` is read with shell builtins (``read`` from /proc), so a
poll costs the monitored host no new sshd session and two short processes
(``timeout`` and ``df``). ``df`` is limited to local filesystems and runs
under a remote time limit: a stale NFS mount hangs ``df`` forever, and one
stuck command must never wedge the session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import ParseError
from ..model import CpuTimes, Health
from ..parsers.health import parse_cpu, parse_df, parse_loadavg, parse_meminfo, parse_uptime, split_sections

DF_TIME_LIMIT = 5  # seconds, on the remote side

# The request kind is the first comment line, so the demo fleet (and a human
# reading a process list) can tell what is being asked.
#
# The reply is built in a variable and written by ONE printf: a printf per line
# made each line its own write, so its own SSH channel packet, each decrypted
# and MAC-checked by the client (~30 packets a reply). ``d=$(df ...)`` costs no
# extra process (the shell execs a simple command substituted), and keeps df's
# exit status; ``_opsdash_rc`` hands it on as the script's, so the end marker
# ssh.py prints after the script still carries df's rc (124/137: timed out).
#
# Of /proc/meminfo only the lines parse_meminfo reads are sent (7 of ~55): the
# reply shrinks from ~1.9 KB to ~0.6 KB, and that is what the collector decrypts,
# splits and parses every poll.
HEALTH_SCRIPT = """\
# opsdash-request health
n='
'
read -r l < /proc/loadavg; o="=== loadavg ===$n$l$n"
read -r l < /proc/uptime; o="$o=== uptime ===$n$l$n=== stat ===$n"
while read -r l; do case $l in cpu*) o="$o$l$n";; *) break;; esac; done < /proc/stat
o="$o=== meminfo ===$n"; while IFS= read -r l; do case $l in {meminfo_keys}) o="$o$l$n";; esac; done < /proc/meminfo
d=$(LC_ALL=C timeout -k 1 {df_limit} df -P -k -l -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null); r=$?
[ -n "$d" ] && d="$d$n"
printf '%s=== df ===\\n%s' "$o" "$d"; o=; d=
_opsdash_rc() {{ return $1; }}; _opsdash_rc $r
"""


MEMINFO_KEYS = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree")

_SCRIPT = HEALTH_SCRIPT.format(df_limit=DF_TIME_LIMIT, meminfo_keys="|".join(f"{k}:*" for k in MEMINFO_KEYS))


def health_script() -> str:
    return _SCRIPT


@dataclass(frozen=True, slots=True)
class HealthReading:
    health: Health
    cpu: CpuTimes
    df_error: str | None  # df timed out or failed: disks are unknown, the rest is good


def parse_health_output(text: str, previous_cpu: CpuTimes | None, df_rc: int) -> HealthReading:
    """Turn the script's output into a reading; CPU % from the delta since ``previous_cpu``.

    On the first poll there is no delta, so CPU % is the average since boot.
    """
    sections = split_sections(text)
    if not sections and text.strip():
        # Nothing of ours at all: name the first line, so garbage reads as garbage, not a missing file.
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        raise ParseError("health output has no sections; not the health script's reply", first, 1)
    for name in ("loadavg", "uptime", "stat", "meminfo"):
        if not sections.get(name):
            raise ParseError(f"health output has no {name} section")
    load1, load5, load15 = parse_loadavg(sections["loadavg"])
    cpu, cpus = parse_cpu(sections["stat"])
    mem, swap = parse_meminfo(sections["meminfo"])
    uptime = parse_uptime(sections["uptime"])
    df_error = None
    disks: tuple = ()
    if df_rc == 0 or sections.get("df"):
        try:
            disks = parse_df(sections.get("df", []))
        except ParseError as e:
            df_error = str(e)
    if df_rc in (124, 137):
        df_error = f"df timed out after {DF_TIME_LIMIT}s (a hung mount?)"
    elif df_rc != 0 and not disks:
        df_error = f"df failed (exit {df_rc})"
    base = previous_cpu if previous_cpu is not None else CpuTimes(0, 0)
    cpu_pct = cpu.percent_since(base)
    if cpu_pct is None and base.total:
        cpu_pct = cpu.percent_since(CpuTimes(0, 0))  # counters went back: a reboot; average since boot
    health = Health(
        cpu_percent=round(cpu_pct, 2) if cpu_pct is not None else None,
        mem_percent=mem,
        swap_percent=swap,
        load1=load1,
        load5=load5,
        load15=load15,
        cpus=cpus,
        uptime_s=uptime,
        disks=disks,
    )
    return HealthReading(health, cpu, df_error)


def local_health(previous_cpu: CpuTimes | None) -> HealthReading:
    """This machine through psutil (``probes = ["local"]``): no SSH, no subprocess."""
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(getattr(t, f) for f in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal") if hasattr(t, f))
    # Jiffy-like integers (1/100 s) so the same CpuTimes arithmetic applies.
    cpu = CpuTimes(busy=int((total - idle) * 100), total=int(total * 100))
    base = previous_cpu if previous_cpu is not None else CpuTimes(0, 0)
    pct = cpu.percent_since(base)
    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    load1, load5, load15 = psutil.getloadavg()
    disks = []
    from ..model import DiskUsage

    seen = set()
    for part in psutil.disk_partitions(all=False):
        if part.fstype in ("tmpfs", "devtmpfs", "overlay", "squashfs") or part.mountpoint in seen:
            continue
        seen.add(part.mountpoint)
        try:
            u = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        if u.total == 0:
            continue
        disks.append(DiskUsage(part.mountpoint, round(u.percent, 2), u.free, u.total, part.device))
    health = Health(
        cpu_percent=round(pct, 2) if pct is not None else None,
        mem_percent=round(100.0 * (vm.total - vm.available) / vm.total, 2),
        swap_percent=round(sw.percent, 2),
        load1=load1,
        load5=load5,
        load15=load15,
        cpus=psutil.cpu_count() or 1,
        uptime_s=round(time.time() - psutil.boot_time(), 2),
        disks=tuple(disks),
    )
    return HealthReading(health, cpu, None)
