"""The one remote runner, over a real sshd and locally: output streamed and capped,
nothing left on the host after a run, a timeout, a cancellation or the cap, and
sectioned scripts that write no file."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from opsdash import gcpolicy
from opsdash.kinds.sections import run_script
from opsdash.collect.remote import OutputTooLarge
from opsdash.collect.runner import LocalRunner
from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.errors import ProbeError
from tests.support.sshd import Sshd


def _ps_with(marker: str) -> list[str]:
    """Live processes with ``marker`` in their argv or OPSDASH_T=marker in their
    environment (every run below passes it: all descendants inherit it)."""
    out = []
    needle = f"OPSDASH_T={marker}".encode()
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                env = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and (marker in cmd or needle in env):
                out.append(cmd)
    return out


async def _gone(marker: str, within: float) -> list[str]:
    """Processes with ``marker`` in their argv still there after ``within`` seconds."""
    deadline = time.monotonic() + within
    while (left := _ps_with(marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return left


@pytest.fixture(params=["local", "ssh"])
async def runner(request, sshd: Sshd):
    if request.param == "local":
        yield LocalRunner(max_output=1 << 20)
        return
    cfg = parse_config(sshd.host_toml("h", max_output="1MiB"), "config.toml").hosts[0]
    host = SSHHost(cfg)
    yield host
    await host.close()


def _marker() -> str:
    return "opsdash-test-" + os.urandom(4).hex()


async def test_stdout_stderr_status_and_input_come_back_apart(runner):
    r = await runner.run("sh -s", timeout=10, input="echo out; cat; echo err >&2; exit 7", env={"X": "it's"})
    assert (r.rc, r.stdout, r.stderr) == (7, "out\n", "err\n")


async def test_past_the_cap_the_command_is_stopped_and_the_run_says_so(runner):
    m = _marker()
    t0 = time.monotonic()
    with pytest.raises(OutputTooLarge, match=r"^output over 1 MiB"):
        await runner.run(f"yes {m}", timeout=30, env={"OPSDASH_T": m})
    assert time.monotonic() - t0 < 5
    assert await _gone(m, 5) == []


async def test_a_timeout_stops_the_whole_process_tree(runner):
    m = _marker()
    # Children in the background, one ignoring SIGTERM: all of them go.
    cmd = f"sh -c 'sleep 300' {m}-a & sh -c 'trap \"\" TERM; sleep 300' {m}-b & sleep 300; echo {m}"
    with pytest.raises(ProbeError) as e:
        await runner.run(cmd, timeout=1, env={"OPSDASH_T": m})
    assert e.value.state == "timeout"
    assert await _gone(m, 5) == []


async def test_a_cancelled_run_stops_the_command(runner):
    m = _marker()
    task = asyncio.ensure_future(runner.run(f"sleep 300; echo {m}", timeout=60, env={"OPSDASH_T": m}))
    await asyncio.sleep(1.0)
    assert _ps_with(m)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _gone(m, 5) == []


async def test_a_background_child_does_not_outlive_a_finished_command(runner):
    m = _marker()
    r = await runner.run(f"sleep 300 & echo started", timeout=10, env={"OPSDASH_T": m})
    assert r.rc == 0 and r.stdout == "started\n"
    assert await _gone(m, 2) == []


async def test_sections_stream_stdout_and_keep_4_kib_of_stderr_without_sigpipe(runner, tmp_path: Path):
    body = (
        "sec noisy sh -c 'head -c 100000 /dev/zero | tr \"\\\\000\" e >&2; echo done'\n"
        "sec plain sh -c 'echo a; echo b >&2; exit 3'\n"
        "f() { echo in-f; exit 4; }\nsec fn f\n"
    )
    s = await run_script(runner, body, timeout=20)
    assert s["noisy"].rc == 0 and s["noisy"].out == "done\n"  # 100 kB of stderr did not kill it
    assert s["noisy"].err == "e" * 4096
    assert (s["plain"].rc, s["plain"].out, s["plain"].err) == (3, "a\n", "b\n")
    assert (s["fn"].rc, s["fn"].out) == (4, "in-f\n")  # an exit in a function ends the section, not the script


async def test_a_section_with_huge_stdout_is_capped(runner):
    with pytest.raises(OutputTooLarge):
        await run_script(runner, "sec big yes\n", timeout=20)


async def test_probe_scripts_write_no_file(tmp_path: Path):
    """The sectioned scripts never call mktemp or touch TMPDIR (patches, backup freshness)."""
    from opsdash.kinds.patches import probe_patches

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "mktemp.log"
    (bindir / "mktemp").write_text(f'#!/bin/sh\necho "$*" >>{log}\nexec /usr/bin/mktemp "$@"\n')
    (bindir / "mktemp").chmod(0o755)

    class Host(LocalRunner):
        async def run(self, command, *, timeout, env=None, input=None):
            env = {**(env or {}), "TMPDIR": str(tmpdir), "PATH": f"{bindir}:{os.environ['PATH']}"}
            return await super().run(command, timeout=timeout, env=env, input=input)

    try:
        await probe_patches(Host(), timeout=60)
    except ProbeError:
        pass  # whatever this machine's package manager says; what matters is what it left
    await run_script(Host(), "sec a echo hi\n", timeout=10)
    assert not log.exists() and list(tmpdir.iterdir()) == []


def test_max_output_is_a_size_in_the_config():
    cfg = parse_config('[defaults]\nmax_output = "64KiB"\n[[hosts]]\nname = "a"\n[[hosts]]\nname = "b"\nmax_output = 2097152\n',
                       "config.toml")
    assert [h.max_output for h in cfg.hosts] == [65536, 2 * 1024 * 1024]
    assert parse_config('[[hosts]]\nname = "a"\n', "c.toml").hosts[0].max_output == 8 * 1024 * 1024


async def test_a_finished_run_and_a_closed_connection_leave_no_garbage_cycle_but_the_connections(sshd: Sshd):
    # A cycle is only freed by a full GC pass, which at 5000 hosts holds the loop for a second:
    # an exec run (even one past its cap) must leave none; a closed connection leaves asyncssh's
    # own, which is what gcpolicy's sweep is for.
    import gc

    cfg = parse_config(sshd.host_toml("h", max_output="1KiB"), "config.toml").hosts[0]
    churn = gcpolicy.Churn()
    host = SSHHost(cfg, churn=churn)
    try:
        await host.run("true", timeout=5)  # the connection, and asyncssh's lazy imports
        gc.collect()
        gc.disable()
        try:
            for _ in range(5):
                assert (await host.run("echo hi", timeout=5)).stdout == "hi\n"
            with pytest.raises(OutputTooLarge):
                await host.run("head -c 100000 /dev/zero", timeout=5)
            freed = gc.collect()
        finally:
            gc.enable()
        assert freed == 0, f"{freed} objects in cycles after 6 exec runs"
    finally:
        await host.close()
    assert (churn.opened, churn.dropped) == (1, 1)
