"""dnf/yum check-update across RPM generations, from real captures (tests/fixtures/MANIFEST.md):
EL6 yum with its repository progress lines, a yum check-update whose only rows are
obsoleting packages, and dnf5's check-upgrade. What is truly unknown stays a ParseError
naming the line."""

from __future__ import annotations

import pytest

from opsdash.errors import ParseError
from opsdash.parsers import rpm
from tests.support import FIXTURES

SRC = FIXTURES / "sourced"


def read(name: str) -> str:
    return (SRC / name).read_text(encoding="utf-8")


def names(pkgs) -> list[tuple[str, str]]:
    return [(p.name, p.candidate) for p in pkgs]


def test_el6_yum_check_update_with_a_metadata_progress_line() -> None:
    pkgs = rpm.parse_check_update(read("yum-check-update.el6.sample.txt"), 100)
    assert names(pkgs) == [
        ("coreutils.x86_64", "8.4-31.el6_5.1"),
        ("coreutils-libs.x86_64", "8.4-31.el6_5.1"),
        ("libtirpc.x86_64", "0.2.1-6.el6_5.1"),
        ("upstart.x86_64", "0.6.5-13.el6_5.3"),
    ]


def test_el6_and_el7_download_progress_lines_are_not_rows() -> None:
    progress = read("yum-progress-lines.el6.sample.txt") + (
        "base                                                     | 3.6 kB     00:00     \n"
        "(2/4): updates/7/x86_64/primary_db                       | 4.5 MB  00:00:01\n"
    )
    text = progress + "kernel.x86_64    2.6.32-754.35.1.el6    updates\n"
    assert names(rpm.parse_check_update(text, 100)) == [("kernel.x86_64", "2.6.32-754.35.1.el6")]


def test_a_check_update_whose_only_rows_are_obsoleting_packages() -> None:
    pkgs = rpm.parse_check_update(read("yum-check-update-obsoleting-only.rhel7.sample.txt"), 100)
    # The six obsoleting (new) packages are pending; the installed ones they replace are not,
    # including the one whose long name wrapped onto a second line.
    assert names(pkgs) == [
        ("ddashboard.x86_64", "0.2.0.1-1.el7_3"),
        ("python-bugzilla.noarch", "1.2.2-3.el7_2.1"),
        ("python2-futures.noarch", "3.0.5-1.el7"),
        ("python2-pip.noarch", "8.1.2-5.el7"),
        ("python2-pyxdg.noarch", "0.25-6.el7"),
        ("python2-simplejson.x86_64", "3.10.0-1.el7"),
    ]


@pytest.mark.parametrize("fixture, expected", [
    ("dnf5-check-upgrade.ci.sample.txt", [("flac.x86_64", "1.4.0-1.fc29")]),
    ("dnf5-check-upgrade-minimal.ci.sample.txt", [("advisory_A.x86_64", "1.0-2"), ("advisory_B.x86_64", "1.0-2")]),
])
def test_dnf5_check_upgrade(fixture: str, expected) -> None:
    assert names(rpm.parse_check_update(read(fixture), 100)) == expected


def test_dnf5_obsoleting_section_repeats_an_upgrade_and_counts_once() -> None:
    pkgs = rpm.parse_check_update(read("dnf5-check-upgrade-obsoleting.layout.sample.txt"), 100)
    assert names(pkgs) == [
        ("glibc.x86_64", "2.28-26.fc29"),
        ("glibc-all-langpacks.x86_64", "2.28-26.fc29"),
        ("glibc-common.x86_64", "2.28-26.fc29"),
    ]


def test_dnf5_security_check_with_nothing_to_do() -> None:
    assert rpm.parse_check_update("No security updates needed, but 1 update(s) available\n", 0) == ()


@pytest.mark.parametrize("line", [
    "base | not a size",
    "Upgrades available: 3",
    "Obsoleting everything",
])
def test_unknown_lines_still_raise_naming_the_line(line: str) -> None:
    with pytest.raises(ParseError) as e:
        rpm.parse_check_update(f"kernel.x86_64 6.1-1.fc41 updates\n{line}\n", 100)
    assert e.value.lineno == 2 and line in str(e.value)
