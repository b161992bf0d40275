"""`opsdash web --listen`: a bad address or a port in use is one line and exit 3, before
anything is served; a tab's command is a viewer that never collects."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from opsdash.cli import build_parser, main
from opsdash.commands import web
from opsdash.errors import ConfigError


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[[hosts]]\nname = "self"\nprobes = ["local"]\n')
    return path


@pytest.mark.parametrize("value", [
    "8080", "127.0.0.1", ":8080", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
    "::1:8080", "[::1]", "[::1:8080", "localhost:-1",
])
def test_a_bad_listen_value_is_one_line_and_exit_3(value: str, config: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["web", "--listen", value, "--config", str(config), "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.splitlines() == [f'command line: --listen: expected HOST:PORT, like 127.0.0.1:8080 or [::1]:8080, '
                                f'got "{value}"'], err
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("value,want", [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    ("[::1]:9000", ("::1", 9000)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_good_listen_values(value: str, want: tuple[str, int]) -> None:
    assert web.parse_listen(value) == want


def test_a_port_in_use_is_one_line_and_exit_3(config: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        rc = main(["web", "--listen", f"127.0.0.1:{port}", "--config", str(config),
                   "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.splitlines() == [f"command line: --listen: 127.0.0.1:{port}: cannot listen: the port is in use "
                                "(another opsdash web, or another server?)"], err


def test_an_address_not_of_this_machine_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError) as e:
        web.bind("192.0.2.1", 8080)  # TEST-NET-1: never an address of this machine; nothing is sent
    assert str(e.value) == "command line: --listen: 192.0.2.1:8080: cannot listen: not an address of this machine"


def test_a_broken_config_is_its_lines_before_anything_is_served(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[hosts]]\nname = "self"\nprobes = ["nonsense"]\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc = main(["web", "--listen", f"127.0.0.1:{port}", "--config", str(bad), "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert rc == 3 and str(bad) in err and "Traceback" not in err
    with socket.socket() as s:  # nothing was left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_each_tab_runs_a_read_only_viewer_that_never_collects(config: Path, tmp_path: Path) -> None:
    parse = build_parser().parse_args
    args = parse(["web", "--config", str(config), "--store", str(tmp_path / "s.sqlite")])
    argv = web.viewer_argv(args)
    assert argv[1:] == ["-m", "opsdash", "run", "--no-collector", "--read-only", "--config", str(config.resolve()),
                        "--store", str((tmp_path / "s.sqlite").resolve())]
    allowed = web.viewer_argv(parse(["web", "--allow-actions", "--store", str(tmp_path / "s.sqlite")]))
    assert "--no-collector" in allowed and "--read-only" not in allowed and "--config" not in allowed
    # What the tab runs parses as the TUI with both flags.
    run_args = parse(argv[3:])
    assert run_args.command == "run" and run_args.no_collector and run_args.read_only
    assert isinstance(run_args, argparse.Namespace)


@pytest.mark.parametrize("url", ["wallboard.example.com", "ftp://x", "https://", "http://a b"])
def test_a_bad_public_url_is_one_line_and_exit_3(url: str, config: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["web", "--public-url", url, "--listen", "127.0.0.1:1", "--config", str(config),
               "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.splitlines() == [f'command line: --public-url: expected http(s)://HOST[:PORT][/PATH], got "{url}"']


def test_the_origins_allowed_to_open_a_tab() -> None:
    assert web.allowed_origins("127.0.0.1", 8080, "http://127.0.0.1:8080") == {
        "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"}
    # Behind a reverse proxy: the public URL's origin (its path is not part of it).
    assert "https://wallboard.example.com" in web.allowed_origins("127.0.0.1", 8080,
                                                                  "https://Wallboard.example.com/ops")
    # Every interface: the address as listened on and the public URL; no loopback names.
    assert web.allowed_origins("0.0.0.0", 80, "http://board.example.net") == {
        "http://board.example.net", "http://0.0.0.0:80", "http://0.0.0.0"}
