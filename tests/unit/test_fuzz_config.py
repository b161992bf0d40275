"""Fuzz the config loader: any document gives a Config or a ConfigError, never another exception,
and ``opsdash check-config`` never prints a traceback or an "internal error".

Documents are built from the schema's own keys (so the checker's deep paths
are reached) with values of every TOML type: wrong types, empty strings,
negative, huge, inf and nan numbers, odd durations, tables where lists are
expected and the other way round, plus unknown keys. Raw text is fuzzed too.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdash.cli import main
from opsdash.config import Config, parse_config
from opsdash.errors import ConfigError

FUZZ = settings(
    max_examples=int(os.environ.get("OPSDASH_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

SCALARS = st.one_of(
    st.sampled_from(["", " ", "5m", "90s", "1h30m", "0s", "-1s", "14d", "1e400s", "9" * 400 + "d", "abc", "local",
                     "health", "patches", "local", "caches", "backups", "restic", "borg", "pgbackrest", "command",
                     "redis", "memcached", "varnish", "nginx-log", "prometheus", "alertmanager", "strict",
                     "accept-new", "GET", "HEAD", "POST", ">", "<", "https://x.test/", "http://", "ftp://x",
                     "web-1", "db-1", "127.0.0.1:6379", "/tmp/x", "~/x", "user@host:22", "L1", "warning",
                     "critical", "\x1b[2J", "[red]x[/]", "1%"]),
    st.text(max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 22, 65535, 65536, -1, 200, 599, 600]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(),
)


def value(depth: int = 0) -> st.SearchStrategy[Any]:
    if depth >= 2:
        return SCALARS
    return st.one_of(
        SCALARS,
        st.lists(SCALARS, max_size=3),
        st.dictionaries(st.sampled_from(["low", "high", "warning", "critical", "role", "availability",
                                         "ttfb_p95_ms", "every", "sample", "timeout", "subset", "x"]) | st.text(max_size=5),
                        SCALARS, max_size=3),
    )


def table(keys: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A table with a random subset of ``keys`` (values from their own strategy or any value) and maybe an unknown key."""
    items = {k: (v if isinstance(v, st.SearchStrategy) else value()) for k, v in keys.items()}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in draw(st.lists(st.sampled_from(sorted(items)), unique=True, max_size=len(items))):
            out[k] = draw(st.one_of(items[k], value()) if draw(st.booleans()) else items[k])
        if draw(st.integers(0, 5)) == 0:
            out[draw(st.text(min_size=1, max_size=8))] = draw(value())
        return out

    return build()


def array_of(t: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(t, max_size=3), value())


RESTORE = table({"every": None, "sample": None, "timeout": None})
CHECK = table({"every": None, "subset": None, "timeout": None})
CACHE = table({"name": None, "kind": None, "address": None, "path": None, "password_file": None, "interval": None})
BACKUP = table({"name": None, "kind": None, "repository": None, "password_file": None, "max_age": None,
                "interval": None, "restore_test": RESTORE, "check": CHECK, "command": None, "stanza": None, "env": None})
HOST_KEYS = {"name": None, "address": None, "port": None, "user": None, "identity_file": None, "jump": None,
             "tags": None, "probes": None, "interval": None, "timeout": None, "host_key_policy": None,
             "known_hosts": None, "ssh_config": None, "patches_interval": None}
HOST = table({**HOST_KEYS, "caches": array_of(CACHE), "backups": array_of(BACKUP)})
ENDPOINT = table({"name": None, "url": None, "interval": None, "timeout": None, "expect_status": None,
                  "vantage": None, "window": None, "slo": table({"availability": None, "ttfb_p95_ms": None}),
                  "verify_tls": None, "fresh_connection": None, "method": None, "headers": None, "tags": None,
                  "source": None, "queries": None})
SOURCE = table({"kind": None, "name": None, "url": None, "interval": None, "timeout": None, "verify_tls": None,
                "ca_file": None, "bearer_token_file": None, "bearer_token_env": None, "username": None,
                "password_file": None, "queries": None, "match": None})
RULE = table({"name": None, "metric": None, "match": None, "op": None, "warn": None, "crit": None, "clear": None,
              "for": None, "keep_firing_for": None, "attempts": None, "flap": table({"low": None, "high": None}),
              "tier": None, "runbook": None, "summary": None, "enabled": None})
DOC = table({
    "opsdash": st.one_of(table({"retention": None, "theme": None, "ssh_connect_concurrency": None}), value()),
    "defaults": st.one_of(table({k: None for k in HOST_KEYS if k not in ("name", "address", "tags")}), value()),
    "hosts": array_of(HOST),
    "endpoints": array_of(ENDPOINT),
    "sources": array_of(SOURCE),
    "rules": array_of(RULE),
})


def _toml(doc: dict[str, Any]) -> str | None:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):  # e.g. a key tomli-w cannot write; not what we test
        return None


def _load(text: str) -> Config | None:
    try:
        return parse_config(text, "fuzz.toml")
    except ConfigError as e:
        assert e.problems, "a ConfigError must name at least one problem"
        for p in e.problems:
            line = str(p)
            assert line.startswith("fuzz.toml"), line
            assert "\n" not in line and "\x1b" not in line, line
        return None


@FUZZ
@given(DOC)
def test_schema_shaped_documents(doc: dict[str, Any]) -> None:
    text = _toml(doc)
    if text is not None:
        _load(text)


@FUZZ
@given(st.text(max_size=400) | st.lists(st.sampled_from(
    ["[[hosts]]", "[defaults]", "[opsdash]", "[[rules]]", "[[endpoints]]", "[[sources]]", 'name = "a"',
     "port = 99999", 'interval = "5x"', "probes = [1]", "[hosts.caches]", "[[hosts.backups]]", 'kind = "restic"',
     "x = inf", "x = nan", "flap = { low = 50, high = 10 }", 'url = "https://a/"', "\x00", "[[hosts]]]", '"k\\u001b" = 1']),
    max_size=15).map("\n".join))
def test_raw_text(text: str) -> None:
    _load(text)


@FUZZ
@given(doc=DOC, raw=st.text(max_size=200), theme=st.sampled_from(["monochrome", "x\"y", "\x1b]52;c;AA==\x07", ""]))
def test_update_config_writes_a_loadable_file_or_changes_nothing(
    doc: dict[str, Any], raw: str, theme: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from opsdash.config import load_config, set_theme, update_config

    for text in (_toml(doc), raw):
        if text is None:
            continue
        path = tmp_path_factory.mktemp("up") / "config.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        before = path.read_bytes()
        try:
            update_config(path, lambda d: set_theme(d, theme))
        except ConfigError:
            assert path.read_bytes() == before
            continue
        if path.read_bytes() != before:
            assert load_config(path).settings.theme == theme


@pytest.mark.parametrize("snippet", [
    '[[hosts]]\nname = "a"\ninterval = inf\n',
    '[[hosts]]\nname = "a"\ninterval = nan\n',
    '[[hosts]]\nname = "a"\ntimeout = 1e308\n',
    '[[hosts]]\nname = "a"\npatches_interval = "' + "9" * 400 + 'd"\n',
    '[opsdash]\nretention = inf\n',
    '[[rules]]\nname = "r"\nmetric = "m"\nwarn = inf\nfor = inf\n',
    '[[rules]]\nname = "r"\nmetric = "m"\nwarn = nan\nflap = { low = nan, high = 1 }\n',
    '[[endpoints]]\nname = "e"\nurl = "https://x/"\nwindow = inf\nslo = { availability = nan, ttfb_p95_ms = inf }\n',
    '[[hosts]]\nname = "a"\nprobes = ["backups"]\n[[hosts.backups]]\nname = "b"\nkind = "restic"\n'
    'repository = "/r"\nmax_age = inf\nrestore_test = { sample = "x", every = inf, timeout = inf }\n',
    '[[hosts]]\nname = "a"\nport = 9223372036854775807\n',
    '[[hosts]]\nname = "a"\njump = "a"\n[[hosts]]\nname = "b"\njump = "c"\n[[hosts]]\nname = "c"\njump = "b"\n',
])
def test_edge_documents_and_check_config(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _load(snippet)
    _check_config(tmp_path, snippet, capsys)


def _check_config(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    rc = main(["check-config", "--config", str(path)])
    out = capsys.readouterr()
    assert rc in (0, 3), (rc, out.err)
    assert "Traceback" not in out.err + out.out
    assert "internal error" not in out.err, out.err
    if rc == 3:
        assert out.err.strip(), "exit 3 without saying why"


@settings(max_examples=int(os.environ.get("OPSDASH_FUZZ_EXAMPLES", "100")) // 2, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(doc=DOC)
def test_check_config_never_prints_a_traceback(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    text = _toml(doc)
    if text is None:
        return
    import contextlib
    import io

    err, out = io.StringIO(), io.StringIO()
    path = tmp_path_factory.mktemp("cc") / "config.toml"
    path.write_text(text, encoding="utf-8")
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["check-config", "--config", str(path)])
    assert rc in (0, 3), (rc, err.getvalue())
    assert "Traceback" not in err.getvalue() + out.getvalue()
    assert "internal error" not in err.getvalue(), err.getvalue()


def test_non_utf8_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[[hosts]]\nname = "\xff\xfe"\n')
    rc = main(["check-config", "--config", str(path)])
    out = capsys.readouterr()
    assert rc == 3 and "cannot read" in out.err


def test_valid_config_still_loads() -> None:
    cfg = _load('[[hosts]]\nname = "a"\ninterval = "5m"\n')
    assert cfg is not None and math.isclose(cfg.hosts[0].interval, 300.0)
