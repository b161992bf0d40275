"""Host health, polled over SSH (collect/health.py runs it): its metrics and built-in rules.

The numbers here are the only health thresholds opsdash has: the Health pane, `once`,
the handover and the alert engine all read them through the rules in force
(alerts/severity.py), so a user's [[rules]] entry or `tune --write` moves them all.
"""

from __future__ import annotations

from .base import Attached, BuiltinRule, Metric

__all__ = ["ATTACHED", "METRICS", "RULES"]

METRICS: tuple[Metric, ...] = (
    Metric("host.up", "host up", "bool", "1 when the host's last health poll succeeded, 0 when it failed.",
           ("up", "down")),
    Metric("host.cpu_percent", "CPU", "%", "CPU busy, percent, over the poll's sample."),
    Metric("host.mem_percent", "memory", "%", "Memory used (total minus available), percent."),
    Metric("host.swap_percent", "swap", "%", "Swap used, percent."),
    Metric("host.load1_per_cpu", "load/CPU", "", "1-minute load average divided by the number of CPUs."),
    Metric("host.disk_percent", "disk", "%", "Disk used per mount, percent."),
    Metric("host.uptime_s", "uptime", "dur", "Seconds since the host booted."),
)

RULES: tuple[BuiltinRule, ...] = (
    BuiltinRule("host-down", "host.up", op="<", crit=0.5, attempts=2,
                description="host unreachable: two polls in a row failed",
                runbook="ping / ssh -v the host; check the console, the hypervisor and the network path; "
                        "the host's other alerts are inhibited while it is down"),
    BuiltinRule("cpu", "host.cpu_percent", warn=90, crit=98, clear=80, for_s=300,
                description="CPU busy",
                runbook="top -o %CPU / pidstat 5: find the process; check for a runaway job or a traffic spike"),
    BuiltinRule("memory", "host.mem_percent", warn=90, crit=97, clear=85, for_s=300,
                description="memory used",
                runbook="free -m; ps aux --sort=-rss | head; dmesg | grep -i oom"),
    BuiltinRule("disk", "host.disk_percent", warn=85, crit=95, clear=80, for_s=300,
                description="disk used (per mount)",
                runbook="du -xh --max-depth=2 MOUNT | sort -h | tail; journalctl --vacuum-size; old logs, core dumps"),
    BuiltinRule("load", "host.load1_per_cpu", warn=2.0, crit=4.0, clear=1.5, for_s=600,
                description="1-minute load per CPU",
                runbook="vmstat 1; iostat -x 1: CPU-bound or waiting on I/O?"),
)

ATTACHED = Attached("health", METRICS, RULES)
