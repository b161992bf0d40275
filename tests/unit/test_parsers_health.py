"""Health parsing against the real one-round-trip capture (tests/fixtures/host-health-oneshot.txt)."""

from __future__ import annotations

import pytest

from opsdash.collect.health import parse_health_output
from opsdash.errors import ParseError
from opsdash.model import CpuTimes
from opsdash.parsers.health import parse_cpu, parse_df, parse_meminfo, split_sections
from tests.support import FIXTURES

FIX = FIXTURES
ONESHOT = (FIX / "host-health-oneshot.txt").read_text()


def test_oneshot_capture_exact_figures() -> None:
    r = parse_health_output(ONESHOT, None, 0)
    h = r.health
    assert (h.load1, h.load5, h.load15) == (0.36, 0.15, 0.05)
    assert h.uptime_s == 224.96 and h.cpus == 2
    # MemTotal 24684096, MemAvailable 24318632 kB: used = 1.48 %, as `free` counts it
    assert h.mem_percent == round(100 * (24684096 - 24318632) / 24684096, 2)
    assert h.swap_percent == 0.0  # no swap configured
    assert [(d.mount, d.percent) for d in h.disks] == [("/", round(100 * 24600514560 / (24600514560 + 84343779328), 2))]
    # First poll: CPU since boot from the aggregate line (3784 0 1993 38541 291 0 36 10)
    busy, total = 3784 + 0 + 1993 + 0 + 36 + 10, 3784 + 0 + 1993 + 38541 + 291 + 0 + 36 + 10
    assert r.cpu == CpuTimes(busy=busy, total=total)
    assert h.cpu_percent == round(100 * busy / total, 2)


def test_cpu_percent_is_the_delta_between_polls() -> None:
    first = parse_health_output(ONESHOT, None, 0)
    later = CpuTimes(busy=first.cpu.busy + 50, total=first.cpu.total + 200)
    assert later.percent_since(first.cpu) == 25.0


def test_counters_that_went_back_mean_a_reboot_not_a_gap() -> None:
    after_reboot = parse_health_output(ONESHOT, CpuTimes(busy=10**9, total=10**10), 0)
    assert after_reboot.health.cpu_percent is not None  # the average since boot, not nothing


def test_df_real_captures() -> None:
    disks = parse_df(split_sections("=== df ===\n" + (FIX / "df-Pk.txt").read_text())["df"])
    assert [d.mount for d in disks] == ["/dev", "/dev/shm", "/", "/sys/fs/cgroup"]
    root = next(d for d in disks if d.mount == "/")
    assert root.free_bytes == 82366992 * 1024 and root.total_bytes == 264212084 * 1024


def test_df_mount_points_with_spaces() -> None:
    lines = ["Filesystem 1024-blocks Used Available Capacity Mounted on",
             "/dev/sdb1 1000 250 750 25% /mnt/my backup disk"]
    assert parse_df(lines)[0].mount == "/mnt/my backup disk"


def test_df_timeout_keeps_the_rest_of_the_reading() -> None:
    text = ONESHOT.split("=== df ===")[0] + "=== df ===\n"
    r = parse_health_output(text, None, 124)
    assert r.health.mem_percent > 0 and r.health.disks == ()
    assert "timed out" in (r.df_error or "")


@pytest.mark.parametrize("text,what", [
    ("=== loadavg ===\n0.1 0.2 0.3 1/1 1\n", "no uptime section"),
    ("a banner and nothing else\n", "no sections; not the health script"),
])
def test_broken_output_raises_parse_error(text: str, what: str) -> None:
    with pytest.raises(ParseError, match=what):
        parse_health_output(text, None, 0)


def test_meminfo_without_memavailable_uses_free_buffers_cached() -> None:
    mem, swap = parse_meminfo(["MemTotal: 1000 kB", "MemFree: 500 kB", "Buffers: 100 kB", "Cached: 200 kB",
                               "SwapTotal: 100 kB", "SwapFree: 25 kB"])
    assert (mem, swap) == (20.0, 75.0)


def test_cpu_line_missing_is_an_error_naming_the_line() -> None:
    with pytest.raises(ParseError):
        parse_cpu(["intr 1 2 3"])


BANNER = (
    "Welcome to db-7 (Debian GNU/Linux 12)\n"
    "\n"
    "  Authorised use only. === this is not a section ===\n"
    "=== df ===\n"  # a banner line that looks like one of ours
    "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
    "/dev/fake 100 99 1 99% /banner\n"
)


def test_text_before_the_first_section_is_skipped() -> None:
    """A login banner or an echoing ~/.bashrc before the reply: the reading is the same."""
    clean = parse_health_output(ONESHOT, None, 0)
    with_banner = parse_health_output(BANNER + ONESHOT, None, 0)
    assert with_banner == clean
    assert "/banner" not in [d.mount for d in with_banner.health.disks]  # the real df section won
