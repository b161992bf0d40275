"""A prepared store for the UI tests and for looking at the app by hand.

    python tests/support/ui_fixtures.py /tmp/x.sqlite [--hostile] [--now T]

writes a store with 12 hosts, endpoints, caches, patches, backups, samples and
alerts as a collector would, at a fixed time (so snapshots are stable).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from opsdash.model import Alert, Sample
from opsdash.store import Store

NOW = 1_790_000_000.0  # a fixed clock: 2026-09-21T...Z

HOSTILE = [
    "[red]x[/red]",
    "[link=http://e]y[/link]",
    "\x1b]52;c;aGk=\x07",
    "\x1b[2J",
    b"bad\xff\xfeutf8".decode("utf-8", errors="replace"),
    "c1\x9b31m",
]
HOSTILE_RAW = "\n".join(HOSTILE) + "\n"


def _health(cpu: float, mem: float, disk: float, load: float, cpus: int = 4, mount: str = "/") -> dict:
    return {
        "cpu_percent": cpu, "mem_percent": mem, "swap_percent": 0.0, "load1": load, "load5": load, "load15": load,
        "cpus": cpus, "uptime_s": 86400 * 12, "disks": [{"mount": mount, "percent": disk, "free_bytes": 10**10}],
    }


def build_store(path: Path, now: float = NOW, hostile: bool = False) -> Path:
    store = Store(path)
    hosts = [
        ("web-1", "ok", _health(23, 41, 55, 0.8), {"role": "web", "region": "eu-west"}),
        ("web-2", "ok", _health(35, 52, 61, 1.1), {"role": "web", "region": "eu-west"}),
        ("web-3", "unreachable", None, {"role": "web", "region": "us-east"}),
        ("db-1", "ok", _health(71, 88, 93, 2.9, mount="/var/lib/postgresql"), {"role": "db", "region": "eu-west"}),
        ("db-2", "ok", _health(12, 40, 47, 0.3), {"role": "db", "region": "us-east"}),
        ("cache-1", "ok", _health(8, 63, 30, 0.2), {"role": "cache", "region": "eu-west"}),
        ("cache-2", "auth-failed", None, {"role": "cache", "region": "us-east"}),
        ("bastion", "ok", _health(2, 20, 40, 0.0), {"role": "jump", "region": "eu-west"}),
        ("batch-1", "ok", _health(97, 70, 72, 4.2), {"role": "batch", "region": "us-east"}),
        ("mon-1", "ok", _health(15, 35, 82, 0.5), {"role": "mon", "region": "eu-west"}),
        ("edge-1", "ok", _health(30, 30, 30, 0.4), {"role": "edge", "region": "ap-south"}),
        ("old-1", "ok", _health(10, 10, 10, 0.1), {"role": "legacy", "region": "eu-west"}),
    ]
    if hostile:
        hosts.append(("evil-1", "error", None, {"role": HOSTILE[0]}))
    for name, state, health, tags in hosts:
        t = now - 5 if name != "old-1" else now - 600  # old-1: stale (600 s > 3 x 15 s)
        err = None if state == "ok" else ("connection refused" if state == "unreachable" else "permission denied (publickey)")
        if name == "evil-1":
            err = " ".join(HOSTILE)
        data = {"name": name, "tags": tags, "state": state, "error": err, "health": health, "t": t, "interval": 15,
                "probes": ["health", "patches"]}
        raw = HOSTILE_RAW if hostile and name in ("evil-1", "web-1") else f"cpu  1 2 3 4\nMemTotal: 1000 kB\n# {name}\n"
        store.put_latest("host", name, "", t, data, raw)
        if health:
            for i in range(120):
                ts = now - (120 - i) * 60
                store.write_samples(
                    Sample(s.t, s.target, s.metric, s.value * (1 + 0.2 * math.sin(i / 9)), s.labels)
                    for s in _host_samples(name, health, ts)
                )
        # patches
        pkgs = [{"name": "openssl", "current": "3.0.2-0ubuntu1.14", "candidate": "3.0.2-0ubuntu1.15", "security": True}]
        sec = 1 if name in ("web-1", "db-1") else 0
        pend = {"web-1": 7, "db-1": 3, "mon-1": 12}.get(name, 0)
        patches = None if state != "ok" else {
            "manager": "apt", "pending": pend, "security": sec, "reboot_required": name == "db-1",
            "packages": pkgs if sec else [], "services_restart": [], "reboot_reason": "", "last_update": "2026-09-18T04:00:00Z",
        }
        store.put_latest("patches", name, "", t, {"patches": patches, "error": err, "t": t, "interval": 3600})
    # caches
    caches = [("cache-1", "sessions", "redis", 0.97, 5300.0), ("cache-1", "pages", "varnish", 0.42, 880.0),
              ("web-1", "fragments", "memcached", 0.71, 210.0), ("web-2", "nginx", "nginx-log", 0.88, 95.0)]
    if hostile:
        caches.append(("evil-1", HOSTILE[1], "redis", 0.5, 1.0))
    for host, name, kind, hr, ops in caches:
        data = {"name": name, "kind": kind, "hit_rate": hr, "hits": 1000, "misses": 100, "window_s": 300,
                "ops_per_s": ops, "error": HOSTILE[3] if hostile and host == "evil-1" else None, "t": now - 5, "interval": 15}
        store.put_latest("cache", host, name, now - 5, data, HOSTILE_RAW if hostile and host == "evil-1" else None)
        store.write_samples(
            Sample(now - (60 - i) * 15, host, "cache.hit_rate", max(0.0, min(1.0, hr + 0.2 * math.cos(i / 6) * (i / 60))),
                   {"cache": name})
            for i in range(60)
        )
    # endpoints
    # availability in percent and error_rate as a ratio, as the collector writes them
    eps = [("shop-home", "local", 120, 310, 520, 100.0, 0.0), ("shop-home", "web-1", 90, 180, 260, 100.0, 0.0),
           ("api-login", "local", 300, 640, 900, 99.5, 0.01), ("status", "local", 20, 35, 50, 100.0, 0.0),
           ("search", "local", None, None, None, 0.0, 1.0)]
    if hostile:
        eps.append((HOSTILE[0], HOSTILE[2], 10, 20, 30, 100.0, 0.0))
    for name, vantage, p50, p95, p99, avail, err in eps:
        state = "ok" if p50 is not None else "timeout"
        data = {"name": name, "url": f"https://{name}.example.com/", "vantage": vantage, "state": state,
                "status": 200 if state == "ok" else None, "ttfb_ms": p50, "phases": None, "samples": 20,
                "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "error_rate": err, "availability": avail,
                "cache": "HIT", "error": None if state == "ok" else "timed out after 10s", "t": now - 3, "interval": 15,
                "slo": {"availability": 99.9, "ttfb_p95_ms": 400}}
        store.put_latest("endpoint", name, vantage, now - 3, data, None)
        if p50 is not None:
            store.write_samples(
                Sample(now - (60 - i) * 15, name, "endpoint.ttfb_ms", p50 * (1 + 0.5 * math.sin(i / 4)) + i * 2,
                       {"vantage": vantage})
                for i in range(60)
            )
    # backups
    backups = [
        ("db-1", "pg", "pgbackrest", 3600 * 5, {"ok": False, "at": "2026-09-21T10:00:00Z", "duration_s": 41.0,
                                                 "detail": "checksum mismatch in base/16384/2619", "bytes": 10**6,
                                                 "checksum_verified": False}),
        ("web-1", "etc", "restic", 3600 * 3, {"ok": True, "at": "2026-09-21T11:00:00Z", "duration_s": 3.2,
                                               "detail": "etc/hostname restored", "bytes": 6, "checksum_verified": True}),
        ("mon-1", "prom", "borg", 3600 * 30, {"ok": True, "at": "2026-09-20T11:00:00Z", "duration_s": 9.0,
                                               "detail": "", "bytes": 100, "checksum_verified": True}),
        ("bastion", "home", "restic", 3600 * 2, None),
    ]
    if hostile:
        backups.append(("evil-1", HOSTILE[3], "command", 60, {"ok": False, "at": "2026-09-21T11:00:00Z", "duration_s": 1.0,
                                                              "detail": HOSTILE[2], "bytes": 0, "checksum_verified": False}))
    for host, name, kind, age, rt in backups:
        data = {"name": name, "kind": kind, "last_backup": "2026-09-21T08:00:00Z", "age_s": age, "snapshots": 42,
                "size_bytes": 10**9, "restore_test": rt, "error": None, "t": now - 60, "interval": 600, "max_age": 26 * 3600}
        store.put_latest("backup", host, name, now - 60, data, HOSTILE_RAW if hostile and host == "evil-1" else None)
        store.write_samples(Sample(now - (30 - i) * 600, host, "backup.age_s", age - (30 - i) * 600 % 86400, {"backup": name})
                            for i in range(30))
    # alerts
    alerts = [
        Alert("a-web3-down", "host-down", "web-3", "critical", "firing", now - 720, 0.0, "web-3 is unreachable",
              "https://wiki.example.com/runbooks/host-down", "L1"),
        Alert("a-db1-disk", "disk-full", "db-1", "critical", "firing", now - 3000, 93.0,
              "db-1: /var/lib/postgresql 93% full", "https://wiki.example.com/runbooks/disk", "L1",
              labels={"mount": "/var/lib/postgresql"}),
        Alert("a-api-p95", "ttfb-p95", "api-login", "warning", "firing", now - 400, 640.0, "api-login: p95 TTFB 640 ms",
              "https://wiki.example.com/runbooks/latency", "L1"),
        Alert("a-pages-hit", "cache-hit-rate", "cache-1", "warning", "pending", now - 60, 0.42,
              "cache-1/pages hit rate 42%", "", "L1", labels={"cache": "pages"}),
        Alert("a-restore", "restore-test", "db-1", "critical", "firing", now - 7200, 0.0, "db-1/pg restore test failed",
              "https://wiki.example.com/runbooks/restore", "L2", labels={"backup": "pg"}),
        Alert("a-batch-cpu", "cpu-high", "batch-1", "warning", "resolved", now - 9000, 97.0, "batch-1 CPU 97%", "", "L1"),
    ]
    if hostile:
        alerts.append(Alert("a-evil", HOSTILE[0], "evil-1", "critical", "firing", now - 30, 1.0, " ".join(HOSTILE),
                            HOSTILE[1], "L1"))
    for a in alerts:
        store.upsert_alert(a, now)
        store.add_transition(a.since, a.id, a.rule, a.target, "pending", "firing", a.severity, a.value,
                             "value above crit for 2m")
    store.add_ack("a-db1-disk", who="alice", note="cleaning WAL archive", t=now - 1200)
    store.close()
    return path


def _host_samples(name: str, h: dict, t: float) -> list[Sample]:
    out = [Sample(t, name, "host.cpu_percent", h["cpu_percent"]), Sample(t, name, "host.mem_percent", h["mem_percent"]),
           Sample(t, name, "host.load1_per_cpu", h["load1"] / h["cpus"])]
    out += [Sample(t, name, "host.disk_percent", d["percent"], {"mount": d["mount"]}) for d in h["disks"]]
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    hostile = "--hostile" in args
    now = NOW
    if "--now" in args:
        v = args[args.index("--now") + 1]
        import time

        now = time.time() if v == "wall" else float(v)
    target = Path([a for a in args if not a.startswith("--") and a != str(now)][0] if args else "/tmp/x.sqlite")
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    build_store(target, now=now, hostile=hostile)
    print(target)
