"""Backup parsers (restic, borg, pgBackRest) against the captured fixtures."""

from __future__ import annotations

import datetime as dt

import pytest

from opsdash.errors import ParseError
from opsdash.parsers import borg, pgbackrest, restic
from tests.support import FIXTURES

FX = FIXTURES


def read(name: str) -> str:
    return (FX / name).read_text(encoding="utf-8")


def utc(*a: int) -> float:
    return dt.datetime(*a, tzinfo=dt.timezone.utc).timestamp()


# --- restic -----------------------------------------------------------------------


def test_restic_snapshots_json():
    snaps = restic.parse_snapshots_json(read("restic-snapshots.json"))
    assert [s.short_id for s in snaps] == ["605b5d13", "f6c045b3"]
    last = snaps[-1]
    assert last.id.startswith("f6c045b3234fea3c")
    # nanoseconds in "2026-11-22T06:50:53.974556862Z" are kept to float precision
    assert last.time == pytest.approx(utc(2026, 11, 22, 6, 50, 53) + 0.974556862, abs=1e-6)
    assert last.paths == ("/srv/fixture/backup-src",) and last.tags == ("daily",)


def test_restic_snapshots_text_table_is_not_json():
    with pytest.raises(ParseError) as e:
        restic.parse_snapshots_json(read("restic-snapshots.txt"))
    assert e.value.lineno == 1


def test_restic_snapshots_empty_list_and_bad_entries():
    assert restic.parse_snapshots_json("[]") == ()
    with pytest.raises(ParseError, match="snapshot #0"):
        restic.parse_snapshots_json('[{"id": "abc", "time": "yesterday"}]')


def test_restic_time_offsets():
    assert restic.parse_time("2026-11-22T07:50:53+01:00") == utc(2026, 11, 22, 6, 50, 53)
    with pytest.raises(ValueError):
        restic.parse_time("2026-11-22 06:50:53")


def test_restic_stats_json_modes():
    assert restic.parse_stats_json(read("restic-stats.json")) == (620099, 15, 2)
    assert restic.parse_stats_json(read("restic-stats-raw-data.json")) == (322523, 0, 2)
    with pytest.raises(ParseError):
        restic.parse_stats_json(read("restic-stats.txt"))


@pytest.mark.parametrize(
    "name, rc, ok, data_read",
    [
        ("restic-check.txt", 0, True, False),
        # restic 0.14: a plain check passes on a corrupt pack; data_read=False says it proved nothing about data.
        ("restic-check-corrupt.txt", 0, True, False),
        ("restic-check-read-data.txt", 0, True, True),
        ("restic-check-read-data-corrupt.txt", 1, False, True),
    ],
)
def test_restic_check(name, rc, ok, data_read):
    got_ok, detail, got_read = restic.parse_check(read(name), rc)
    assert (got_ok, got_read) == (ok, data_read)
    if not ok:
        assert "Pack ID does not match" in detail


def test_restic_check_rc0_without_verdict_raises():
    with pytest.raises(ParseError):
        restic.parse_check("load indexes\n", 0)


def test_restic_restore_verify_ok():
    out = restic.parse_restore_verify(read("restic-restore-verify.txt"), 0)
    assert out.ok and out.verified_files == 6 and out.errors == ()


def test_restic_restore_verify_corrupt():
    out = restic.parse_restore_verify(read("restic-restore-verify-corrupt.txt"), 1)
    assert not out.ok
    assert out.errors[0] == "ignoring error for /backup-src/file1.bin: ciphertext verification failed"
    assert out.errors[-1] == "Fatal: There were 2 errors"


def test_restic_restore_without_verify_line_is_not_a_pass():
    # rc 0 but nothing verified: not a passed restore.
    assert not restic.parse_restore_verify("restoring <Snapshot f6c045b3 ...> to /tmp/x\n", 0).ok


def test_restic_wrong_password():
    text = read("restic-snapshots-wrong-password.txt")
    assert restic.classify_error(text) == "wrong password or no key found (check password_file)"
    assert restic.parse_check(text, 1)[0] is False


def test_restic_ls_node():
    text = (
        '{"time":"2026-11-22T06:50:53Z","tree":"c4","paths":["/src"],"id":"ab","short_id":"ab","struct_type":"snapshot"}\n'
        '{"name":"a.bin","type":"file","path":"/src/a.bin","size":300000,"struct_type":"node"}\n'
    )
    assert restic.parse_ls_node(text, "/src/a.bin")["size"] == 300000
    assert restic.parse_ls_node(text, "/src/b.bin") is None
    with pytest.raises(ParseError):
        restic.parse_ls_node("snapshot ab of [/src]:\n", "/src/a.bin")


# --- borg ---------------------------------------------------------------------------


def test_borg_list_json_naive_local_times():
    archives = borg.parse_list_json(read("borg-list.json"), utc_offset_s=0)
    assert [a.name for a in archives] == ["web01-2026-11-22T0650", "web01-2026-11-22T0700"]
    assert archives[-1].time == utc(2026, 11, 22, 6, 51, 17)
    # Same text on a host at UTC+1: the naive time is an hour earlier in UTC.
    assert borg.parse_list_json(read("borg-list.json"), 3600)[-1].time == utc(2026, 11, 22, 5, 51, 17)


def test_borg_list_text_is_not_json():
    with pytest.raises(ParseError) as e:
        borg.parse_list_json(read("borg-list.txt"), 0)
    assert e.value.lineno == 1


def test_borg_info_repo_size():
    assert borg.parse_info_json(read("borg-info.json")) == 322671
    assert borg.parse_info_json(read("borg-info-archive.json")) == 322671
    with pytest.raises(ParseError):
        borg.parse_info_json(read("borg-create-stats.txt"))


@pytest.mark.parametrize(
    "name", ["borg-check-default.txt", "borg-check-v.txt", "borg-check-verify-data.txt", "borg-check-log-json.txt"]
)
def test_borg_check_healthy(name):
    assert borg.parse_check(read(name), 0) == (True, "no problems found")


@pytest.mark.parametrize(
    "name", ["borg-check-corrupt.txt", "borg-check-default-corrupt.txt", "borg-check-verify-data-corrupt.txt"]
)
def test_borg_check_corrupt_rc1(name):
    ok, detail = borg.parse_check(read(name), 1)
    assert not ok
    assert detail == "corrupt repository: Data integrity error: Segment entry checksum mismatch [segment 2, offset 50328]"


def test_borg_check_rc0_with_errors_raises():
    with pytest.raises(ParseError):
        borg.parse_check(read("borg-check-corrupt.txt"), 0)


def test_borg_wrong_passphrase_rc2():
    assert borg.parse_check(read("borg-list-wrong-passphrase.txt"), 2) == (False, "wrong passphrase (check password_file)")


def test_borg_traceback_reason():
    text = "Local Exception\nTraceback (most recent call last):\n  File x\nFileNotFoundError: [Errno 2] No such file: 'data/0/2'\n\nPlatform: Linux\nSSH_ORIGINAL_COMMAND: None\n"
    assert borg.classify_error(text) == "borg failed: FileNotFoundError: [Errno 2] No such file: 'data/0/2'"


# --- pgBackRest ----------------------------------------------------------------------


def test_pgbackrest_info_json():
    info = pgbackrest.parse_info_json(read("pgbackrest-info.json"), "demo")
    assert info.ok and info.status_code == 0
    assert [b.type for b in info.backups] == ["full", "diff", "incr"]
    last = info.last_good
    assert last.label == "20261122-065510F_20261122-065519I"
    assert last.stop == 1795330520.0 and last.repo_size == 3670652


def test_pgbackrest_info_text_and_wrong_stanza():
    with pytest.raises(ParseError):
        pgbackrest.parse_info_json(read("pgbackrest-info.txt"))
    with pytest.raises(ParseError, match="no stanza 'main'"):
        pgbackrest.parse_info_json(read("pgbackrest-info.json"), "main")


def test_pgbackrest_missing_stanza_exits_0_but_is_not_ok():
    text = '[{"name":"demo","backup":[],"status":{"code":1,"message":"missing stanza path"},"db":[],"archive":[]}]'
    info = pgbackrest.parse_info_json(text)
    assert not info.ok and info.last_good is None and info.status_message == "missing stanza path"


def test_pgbackrest_check_log():
    assert pgbackrest.parse_command_log(read("pgbackrest-check.txt"), "check", 0) == (True, "completed successfully")


def test_pgbackrest_backup_log():
    assert pgbackrest.parse_command_log(read("pgbackrest-backup-full.log.txt"), "backup", 0)[0] is True
    # The same log is not proof that a *verify* ran.
    assert pgbackrest.parse_command_log(read("pgbackrest-backup-full.log.txt"), "verify", 0)[0] is False


def test_pgbackrest_error_log():
    log = "2026-11-22 06:55:09.089 P00  ERROR: [055]: unable to load info file '/repo/backup/demo/backup.info'\n"
    assert pgbackrest.parse_command_log(log, "verify", 55) == (
        False,
        "ERROR: [055]: unable to load info file '/repo/backup/demo/backup.info'",
    )
    with pytest.raises(ParseError):
        pgbackrest.parse_command_log("garbage\n", "verify", 0)
