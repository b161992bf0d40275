"""The latest rows are typed (model.HostRow, model.PatchesRow): what the collector writes reads back the
same, and a stored row with wrong types reads back as unknown figures, never as a crash or
as a host that is up."""

from __future__ import annotations

import json

from opsdash.model import HOST_ERROR, DiskUsage, Health, HostRow

HEALTH = Health(cpu_percent=12.5, mem_percent=40.0, swap_percent=0.0, load1=1.5, load5=1.0, load15=0.5,
                cpus=4, uptime_s=86400.0, disks=(DiskUsage("/", 71.5, 10 << 30), DiskUsage("/var", 90.0, 1 << 30)))


def test_a_written_row_reads_back_the_same() -> None:
    row = HostRow(name="web-1", state="ok", error=None, health=HEALTH, t=1000.0, interval=15.0,
                  tags={"role": "web"}, probes=("health", "patches"))
    back = HostRow.from_json(json.loads(json.dumps(row.to_json())))
    assert back == row
    assert back.health is not None and back.health.load_per_cpu == 0.375


def test_a_down_host_has_no_health_and_keeps_its_error() -> None:
    row = HostRow(name="db-1", state="timeout", error="no SSH handshake with 10.0.0.5:22 within 5s", health=None,
                  t=5.0, interval=15.0)
    assert HostRow.from_json(row.to_json()) == row


def test_wrong_types_in_a_stored_row_are_unknown_not_a_crash() -> None:
    d = {"name": "web-1", "state": "sideways", "error": 3, "t": "soon", "interval": True, "tags": ["x"],
         "probes": "health",
         "health": {"cpu_percent": "12", "mem_percent": float("nan"), "load1": 2.0, "cpus": 2.0, "uptime_s": None,
                    "disks": [{"mount": "/", "percent": "full"}, {"mount": "/data", "percent": 55}, "junk"]}}
    row = HostRow.from_json(d)
    assert row.state == HOST_ERROR  # a state we do not know never shows as up
    assert row.error == "3" and row.t is None and row.interval is None and row.tags == {} and row.probes == ()
    h = row.health
    assert h is not None and h.cpu_percent is None and h.mem_percent is None and h.load1 == 2.0
    assert h.cpus is None and h.load_per_cpu is None  # no CPU count: load per CPU is unknown too
    assert [(x.mount, x.percent) for x in h.disks] == [("/data", 55.0)]


def test_a_row_without_its_name_takes_the_store_target() -> None:
    assert HostRow.from_json({"state": "ok"}, "web-9").name == "web-9"


def test_a_patches_row_reads_back_the_same_with_its_last_update_time() -> None:
    from opsdash.model import PackageUpdate, PatchesRow, PatchStatus

    st = PatchStatus(manager="apt", pending=3, security=1, reboot_required=True,
                     packages=(PackageUpdate("openssl", "3.0.1", "3.0.2", security=True),),
                     services_restart=("nginx",), reboot_reason="linux-image", last_update=1_700_000_000.0)
    row = PatchesRow(t=1000.0, interval=86400.0, patches=st)
    assert PatchesRow.from_json(json.loads(json.dumps(row.to_json()))) == row
    failed = PatchesRow(t=5.0, interval=60.0, patches=None, error="apt: permission denied")
    assert PatchesRow.from_json(failed.to_json()) == failed


def test_a_patches_row_with_wrong_types_reads_as_zero_counts_and_no_time() -> None:
    from opsdash.model import PatchesRow

    row = PatchesRow.from_json({"t": 1.0, "patches": {"manager": None, "pending": "3", "security": None,
                                                      "reboot_required": "yes", "last_update": "yesterday",
                                                      "packages": ["x", {"name": "curl"}], "services_restart": "nginx"}})
    p = row.patches
    assert p is not None and (p.pending, p.security, p.reboot_required, p.last_update) == (0, 0, False, None)
    assert [x.name for x in p.packages] == ["curl"] and p.services_restart == () and p.manager == ""
    assert PatchesRow.from_json({"t": 1.0, "patches": {}}).patches is None  # nothing read


def test_a_cache_row_reads_back_the_same_and_an_error_row_has_no_rate() -> None:
    from opsdash.model import CacheRow, CacheStats

    ok = CacheRow("sessions", "redis", 10.0, 15.0, CacheStats("sessions", "redis", 0.93, 930, 70, 300.0, 12.5))
    assert CacheRow.from_json(json.loads(json.dumps(ok.to_json()))) == ok
    failed = CacheRow("sessions", "redis", 10.0, 15.0, None, "redis-cli: NOAUTH Authentication required")
    back = CacheRow.from_json(failed.to_json())
    assert back == failed and back.hit_rate is None
    assert CacheRow.from_json({"hit_rate": 7.0, "hits": 1}, "x").hit_rate is None  # not a rate: unknown


def test_a_backup_row_reads_back_the_same_with_its_restore_test() -> None:
    from opsdash.model import BackupRow, BackupStatus, RestoreTest

    rt = RestoreTest(ok=False, at=1_700_000_000.0, duration_s=2.5, detail="restore of /etc/hosts: unexpected EOF",
                     bytes=None, checksum_verified=False)
    st = BackupStatus("etc", "restic", 1_699_990_000.0, 3600.0, 42, 10 << 20, rt)
    row = BackupRow(st, 1_700_000_100.0, 900.0, 86400.0)
    assert BackupRow.from_json(json.loads(json.dumps(row.to_json()))) == row
    odd = BackupRow.from_json({"name": "etc", "snapshots": True, "age_s": "old", "restore_test": {"ok": True}})
    assert odd.status.snapshots is None and odd.status.age_s is None
    assert odd.status.restore_test is None  # a test without a time it ran is no test to age


def test_an_endpoint_row_reads_back_the_same_and_keeps_its_certificate() -> None:
    from opsdash.model import EndpointRow, Phases

    row = EndpointRow(name="shop", vantage="web-1", state="ok", t=10.0, interval=15.0, url="https://shop.example/",
                      status=200, ttfb_ms=42.0, phases=Phases(1.0, 2.0, 9.0, 42.0, 50.0), samples=20, p50_ms=40.0,
                      p95_ms=80.0, p99_ms=95.0, error_rate=0.005, availability=99.5, cache="HIT",
                      slo_availability=99.9, slo_ttfb_p95_ms=400.0, tls={"state": "ok", "days_left": 30})
    assert EndpointRow.from_json(json.loads(json.dumps(row.to_json()))) == row
    odd = EndpointRow.from_json({"status": "200", "samples": 2.5, "availability": "99%", "phases": "fast"}, "x", "local")
    assert (odd.name, odd.vantage, odd.state) == ("x", "local", "error")  # no state is no ok
    assert odd.status is None and odd.samples is None and odd.availability is None and odd.phases is None
