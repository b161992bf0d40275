"""A host's latest row is typed (model.HostRow): what the collector writes reads back the
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
