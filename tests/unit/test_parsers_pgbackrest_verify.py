"""pgbackrest verify's console log, from real captures (pgBackRest 2.45): damage
it reports at INFO, with rc 0 and "completed successfully", is a failure."""

from __future__ import annotations

from opsdash.parsers import pgbackrest
from tests.support import FIXTURES

FX = FIXTURES


def test_verify_of_a_healthy_repository_passes() -> None:
    text = (FX / "pgbackrest-verify-ok.txt").read_text()
    assert pgbackrest.parse_command_log(text, "verify", 0) == (True, "completed successfully")


def test_verify_that_found_an_invalid_checksum_fails_naming_the_file_and_the_count() -> None:
    text = (FX / "pgbackrest-verify-invalid-checksum.txt").read_text()
    ok, detail = pgbackrest.parse_command_log(text, "verify", 0)
    assert not ok
    assert detail.startswith("invalid checksum '20261202-051619F/pg_data/base/5/2655.gz'")
    assert "status: error" in detail and "checksum invalid: 1" in detail


def test_continuation_lines_belong_to_the_entry_before_them() -> None:
    log = ("2026-11-22 06:55:09.089 P00   WARN: option 'repo1-retention-full' is not set\n"
           "                                    HINT: to retain full backups indefinitely, set it\n"
           "2026-11-22 06:55:10.000 P00   INFO: check command end: completed successfully\n")
    assert pgbackrest.parse_command_log(log, "check", 0) == (
        True, "completed successfully (WARN: option 'repo1-retention-full' is not set; HINT: to retain full "
              "backups indefinitely, set it)")
