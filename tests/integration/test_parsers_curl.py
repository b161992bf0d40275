"""curl -w timing parser (fixtures) and the remote curl command line with its stdin config."""

from __future__ import annotations

import http.server
import shlex
import shutil
import threading

import pytest

from opsdash.collect.runner import LocalRunner
from opsdash.errors import ParseError
from opsdash.model import Phases
from opsdash.parsers.curl import (
    CURL_WRITE_OUT,
    cache_status_from_headers,
    curl_command,
    parse_curl,
    parse_curl_json,
    parse_curl_write_out,
)
from tests.support import FIXTURES


def timing_blocks() -> dict[str, tuple[str, int]]:
    """curl-w-timing.txt holds five captures, each under a '### <command>'
    line and followed by '# rc=N'; returns {title: (output, rc)}."""
    blocks: dict[str, tuple[str, int]] = {}
    title, body = "", []
    for line in (FIXTURES / "curl-w-timing.txt").read_text().splitlines(keepends=True):
        if line.startswith("### "):
            title, body = line[4:].strip(), []
        elif line.startswith("# rc="):
            blocks[title] = ("".join(body), int(line[5:]))
        else:
            body.append(line)
    return blocks


BLOCKS = timing_blocks()


def block(word: str) -> tuple[str, int]:
    (match,) = [v for k, v in BLOCKS.items() if word in k]
    return match


def test_fixture_has_five_captures():
    assert len(BLOCKS) == 5


def test_plain_http():
    r = parse_curl_write_out(*block("plain HTTP"))
    assert r.phases == Phases(dns_ms=0.021, connect_ms=0.341, tls_ms=None, ttfb_ms=59.358, total_ms=59.409)
    assert (r.status, r.remote_ip, r.exit_code, r.size_download) == (200, "127.0.0.1", 0, 6756)
    assert r.ok and r.state == "ok" and r.error is None


def test_https():
    r = parse_curl_write_out(*block("TLS, name lookup"))
    assert r.phases == Phases(dns_ms=0.02, connect_ms=0.137, tls_ms=182.496, ttfb_ms=189.433, total_ms=189.478)
    assert (r.status, r.exit_code) == (200, 0)


def test_connection_refused_rc7():
    r = parse_curl_write_out(*block("connection refused"))
    # 0 means "never reached": no connect, TLS or first byte; total is real.
    assert r.phases == Phases(dns_ms=0.017, connect_ms=None, tls_ms=None, ttfb_ms=None, total_ms=176.463)
    assert (r.status, r.remote_ip, r.exit_code) == (None, None, 7)
    assert not r.ok and r.state == "unreachable"
    assert r.error == "curl exit 7: could not connect (refused or unreachable)"


def test_tls_failure_rc35():
    r = parse_curl_write_out(*block("handshake error"))
    assert r.phases == Phases(dns_ms=0.02, connect_ms=None, tls_ms=None, ttfb_ms=None, total_ms=5.645)
    assert (r.status, r.remote_ip, r.exit_code) == (None, "127.0.0.1", 35)
    assert r.state == "error" and r.error == "curl exit 35: TLS handshake failed"


def test_de_de_locale_capture_and_decimal_commas():
    text, rc = block("de_DE")
    expected = Phases(dns_ms=0.021, connect_ms=0.316, tls_ms=None, ttfb_ms=3.145, total_ms=3.189)
    assert parse_curl_write_out(text, rc).phases == expected
    # curl 7.88 kept dots; other builds follow LC_NUMERIC and print commas.
    commas = "".join(
        line.replace(".", ",") if line.startswith("time_") else line for line in text.splitlines(keepends=True)
    )
    assert "time_total=0,003189" in commas
    assert parse_curl_write_out(commas, rc).phases == expected


def test_json_form():
    r = parse_curl_json((FIXTURES / "curl-w-json.json").read_text())
    assert r.phases == Phases(dns_ms=0.031, connect_ms=514.106, tls_ms=988.584, ttfb_ms=988.77, total_ms=988.819)
    assert (r.status, r.remote_ip, r.exit_code, r.size_download) == (200, "127.0.0.1", 0, 6756)


def test_json_exponent_notation():
    text = (FIXTURES / "curl-w-json.json").read_text().replace('"time_namelookup":0.000031', '"time_namelookup":3.1e-05')
    assert '"time_namelookup":3.1e-05' in text
    assert parse_curl(text).phases.dns_ms == pytest.approx(0.031)


def test_exponent_in_key_value_form():
    text, rc = block("plain HTTP")
    text = text.replace("time_namelookup=0.000021", "time_namelookup=2.1e-05")
    assert parse_curl(text, rc).phases.dns_ms == pytest.approx(0.021)


def test_old_curl_without_exitcode_uses_process_rc():
    # curl < 7.75 has no %{exitcode}; it prints an empty value.
    text, _ = block("connection refused")
    text = text.replace("exitcode=7", "exitcode=")
    assert parse_curl_write_out(text, rc=7).exit_code == 7
    assert parse_curl_write_out(text, rc=28).state == "timeout"


def test_cache_headers():
    text, rc = block("plain HTTP")
    assert parse_curl(text, rc).cache is None  # the capture predates the header lines
    with_headers = text + "hdr_x_cache_status=\nhdr_cf_cache_status=\nhdr_x_cache=MISS, HIT\nhdr_age=12\n"
    assert parse_curl(with_headers, rc).cache == "MISS"
    assert parse_curl(text + "hdr_age=12\n", rc).cache == "HIT"
    assert parse_curl(text + "hdr_age=0\n", rc).cache is None


def test_curl_before_7_84_echoes_header_placeholders():
    text, rc = block("plain HTTP")
    old = text + "hdr_x_cache=%header{x-cache}\nhdr_age=%header{age}\n"
    r = parse_curl(old, rc)
    assert r.cache is None and r.status == 200


def test_cache_status_rules_match_the_local_probe():
    assert cache_status_from_headers({"cf-cache-status": "DYNAMIC"}) == "DYNAMIC"
    assert cache_status_from_headers({"x-cache-status": "stale", "x-cache": "HIT"}) == "STALE"
    assert cache_status_from_headers({}) is None


def test_garbage_names_the_line():
    text, rc = block("plain HTTP")
    bad = text.replace("time_connect=0.000341", "time_connect=fast")
    with pytest.raises(ParseError) as exc:
        parse_curl_write_out(bad, rc)
    assert "time_connect=fast" in str(exc.value)
    with pytest.raises(ParseError) as exc:
        parse_curl_write_out("curl: (6) Could not resolve host: x\n" + text, rc)
    assert exc.value.lineno == 1


def test_empty_output_is_an_error_not_zeros():
    with pytest.raises(ParseError, match="no time_namelookup"):
        parse_curl("", 0)


def test_write_out_format_covers_what_the_parser_reads():
    for key in ("time_namelookup", "time_appconnect", "time_starttransfer", "time_total", "http_code", "exitcode"):
        assert f"{key}=%{{{key}}}\\n" in CURL_WRITE_OUT
    assert "hdr_x_cache=%header{x-cache}\\n" in CURL_WRITE_OUT


def test_curl_command_keeps_url_and_headers_off_the_command_line():
    url = "https://shop.example.com/a b?q='x'&r=$(touch /tmp/pwned)"
    cmd = curl_command(url, timeout=7.5, verify_tls=False, method="post", headers={"X-Token": "a'b $HOME"})
    argv = shlex.split(cmd.command)
    assert argv[0] == "LC_ALL=C" and argv[1] == "curl"
    assert argv[-2:] == ["-K", "-"]  # the config comes on stdin
    assert "--url" not in argv and "-H" not in argv and "-u" not in argv
    assert "shop.example.com" not in cmd.command and "a'b" not in cmd.command
    assert argv[argv.index("-X") + 1] == "POST"
    assert argv[argv.index("--max-time") + 1] == "7.5"
    assert argv[argv.index("-w") + 1] == CURL_WRITE_OUT
    assert "-k" in argv and "--globoff" in argv
    assert cmd.stdin == (
        "url = \"https://shop.example.com/a b?q='x'&r=$(touch /tmp/pwned)\"\n"
        "header = \"X-Token: a'b $HOME\"\n"
    )


def test_curl_command_pair_unpacks():
    command, stdin = curl_command("http://x/", timeout=3)
    assert command.startswith("LC_ALL=C curl ") and stdin == 'url = "http://x/"\n'


@pytest.mark.parametrize(
    ("url", "bare", "user"),
    [
        ("https://ops:hunter2@example.com/x", "https://example.com/x", "ops:hunter2"),
        ("https://ops:p%40ss%3Aw%22d%5C@example.com:8443/", "https://example.com:8443/", 'ops:p@ss:w\\"d\\\\'),
        ("http://us%20er@example.com", "http://example.com", "us er:"),  # no password: empty, never a prompt
        ("http://a@b:c@example.com/?x=@y", "http://example.com/?x=@y", "a@b:c"),  # the last @ of the authority
        ("http://example.com/p@th?u=v@w", "http://example.com/p@th?u=v@w", None),  # @ after the authority
    ],
)
def test_curl_command_moves_userinfo_into_a_user_line(url, bare, user):
    cmd = curl_command(url, timeout=3)
    expected = f'url = "{bare}"\n' + (f'user = "{user}"\n' if user is not None else "")
    assert cmd.stdin == expected
    assert "@" not in cmd.command and "example.com" not in cmd.command


def test_curl_config_escapes_quotes_backslashes_and_controls():
    cmd = curl_command("http://x/", timeout=3, headers={"X-A": 'q"b\\s\tt\vv'})
    assert cmd.stdin.splitlines()[1] == 'header = "X-A: q\\"b\\\\s\\tt\\vv"'


def test_curl_command_head_and_verify():
    argv = shlex.split(curl_command("http://x/", timeout=3, verify_tls=True, method="HEAD", headers={}).command)
    assert "--head" in argv and "-X" not in argv and "-k" not in argv


@pytest.mark.parametrize("headers", [{"X-A": "b\r\nInjected: 1"}, {"Bad Name": "v"}, {"X-A": "nul\0byte"}])
def test_curl_command_rejects_header_injection(headers):
    with pytest.raises(ValueError):
        curl_command("http://x/", timeout=3, verify_tls=True, method="GET", headers=headers)


@pytest.mark.integration
async def test_curl_command_runs_against_a_real_server():
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Cache", "HIT from edge-1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/x"
        cmd = curl_command(url, timeout=5, verify_tls=True, method="GET", headers={"X-Probe": "opsdash"})
        res = await LocalRunner().run(cmd.command, timeout=10, input=cmd.stdin)
        r = parse_curl(res.stdout, res.rc)
        assert (r.status, r.exit_code, r.remote_ip, r.size_download) == (200, 0, "127.0.0.1", 5)
        assert r.cache == "HIT"
        p = r.phases
        assert p.tls_ms is None
        assert 0 < p.connect_ms <= p.ttfb_ms <= p.total_ms
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    # Now nothing listens there: refused, rc 7, no phases past DNS.
    cmd = curl_command(url, timeout=5, verify_tls=True, method="GET", headers={})
    res = await LocalRunner().run(cmd.command, timeout=10, input=cmd.stdin)
    r = parse_curl(res.stdout, res.rc)
    assert (r.exit_code, r.status, r.state) == (7, None, "unreachable")
    assert r.phases.connect_ms is None and r.phases.total_ms is not None
