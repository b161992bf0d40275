"""LocalRunner: timeouts let cleanup traps run, then kill; output is capped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opsdash.collect.runner import LocalRunner, sh_join
from opsdash.errors import ProbeError


async def test_timeout_lets_the_cleanup_trap_run(tmp_path: Path) -> None:
    script = (
        f"t=$(mktemp -d {sh_join([str(tmp_path)])}/restore.XXXX); "
        "trap 'rm -rf \"$t\"; exit 143' TERM; sleep 30 & wait"
    )
    with pytest.raises(ProbeError) as e:
        await LocalRunner().run(script, timeout=1)
    assert e.value.state == "timeout"
    assert list(tmp_path.iterdir()) == []  # the trap removed its temp dir


async def test_a_command_that_ignores_sigterm_is_killed() -> None:
    t0 = time.monotonic()
    with pytest.raises(ProbeError):
        await LocalRunner().run("trap '' TERM; sleep 30", timeout=0.5)
    assert time.monotonic() - t0 < 5


async def test_exit_status_and_streams_are_kept_apart() -> None:
    r = await LocalRunner().run("echo out; echo err >&2; exit 7", timeout=5)
    assert (r.rc, r.stdout, r.stderr) == (7, "out\n", "err\n")


async def test_environment_is_c_locale() -> None:
    r = await LocalRunner().run('printf %s "$LC_ALL"', timeout=5)
    assert r.stdout == "C"


async def test_with_env_wraps_a_whole_script() -> None:
    # A compound command must run whole with the variables set; `env X=1 a; b`
    # would run `env` alone (printing the environment) and then b without X.
    from opsdash.collect.runner import with_env

    cmd = with_env('printf "%s," "$X"; printf "%s" "$X" | tr a-z A-Z', {"X": "it's $(x)"})
    r = await LocalRunner().run(cmd, timeout=5)
    assert r.stdout == "it's $(x),IT'S $(X)"
