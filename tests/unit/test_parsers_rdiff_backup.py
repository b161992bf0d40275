"""rdiff-backup 2.2 output, from real captures (tests/fixtures/rdiff-backup-*.txt)."""

from __future__ import annotations

import pytest

from opsdash.errors import ParseError
from opsdash.parsers import rdiff_backup
from tests.support import FIXTURES

FX = FIXTURES


def read(name: str) -> str:
    return (FX / name).read_text(encoding="utf-8")


def test_increments_oldest_first_the_first_total_is_the_repository_size() -> None:
    incs = rdiff_backup.parse_increments(read("rdiff-backup-list-increments-size.txt"))
    assert [i.time for i in incs] == [1796188691.0, 1796188692.0]
    assert incs[0].total_size == 204160 and incs[-1].size == 204100


def test_increments_of_one_file_give_its_size() -> None:
    (inc,) = rdiff_backup.parse_increments(read("rdiff-backup-list-increments-size-file.txt"))
    assert inc.size == 200000


def test_increments_text_it_does_not_know_raises_naming_the_line() -> None:
    with pytest.raises(ParseError, match="unexpected line"):
        rdiff_backup.parse_increments("- size: 60\n  colour: blue\n")
    with pytest.raises(ParseError, match="without 'total_size'"):
        rdiff_backup.parse_increments("- size: 60\n  time: 1\n")


def test_verify_ok_and_a_digest_mismatch() -> None:
    assert rdiff_backup.parse_verify(read("rdiff-backup-verify-ok.txt"), 0)[0] is True
    ok, detail = rdiff_backup.parse_verify(read("rdiff-backup-verify-corrupt.txt"), 2)
    assert not ok
    assert detail == "SHA1 of data.bin does not match the recorded digest; Verification found 1 potentially corrupted files"
    with pytest.raises(ParseError):
        rdiff_backup.parse_verify("", 0)  # rc 0 is not a pass without the words


def test_errors_are_one_line() -> None:
    assert rdiff_backup.classify_error(read("rdiff-backup-list-not-a-repo.txt")) == (
        "not an rdiff-backup repository (or not reachable)")
    assert rdiff_backup.classify_error(read("rdiff-backup-list-missing-path.txt")) == "path not in the backup"
