"""A remote journey step's curl: its config keeps every value on its own line, and the
headers file it dumps is read for the last response whatever else it holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdash.errors import ParseError
from opsdash.parsers.journey_curl import parse_headers, step_config


def test_the_last_response_counts_and_junk_lines_are_skipped():
    text = ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /cart\r\n"
            "Set-Cookie: session=ab; Path=/\r\nnot a header line\r\nX-Empty:\r\n\r\n")
    assert parse_headers(text) == (302, [("Location", "/cart"), ("Set-Cookie", "session=ab; Path=/"),
                                         ("X-Empty", "")])
    assert parse_headers("HTTP/2 200\r\ncontent-type: text/html\r\n") == (200, [("content-type", "text/html")])


@pytest.mark.parametrize("text", ["", "garbage\n", "Location: /x\n", "HTTP/1.1 abc\n"])
def test_no_status_line_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse_headers(text)


def test_values_with_quotes_and_newlines_stay_on_their_line():
    cfg = step_config(url='http://h/a"b\nc', method="POST", headers=[("X-A", 'q"\\\r\n')],
                      write_out="%{http_code}\\n", max_time=3,
                      form=[("user", "a b\n", None), ("password", None, "secret0")])
    lines = cfg.splitlines()
    assert 'url = "http://h/a\\"b\\nc"' in lines
    assert 'header = "X-A: q\\"\\\\\\r\\n"' in lines
    assert 'data-urlencode = "password@secret0"' in lines
    assert 'write-out = "%{http_code}\\\\n"' in lines
    assert len(lines) == 14  # 11 options every step has, a header, two form fields
    with pytest.raises(ValueError):
        step_config(url="http://h/\0", method="GET", headers=[], write_out="", max_time=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["HTTP/1.1 200 OK", "HTTP/2 302", "Location: /x", "a: b", ":", "", "\x00",
                                 "HTTP/1.1 99", "Set-Cookie: s=1"]) | st.text(max_size=20), max_size=30)
       .map("\r\n".join) | st.text(max_size=300))
def test_fuzz_any_headers_file_gives_a_status_or_a_parse_error(text):
    try:
        status, headers = parse_headers(text)
    except ParseError:
        return
    assert 100 <= status <= 999 and all(isinstance(k, str) and isinstance(v, str) for k, v in headers)
