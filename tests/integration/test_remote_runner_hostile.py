"""Hostile hosts behind a real sshd cannot make opsdash harm them.

Three loopback hosts share one sshd whose sessions get a PATH that starts with
fake tools (sshd's SetEnv), a private TMPDIR and a marker variable:
  - flood: ``apt-get``, ``redis-cli`` and the backup command write forever;
  - big:   ``apt-get`` and the backup command print 50 MB;
  - hang:  ``apt-get``, ``curl`` and the backup command never return.
Every remote probe kind runs against them (patches, a cache, backups with and
without a restore test, curl from a vantage) while four healthy hosts on
another sshd are polled every second. ``opsdash collect`` runs, is stopped
(SIGTERM once every hostile row says what went wrong and the healthy hosts have
been polled for RUN_S; then, a second time, kill -9 while the hostile commands
run), and then:
  - no file opsdash created is left on the host: the private TMPDIR is empty
    and the fake ``mktemp`` (first in PATH) was never called;
  - within 5 s no process started for those sessions runs (found by the marker
    in /proc/*/environ, whatever its argv);
  - the healthy hosts kept their schedule (polls late <= 1%, every expected poll
    made since their first poll).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.sshd import Sshd, start_sshd

pytestmark = pytest.mark.integration

RUN_S = 10.0  # healthy hosts polled this long at least; bench/RESULTS.md has the same scenario run by hand for 2 minutes
CLEAN_WITHIN_S = 5.0  # after the collector stops, the host is clean within this
DEADLINE_S = 90.0  # generous: a loaded machine starts the collector slowly; only a failure waits this long


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def hostile_bin(base: Path, kind: str, mktemp_log: Path) -> Path:
    """A directory of fake tools for one kind of hostile host."""
    d = base / f"{kind}-bin"
    d.mkdir(parents=True)
    inst = f"Inst opsdash-hostile-{kind} [1.0] (2.0 Debian:12/stable [amd64])"
    if kind == "flood":
        tool = f"exec yes '{inst}'"
    elif kind == "big":
        tool = f"yes '{inst}' | head -c 50000000"
    else:
        tool = "# opsdash-hostile-hang\nexec sleep 1000000"
    for name in ("apt-get", "redis-cli", "curl"):
        _script(d / name, tool)
    # Any mktemp call is a file opsdash would leave behind: record it.
    _script(d / "mktemp", f'echo "$*" >>{mktemp_log}\nexec /usr/bin/mktemp "$@"')
    return d


def marked_processes(token: str) -> list[str]:
    """Command lines of live processes that carry OPSDASH_HOSTILE=token in their environment."""
    needle = f"OPSDASH_HOSTILE={token}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                found.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return [c for c in found if c]  # a zombie has no command line


class Hostile:
    def __init__(self, base: Path):
        self.base = base
        self.token = os.urandom(6).hex()
        self.tmpdir = base / "host-tmp"
        self.tmpdir.mkdir(parents=True)
        self.mktemp_log = base / "mktemp-calls.log"
        self.sshds: dict[str, Sshd] = {}
        for kind in ("flood", "big", "hang"):
            bindir = hostile_bin(base / "bins", kind, self.mktemp_log)
            self.sshds[kind] = start_sshd(base / f"sshd-{kind}", env={
                "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                "TMPDIR": str(self.tmpdir),
                "OPSDASH_HOSTILE": self.token,
            })

    def stop(self) -> None:
        for s in self.sshds.values():
            s.stop()

    def config(self, healthy: Sshd) -> str:
        parts = ['[defaults]\ninterval = "1s"\ntimeout = "3s"\n']
        commands = {
            "flood": "yes opsdash-hostile-flood",
            "big": "yes opsdash-hostile-big | head -c 50000000",
            "hang": "sleep 1000000 # opsdash-hostile-hang",
        }
        for kind, s in self.sshds.items():
            parts.append(s.host_toml(kind, probes=["patches"], patches_interval="2s"))
            parts.append(f'''
  [[hosts.caches]]
  name = "c"
  kind = "redis"
  address = "127.0.0.1:6379"
  interval = "2s"

  [[hosts.backups]]
  name = "cmd"
  kind = "command"
  command = "{commands[kind]}"
  interval = "2s"

  [[hosts.backups]]
  name = "tested"
  kind = "command"
  command = "{commands[kind]}"
  interval = "1h"
  restore_test = {{ every = "2s", timeout = "2s" }}
''')
        for i in range(4):
            parts.append(healthy.host_toml(f"ok-{i}", probes=["health"]))
        parts.append('''
[[endpoints]]
name = "via-hang"
url = "http://127.0.0.1:9/"
interval = "2s"
timeout = "1s"
vantage = ["hang"]
''')
        return "\n".join(parts)


@pytest.fixture
def hostile(tmp_path: Path):
    h = Hostile(tmp_path / "hostile")
    yield h
    h.stop()


def _collect(cfg: Path, store: Path, stats: Path | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "opsdash", "collect", "--config", str(cfg), "--store", str(store)]
    if stats is not None:
        args += ["--stats-json", str(stats)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _assert_host_left_clean(h: Hostile, when: str) -> None:
    # Once no marked process is left none can appear (every descendant carries the
    # marker, and its sessions' client is gone), so waiting for the condition, up to
    # the deadline, asserts what a fixed 5 s wait did. Two clean scans in a row, so
    # a child forked during one /proc scan is seen by the next.
    deadline = time.monotonic() + CLEAN_WITHIN_S
    clean_scans = 0
    while time.monotonic() < deadline and clean_scans < 2:
        clean_scans = clean_scans + 1 if not marked_processes(h.token) and not any(h.tmpdir.iterdir()) else 0
        time.sleep(0.1)
    left = marked_processes(h.token)
    # The sshd session processes carry no marker; everything they started does.
    assert left == [], f"{when}: still running on the host {CLEAN_WITHIN_S:g} s later: {left[:5]}"
    assert list(h.tmpdir.iterdir()) == [], f"{when}: files left in the host's TMPDIR"
    assert not h.mktemp_log.exists(), f"{when}: mktemp called: {h.mktemp_log.read_text()[:300]}"


def _read_store(store: Path) -> tuple[dict[str, tuple[int, float]], dict[tuple[str, str], dict]]:
    """Healthy hosts' host.up (count, first sample time), and the hostile rows of `latest`."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        counts = {t: (n, first) for t, n, first in db.execute(
            "SELECT s.target, COUNT(*), MIN(samples.t) FROM samples JOIN series s ON s.id = samples.series_id "
            "WHERE s.metric = 'host.up' AND s.target LIKE 'ok-%' GROUP BY s.target")}
        rows = {(k, n): json.loads(d) for k, n, d in db.execute(
            "SELECT kind, target || '/' || name, data FROM latest WHERE kind IN ('patches', 'backup', 'cache')")}
    return counts, rows


def _hostile_rows_problems(rows: dict[tuple[str, str], dict]) -> list[str]:
    """What the panes must say about the hostile hosts (capped, timed out, failed with
    the reason) and does not yet; [] once it all does."""
    def err(key: tuple[str, str]) -> str:
        return (rows.get(key) or {}).get("error") or ""

    def restore(key: tuple[str, str]) -> dict:
        return (rows.get(key) or {}).get("restore_test") or {}

    problems = []
    for key in (("patches", "flood/"), ("patches", "big/"), ("cache", "flood/c")):
        if "output over 8 MiB" not in err(key):
            problems.append(f"{key}: {rows.get(key)}")
    flood_cmd = restore(("backup", "flood/cmd"))
    if not (flood_cmd.get("ok") is False and "output over 8 MiB" in (flood_cmd.get("detail") or "")):
        problems.append(f"flood/cmd restore test: {flood_cmd}")
    hang_tested = restore(("backup", "hang/tested"))
    if not (hang_tested.get("ok") is False and "did not finish within 2s" in (hang_tested.get("detail") or "")):
        problems.append(f"hang/tested restore test: {hang_tested}")
    return problems


def _run_until_settled(proc: subprocess.Popen, store: Path) -> float:
    """Wait until every hostile row says what went wrong and every healthy host has been
    polled for RUN_S since its first poll; returns the time.time() the wait ended."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.25)
        try:
            counts, rows = _read_store(store)
        except sqlite3.Error:
            continue  # not created yet
        if (len(counts) == 4 and time.time() - max(first for _, first in counts.values()) >= RUN_S
                and not _hostile_rows_problems(rows)):
            break
    return time.time()


def _hostile_commands_running(token: str) -> bool:
    """The flooding and the hanging fake tools are both running on the host now."""
    cmds = marked_processes(token)
    return any("opsdash-hostile-flood" in c for c in cmds) and any(c.startswith("sleep 1000000") for c in cmds)


def test_hostile_hosts_are_left_clean_and_healthy_hosts_keep_their_schedule(hostile: Hostile, sshd: Sshd, tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(hostile.config(sshd))
    store = tmp_path / "store.sqlite"
    stats_file = tmp_path / "stats.json"

    proc = _collect(cfg, store, stats_file)
    stopped_at = _run_until_settled(proc, store)
    assert marked_processes(hostile.token), "the hostile probes did not run"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    _assert_host_left_clean(hostile, "after SIGTERM")

    stats = json.loads(stats_file.read_text())
    assert stats["polls"] > 0 and stats["polls_late"] <= 0.01 * stats["polls"], stats
    counts, rows = _read_store(store)
    # 1 s interval: a poll in each second from a host's first poll to the stop, but for two.
    assert len(counts) == 4 and all(n >= (stopped_at - first) - 2 for n, first in counts.values()), (stopped_at, counts)
    assert min(stopped_at - first for _, first in counts.values()) >= RUN_S, (stopped_at, counts)

    # What the panes say about the hostile hosts: capped, timed out, failed with the reason.
    flood_patches = rows[("patches", "flood/")]
    assert "output over 8 MiB" in flood_patches["error"], flood_patches
    assert "output over 8 MiB" in rows[("patches", "big/")]["error"]
    flood_cmd = rows[("backup", "flood/cmd")]
    assert flood_cmd["restore_test"]["ok"] is False and "output over 8 MiB" in flood_cmd["restore_test"]["detail"]
    hang_tested = rows[("backup", "hang/tested")]
    assert hang_tested["restore_test"]["ok"] is False
    assert "did not finish within 2s" in hang_tested["restore_test"]["detail"], hang_tested
    assert "output over 8 MiB" in rows[("cache", "flood/c")]["error"]
    assert _hostile_rows_problems(rows) == []

    # Again, and this time the collector gets no chance to clean up: killed while the
    # flooding and the hanging commands run on the host.
    proc = _collect(cfg, store)
    started = time.monotonic()
    try:
        # The flood reaches its cap in a fraction of a second, and its job then backs off
        # (2, 4, 8 s ...): look often, or a loaded machine's run misses every window.
        # Killed the moment both are seen (asking again could miss the flood's short window).
        running = False
        while time.monotonic() - started < DEADLINE_S and proc.poll() is None:
            running = _hostile_commands_running(hostile.token)
            if running:
                break
            time.sleep(0.02)
    finally:
        exited = proc.poll()
        proc.send_signal(signal.SIGKILL)  # also when the wait failed: nothing of ours outlives the test
        _, err = proc.communicate(timeout=30)
    assert running, (f"the hostile probes did not run within {time.monotonic() - started:.0f} s "
                     f"(collect exited: {exited}); seen: {marked_processes(hostile.token)}", err.decode()[-2000:])
    _assert_host_left_clean(hostile, "after kill -9")


def main() -> None:
    """The same scenario by hand, for longer (bench/RESULTS.md):
    ``python -m tests.integration.test_remote_runner_hostile --seconds 120``."""
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--kill9-after", type=float, default=30.0)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="opsdash-hostile-"))
    h = Hostile(base / "hostile")
    healthy = start_sshd(base / "healthy")
    try:
        cfg = base / "config.toml"
        cfg.write_text(h.config(healthy))
        store, stats_file = base / "store.sqlite", base / "stats.json"
        report: dict = {}
        for phase, secs, sig in (("sigterm", a.seconds, signal.SIGTERM), ("kill9", a.kill9_after, signal.SIGKILL)):
            proc = _collect(cfg, store, stats_file if sig == signal.SIGTERM else None)
            t0, peak = time.monotonic(), 0
            while time.monotonic() - t0 < secs:
                peak = max(peak, len(marked_processes(h.token)))
                time.sleep(1.0)
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            time.sleep(5.0)
            report[phase] = {"seconds": secs, "peak_host_processes_during_run": peak,
                             "host_processes_5s_after_stop": len(marked_processes(h.token)),
                             "files_in_host_tmpdir": len(list(h.tmpdir.iterdir())),
                             "mktemp_calls": len(h.mktemp_log.read_text().splitlines()) if h.mktemp_log.exists() else 0}
            if sig == signal.SIGTERM:
                report[phase]["stats"] = json.loads(stats_file.read_text())
                with sqlite3.connect(store) as db:
                    report[phase]["healthy_host_polls"] = dict(db.execute(
                        "SELECT s.target, COUNT(*) FROM samples JOIN series s ON s.id = samples.series_id "
                        "WHERE s.metric = 'host.up' AND s.target LIKE 'ok-%' GROUP BY s.target"))
                    report[phase]["errors"] = {f"{k} {t}/{n}": (json.loads(d).get("error") or "")[:90] for k, t, n, d in db.execute(
                        "SELECT kind, target, name, data FROM latest WHERE kind IN ('patches', 'backup', 'cache', 'endpoint')")}
        print(json.dumps(report, indent=2))
    finally:
        h.stop()
        healthy.stop()


if __name__ == "__main__":
    main()
