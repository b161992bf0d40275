"""Patch parsers against the captured fixtures (tests/fixtures, MANIFEST.md) and edge cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opsdash.errors import ParseError, ProbeError
from opsdash.model import PackageUpdate
from opsdash.parsers import apt, reboot, rpm
from tests.support import FIXTURES

FX = FIXTURES
SRC = FX / "sourced"


def read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


# --- apt ----------------------------------------------------------------------


def test_apt_get_simulate_fixture_counts_and_origins():
    sim = apt.parse_apt_get_simulate(read(FX / "apt-get-s-dist-upgrade.txt"))
    assert (sim.pending, sim.security) == (136, 81)
    by_name = {p.name: p for p in sim.packages}
    assert by_name["base-files"] == PackageUpdate("base-files", "12.4+deb12u11", "12.4+deb12u15", False)
    # Two origins, one of them security: counts as security.
    assert by_name["krb5-locales"].security is True
    assert by_name["liblzma-dev"].security is True  # trailing " []" on the Inst line
    assert sim.new == () and sim.kept_back == () and sim.deferred == ()


def test_apt_list_upgradable_fixture_matches_apt_get():
    pkgs = apt.parse_apt_list_upgradable(read(FX / "apt-list-upgradable.txt"))
    assert len(pkgs) == 136
    assert sum(p.security for p in pkgs) == 81
    sim = apt.parse_apt_get_simulate(read(FX / "apt-get-s-dist-upgrade.txt"))
    assert {p.name: p for p in pkgs} == {p.name: p for p in sim.packages}


def test_apt_list_stderr_is_not_a_listing():
    # The "WARNING: apt does not have a stable CLI interface" stream must never read as 0 pending.
    with pytest.raises(ParseError, match="Listing"):
        apt.parse_apt_list_upgradable(read(FX / "apt-list-upgradable.stderr.txt"))


def test_apt_list_a_ubuntu_merges_rows_by_version():
    (pkg,) = apt.parse_apt_list_upgradable(read(SRC / "apt-list-a.ubuntu-jammy.sample.txt"))
    assert pkg == PackageUpdate("qemu-guest-agent", "1:6.2+dfsg-2ubuntu6.4", "1:6.2+dfsg-2ubuntu6.5", False)


def test_apt_list_a_security_row_with_candidate_version_flags_security():
    text = (
        "Listing... Done\n"
        "libssl3/jammy-updates 3.0.2-0ubuntu1.12 amd64 [upgradable from: 3.0.2-0ubuntu1.10]\n"
        "libssl3/jammy-security 3.0.2-0ubuntu1.12 amd64\n"
        "libssl3/now 3.0.2-0ubuntu1.10 amd64 [installed,upgradable to: 3.0.2-0ubuntu1.12]\n"
    )
    (pkg,) = apt.parse_apt_list_upgradable(text)
    assert pkg.security is True


def test_apt_list_translated_header_raises():
    with pytest.raises(ParseError) as e:
        apt.parse_apt_list_upgradable("Auflistung…\nbash/stable 5.2 amd64 [aktualisierbar von: 5.1]\n")
    assert e.value.lineno == 1


def test_apt_history_last_update_uses_host_offset():
    text = read(FX / "apt-history.log.dry-run.txt")
    utc = dt.datetime(2026, 11, 22, 6, 59, 3, tzinfo=dt.timezone.utc).timestamp()
    assert apt.parse_apt_history_last_update(text, 0) == utc
    assert apt.parse_apt_history_last_update(text, 3600) == utc - 3600
    # A transaction that only removed packages is not an update.
    assert apt.parse_apt_history_last_update("Start-Date: x\nRemove: a\nEnd-Date: 2026-01-01  00:00:00\n", 0) is None


def test_apt_check_stderr_without_newline():
    assert apt.parse_apt_check(read(SRC / "ubuntu-apt-check.stderr.sample.txt")) == (419, 0)
    with pytest.raises(ParseError):
        apt.parse_apt_check("")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ubuntu-updates-available.jammy-noble.sample.txt", (11, 8)),
        ("ubuntu-updates-available.noble-zero.sample.txt", (0, 0)),
        ("ubuntu-motd-updates.xenial.sample.txt", (71, 47)),
    ],
)
def test_ubuntu_updates_available_wordings(name, expected):
    assert apt.parse_updates_available(read(SRC / name)) == expected


def test_updates_available_without_count_raises():
    with pytest.raises(ParseError):
        apt.parse_updates_available("Enable ESM Apps to receive additional future security updates.\n")


# Synthetic apt-get outputs for cases not captured: held, phased, non-root, new kernel.
HELD_AND_PHASED = """\
NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
      Keep also in mind that locking is deactivated,
      so don't depend on the relevance to the real current situation!
Reading package lists... Done
Building dependency tree... Done
Reading state information... Done
Calculating upgrade... Done
The following packages have been kept back:
  nginx nginx-common
The following upgrades have been deferred due to phasing:
  libsystemd0 udev
The following NEW packages will be installed:
  linux-image-6.1.0-40-amd64
The following packages will be upgraded:
  bash linux-image-amd64
2 upgraded, 1 newly installed, 0 to remove and 4 not upgraded.
Inst linux-image-6.1.0-40-amd64 (6.1.153-1 Debian-Security:12/oldstable-security [amd64])
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Inst linux-image-amd64 [6.1.148-1] (6.1.153-1 Debian-Security:12/oldstable-security [amd64])
Conf linux-image-6.1.0-40-amd64 (6.1.153-1 Debian-Security:12/oldstable-security [amd64])
Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Conf linux-image-amd64 (6.1.153-1 Debian-Security:12/oldstable-security [amd64])
"""


def test_apt_get_held_phased_and_new_packages():
    sim = apt.parse_apt_get_simulate(HELD_AND_PHASED)
    assert [p.name for p in sim.packages] == ["bash", "linux-image-amd64"]
    assert (sim.pending, sim.security) == (2, 1)
    assert sim.kept_back == ("nginx", "nginx-common")
    assert sim.deferred == ("libsystemd0", "udev")
    assert sim.new == ("linux-image-6.1.0-40-amd64",)


def test_apt_get_nothing_to_do_is_zero_only_with_summary():
    ok = "Reading package lists...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    assert apt.parse_apt_get_simulate(ok).pending == 0
    with pytest.raises(ParseError, match="summary"):
        apt.parse_apt_get_simulate("Reading package lists...\n")
    with pytest.raises(ParseError, match="summary"):
        apt.parse_apt_get_simulate("")


def test_apt_get_truncated_output_raises_on_count_mismatch():
    lines = read(FX / "apt-get-s-dist-upgrade.txt").splitlines()
    inst = [i for i, ln in enumerate(lines) if ln.startswith("Inst")]
    cut = "\n".join(lines[: inst[10]] + lines[inst[-1] + 1 :])
    with pytest.raises(ParseError, match="136 upgraded"):
        apt.parse_apt_get_simulate(cut)


def test_apt_get_other_locale_raises_naming_the_line():
    german = "Paketlisten werden gelesen… Fertig\n0 aktualisiert, 0 neu installiert, 0 zu entfernen und 0 nicht aktualisiert.\n"
    with pytest.raises(ParseError) as e:
        apt.parse_apt_get_simulate(german)
    assert e.value.lineno == 1 and "Paketlisten" in str(e.value)


def test_apt_get_error_line_raises():
    with pytest.raises(ParseError, match="E: Could not open lock file"):
        apt.parse_apt_get_simulate("E: Could not open lock file /var/lib/dpkg/lock-frontend\n")


# --- dnf / yum ------------------------------------------------------------------


def test_dnf_check_update_fedora25_rc100():
    pkgs = rpm.parse_check_update(read(SRC / "dnf-check-update.fedora25.sample.txt"), 100)
    assert len(pkgs) == 10
    assert pkgs[0] == PackageUpdate("PackageKit.x86_64", "", "1.1.4-2.fc25", False)
    assert pkgs[-1].name == "cockpit-ws.x86_64"


def test_yum_check_update_rhel8_rc100_epochs():
    pkgs = rpm.parse_check_update(read(SRC / "yum-security-check-update.rhel8.rc100.sample.txt"), 100)
    assert len(pkgs) == 12
    nm = {p.name: p.candidate for p in pkgs}
    assert nm["NetworkManager.x86_64"] == "1:1.26.0-14.el8_3"
    assert nm["systemd-libs.x86_64"] == "239-41.el8_3.2"


def test_yum_check_update_rhel8_no_updates_rc0():
    text = read(SRC / "yum-security-check-update.rhel8-no-updates-rc0.sample.txt")
    assert rpm.parse_check_update(text, 0) == ()
    # rc 100 promises updates: finding none means we misread, never "0 pending".
    with pytest.raises(ParseError, match="rc 100"):
        rpm.parse_check_update(text, 100)


def test_check_update_rc1_is_an_error():
    with pytest.raises(ProbeError, match="rc 1: Error: Cache-only enabled but no cache"):
        rpm.parse_check_update("Error: Cache-only enabled but no cache for 'fedora'\n", 1)


def test_check_update_wrapped_rows_obsoletes_and_mirror_lines():
    text = (
        "Loaded plugins: fastestmirror\n"
        "Loading mirror speeds from cached hostfile\n"
        " * base: mirror.example.com\n"
        "\n"
        "python3-some-very-long-package-name-that-wraps.noarch\n"
        "                                   2:1.2.3-4.el7                 updates\n"
        "kernel.x86_64                      3.10.0-1160.el7               updates\n"
        "Obsoleting Packages\n"
        "grub2.x86_64                       1:2.02-0.87.el7               updates\n"
        "    grub2.x86_64                   1:2.02-0.86.el7               @updates\n"
    )
    pkgs = rpm.parse_check_update(text, 100)
    # The obsoleting grub2 is pending; the installed grub2 it replaces (indented, @updates) is not.
    assert [(p.name, p.candidate) for p in pkgs] == [
        ("python3-some-very-long-package-name-that-wraps.noarch", "2:1.2.3-4.el7"),
        ("kernel.x86_64", "3.10.0-1160.el7"),
        ("grub2.x86_64", "1:2.02-0.87.el7"),
    ]


def test_check_update_garbage_raises_naming_line():
    text = "Last metadata expiration check: 0:01:00 ago.\n\nthis is not a package row at all\n"
    with pytest.raises(ParseError) as e:
        rpm.parse_check_update(text, 100)
    assert e.value.lineno == 3 and "not a package row" in str(e.value)


def test_dnf_updateinfo_list_security_fedora34():
    adv = rpm.parse_updateinfo_list(read(SRC / "dnf-updateinfo-list-security.fedora34.sample.txt"))
    assert len(adv) == 16
    assert adv["dhcp-client.x86_64"] == "12:4.4.2-11.b1.fc34"
    assert adv["polkit-libs.x86_64"] == "0.117-3.fc34.1"


def test_yum_updateinfo_list_rhel7_wrapped_plugins_and_indent():
    adv = rpm.parse_updateinfo_list(read(SRC / "yum-updateinfo-list-security-all.rhel7.sample.txt"))
    assert set(adv) == {"389-ds-base.x86_64", "389-ds-base-libs.x86_64"}


def test_updateinfo_skips_bugfix_and_rejects_garbage():
    text = "FEDORA-2021-1 bugfix foo-1.0-1.fc34.x86_64\nFEDORA-2021-2 Moderate/Sec. bar-2.0-1.fc34.noarch\n"
    assert rpm.parse_updateinfo_list(text) == {"bar.noarch": "2.0-1.fc34"}
    with pytest.raises(ParseError):
        rpm.parse_updateinfo_list("FEDORA-2021-2 Moderate/Sec. not-a-nevra\n")


def test_yum_updateinfo_summary_rhel8():
    s = rpm.parse_updateinfo_summary(read(SRC / "yum-updateinfo-summary.rhel8.sample.txt"))
    assert s["Security"] == 32 and s["Important Security"] == 13 and s["Bugfix"] == 85


def test_split_nevra_epoch():
    assert rpm.split_nevra("dhcp-common-12:4.4.2-11.b1.fc34.noarch") == ("dhcp-common", "12:4.4.2-11.b1.fc34", "noarch")


# zypper: no captured fixture; these tables follow zypper 1.14's layout.
ZYPPER_LU = """\
Loading repository data...
Reading installed packages...
S | Repository | Name    | Current Version | Available Version | Arch
--+------------+---------+-----------------+-------------------+-------
v | Update     | bash    | 4.4-150400.25.1 | 4.4-150400.27.3.2 | x86_64
v | Update     | openssl | 1.1.1l-150400.7 | 1.1.1l-150400.7.60 | x86_64
"""
ZYPPER_LP = """\
Loading repository data...
Reading installed packages...
Repository | Name                 | Category    | Severity  | Interactive | Status | Summary
-----------+----------------------+-------------+-----------+-------------+--------+--------
Update     | SUSE-2024-1          | security    | important | ---         | needed | Security update for openssl
Update     | SUSE-2024-2          | security    | moderate  | ---         | applied | Security update for bash
Found 2 applicable patches:
"""


def test_zypper_tables():
    pkgs = rpm.parse_zypper_list_updates(ZYPPER_LU)
    assert [(p.name, p.current, p.candidate) for p in pkgs] == [
        ("bash.x86_64", "4.4-150400.25.1", "4.4-150400.27.3.2"),
        ("openssl.x86_64", "1.1.1l-150400.7", "1.1.1l-150400.7.60"),
    ]
    assert rpm.parse_zypper_list_patches(ZYPPER_LP) == 1
    assert rpm.parse_zypper_list_updates("Loading repository data...\nNo updates found.\n") == ()
    with pytest.raises(ParseError):
        rpm.parse_zypper_list_updates("Loading repository data...\n")


# --- reboot / needrestart ----------------------------------------------------------


def test_needrestart_b_before_upgrade():
    nr = reboot.parse_needrestart_batch(read(FX / "needrestart-b-before-upgrade.txt"))
    assert (nr.version, nr.kernel_current, nr.kernel_status, nr.microcode_status) == ("3.6", "6.18.44-fc-v595", 0, 1)
    assert nr.services == () and nr.reboot_required is False


def test_needrestart_b_after_libssl_upgrade():
    nr = reboot.parse_needrestart_batch(read(FX / "needrestart-b.txt"))
    assert nr.services == ("memcached", "nginx", "ssh")
    assert nr.reboot_required is False  # KSTA 0 = unknown, not "reboot"


def test_needrestart_readme_sample_kexp_cont_sess():
    nr = reboot.parse_needrestart_batch(read(SRC / "needrestart-b.readme-sample.txt"))
    assert nr.kernel_status == 1 and nr.kernel_expected == "3.19.3-tl1+"
    assert nr.services == ("systemd-journald.service", "systemd-machined.service")
    assert nr.containers == ("LXC web1",) and len(nr.sessions) == 2


def test_needrestart_kernel_upgrade_requires_reboot():
    nr = reboot.parse_needrestart_batch("NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-37-amd64\nNEEDRESTART-KEXP: 6.1.0-40-amd64\nNEEDRESTART-KSTA: 3\n")
    assert nr.reboot_required and "6.1.0-40-amd64" in nr.reason


@pytest.mark.parametrize("name", ["needrestart-b.stderr.txt", "needrestart-p-nagios.txt", "needrestart-r-l.txt"])
def test_needrestart_batch_rejects_other_outputs(name):
    # Perl warnings (stderr), Nagios and list mode are not batch output.
    with pytest.raises(ParseError) as e:
        reboot.parse_needrestart_batch(read(FX / name))
    assert e.value.lineno == 1


def test_reboot_required_debian_hook_files():
    assert read(FX / "reboot-required.debian-hook.txt") == ""  # Debian: existence is the signal
    assert reboot.parse_reboot_required_pkgs(read(FX / "reboot-required.pkgs.debian-hook.txt")) == (
        "linux-image-6.1.0-37-amd64",
        "linux-image-amd64",
    )


def test_reboot_required_ubuntu_pkgs_deduplicated():
    assert reboot.parse_reboot_required_pkgs(read(SRC / "reboot-required.pkgs.ubuntu.sample.txt")) == (
        "libssl1.0.0",
        "linux-base",
        "libc6",
    )
    assert "restart required" in read(SRC / "reboot-required.ubuntu.sample.txt")


def test_needs_restarting():
    yes = "Core libraries or services have been updated since boot-up:\n  * kernel\n  * systemd\n\nReboot is required to fully utilize these updates.\n"
    assert reboot.parse_needs_restarting(yes, 1) == (True, ("kernel", "systemd"))
    assert reboot.parse_needs_restarting("No core libraries or services have been updated since boot-up.\n", 0) == (False, ())
    with pytest.raises(ParseError):
        reboot.parse_needs_restarting("sh: needs-restarting: not found", 127)


def test_kernel_comparison():
    boot = "config-6.1.0-37-amd64\nvmlinuz-6.1.0-37-amd64\nvmlinuz-6.1.0-40-amd64\ninitrd.img-6.1.0-40-amd64\n"
    kernels = reboot.installed_kernels(boot)
    assert kernels == ("6.1.0-37-amd64", "6.1.0-40-amd64")
    assert reboot.kernel_outdated("6.1.0-37-amd64", kernels) == "6.1.0-40-amd64"
    assert reboot.kernel_outdated("6.1.0-40-amd64", kernels) is None
    el = reboot.installed_kernels("vmlinuz-0-rescue-abc\nvmlinuz-4.18.0-240.el8.x86_64\nvmlinuz-4.18.0-240.22.1.el8_3.x86_64\n")
    assert reboot.kernel_outdated("4.18.0-240.el8.x86_64", el) == "4.18.0-240.22.1.el8_3.x86_64"
    # No kernels in /boot (containers, this VM): unknown, never "reboot required".
    assert reboot.kernel_outdated("6.18.44-fc-v595", ()) is None


# --- probe_patches: the real script, run by sh, against stub commands -----------------

import os  # noqa: E402
import shutil  # noqa: E402
import textwrap  # noqa: E402

from opsdash.kinds import patches  # noqa: E402
from opsdash.kinds import sections  # noqa: E402
from opsdash.collect.runner import LocalRunner  # noqa: E402

# Only these real tools are visible, so the host's own apt/dnf/needrestart never leak in.
_TOOLS = ("sh", "cat", "mktemp", "rm", "head", "tail", "grep", "cut", "date", "uname", "ls", "sort")


class StubRunner:
    name = "stub"

    def __init__(self, bindir: Path):
        self.bindir = bindir

    async def run(self, command, *, timeout, env=None, input=None):
        return await LocalRunner().run(command, timeout=timeout, env={**(env or {}), "PATH": str(self.bindir)}, input=input)


@pytest.fixture
def stubs(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in _TOOLS:
        os.symlink(shutil.which(tool), bindir / tool)
    monkeypatch.setattr(patches, "REBOOT_REQUIRED_FILE", str(tmp_path / "reboot-required"))

    def stub(name: str, script: str) -> None:
        p = bindir / name
        p.unlink(missing_ok=True)
        p.write_text("#!" + shutil.which("sh") + "\n" + textwrap.dedent(script))
        p.chmod(0o755)

    stub.bindir = bindir
    stub.tmp = tmp_path
    return stub


async def test_probe_patches_apt_detects_and_gathers_reboot_signals(stubs):
    stubs("apt-get", f'cat {FX / "apt-get-s-dist-upgrade.txt"}\n')
    stubs("needrestart", f'cat {FX / "needrestart-b.txt"}; cat {FX / "needrestart-b.stderr.txt"} >&2\n')
    (stubs.tmp / "reboot-required").write_text("")  # Debian: empty file
    (stubs.tmp / "reboot-required.pkgs").write_text(read(FX / "reboot-required.pkgs.debian-hook.txt"))
    status, manager = await patches.probe_patches(StubRunner(stubs.bindir), timeout=30)
    assert manager == "apt" and status.manager == "apt"
    assert (status.pending, status.security) == (136, 81)
    assert status.reboot_required is True
    assert "linux-image-6.1.0-37-amd64" in status.reboot_reason
    assert status.services_restart == ("memcached", "nginx", "ssh")


async def test_probe_patches_no_reboot_signals(stubs):
    stubs("apt-get", 'echo "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."\n')
    status, _ = await patches.probe_patches(StubRunner(stubs.bindir), timeout=30, manager="apt")
    assert (status.pending, status.security, status.reboot_required, status.reboot_reason) == (0, 0, False, "")


async def test_probe_patches_newer_kernel_installed(stubs):
    stubs("apt-get", 'echo "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."\n')
    stubs("uname", "echo 6.1.0-37-amd64\n")
    stubs("ls", 'printf "vmlinuz-6.1.0-37-amd64\\nvmlinuz-6.1.0-40-amd64\\n"\n')
    status, _ = await patches.probe_patches(StubRunner(stubs.bindir), timeout=30, manager="apt")
    assert status.reboot_required is True
    assert status.reboot_reason == "running kernel 6.1.0-37-amd64, newest installed 6.1.0-40-amd64"


async def test_probe_patches_apt_error_is_reported(stubs):
    stubs("apt-get", 'echo "E: The package lists or status file could not be parsed or opened." >&2; exit 100\n')
    with pytest.raises(ProbeError, match="E: The package lists"):
        await patches.probe_patches(StubRunner(stubs.bindir), timeout=30, manager="apt")


async def test_probe_patches_truncated_apt_output_never_reads_as_zero(stubs):
    stubs("apt-get", f'head -n 40 {FX / "apt-get-s-dist-upgrade.txt"}\n')
    with pytest.raises(ParseError, match="summary"):
        await patches.probe_patches(StubRunner(stubs.bindir), timeout=30, manager="apt")


async def test_probe_patches_dnf_rc100_security_from_updateinfo(stubs):
    stubs(
        "dnf",
        f"""
        case "$*" in
          *check-update*) cat {SRC / "dnf-check-update.fedora25.sample.txt"}; exit 100;;
          *updateinfo*) echo "FEDORA-2017-1 Important/Sec. audit-2.7-1.fc25.x86_64"
                        echo "FEDORA-2017-2 Moderate/Sec.  cockpit-ws-126-1.fc25.x86_64";;
          *needs-restarting*) printf 'Core libraries or services have been updated since boot-up:\\n  * kernel\\n\\nReboot is required to fully utilize these updates.\\n'; exit 1;;
          *) exit 2;;
        esac
        """,
    )
    status, manager = await patches.probe_patches(StubRunner(stubs.bindir), timeout=30, manager="dnf")
    assert manager == "dnf"
    assert (status.pending, status.security) == (10, 2)
    assert {p.name for p in status.packages if p.security} == {"audit.x86_64", "cockpit-ws.x86_64"}
    assert status.reboot_required is True and "needs-restarting: kernel" in status.reboot_reason


async def test_probe_patches_without_a_package_manager(stubs):
    with pytest.raises(ProbeError, match="no supported package manager"):
        await patches.probe_patches(StubRunner(stubs.bindir), timeout=30)


def test_split_sections_requires_end_marker():
    text = "\n=== abc apt rc=0 ===\nx\n\n=== abc apt.stderr rc=0 ===\n"
    with pytest.raises(ParseError, match="end marker"):
        sections.split_sections(text, "abc")
    s = sections.split_sections(text + "\n=== abc end rc=0 ===\n", "abc")
    assert s["apt"] == sections.Section(0, "x\n", "")
