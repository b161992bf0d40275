"""Cache parsers against the real captures in tests/fixtures (one test per file)."""

from __future__ import annotations

import pytest

from opsdash.errors import ParseError, ProbeError
from opsdash.model import CacheCounters
from opsdash.parsers.memcached import parse_memcached_stats
from opsdash.parsers.nginx_log import CacheStatusCounts, cache_status_of_line, parse_cache_status_lines
from opsdash.parsers.redis import parse_redis_info
from opsdash.parsers.varnish import parse_varnishstat, parse_varnishstat_json, parse_varnishstat_text
from tests.support import FIXTURES


def fixture(name: str) -> str:
    # Bytes decoded as-is: read_text() would turn CRLF into LF, and the CRLF
    # (and RESP byte lengths) are part of what is under test.
    return (FIXTURES / name).read_bytes().decode("utf-8")


# --- redis -----------------------------------------------------------------------


def test_redis_cli_info_stats_crlf():
    text = fixture("redis-cli-info-stats.txt")
    assert "\r\n" in text
    assert parse_redis_info(text) == CacheCounters(hits=50, misses=20, ops=124, uptime_s=None)


def test_redis_cli_info_all_has_uptime():
    assert parse_redis_info(fixture("redis-cli-info-all.txt")) == CacheCounters(hits=50, misses=20, ops=125, uptime_s=5.0)


def test_redis_raw_resp_reply():
    text = fixture("redis-info-stats-raw-resp.txt")
    assert text.startswith("$1309\r\n")
    assert parse_redis_info(text) == CacheCounters(hits=50, misses=20, ops=127, uptime_s=None)


def test_redis_resp_several_replies_with_auth_ok_and_quit():
    server = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n"
    stats = "# Stats\r\ntotal_commands_processed:9\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\n"
    wire = f"+OK\r\n${len(server)}\r\n{server}\r\n${len(stats)}\r\n{stats}\r\n+OK\r\n"
    assert parse_redis_info(wire) == CacheCounters(hits=3, misses=1, ops=9, uptime_s=42.0)


def test_redis_cli_server_then_stats_sections_concatenated():
    all_text = fixture("redis-cli-info-all.txt")
    server = all_text.split("\r\n\r\n")[0]
    combined = server + "\r\n" + fixture("redis-cli-info-stats.txt")
    assert parse_redis_info(combined) == CacheCounters(hits=50, misses=20, ops=124, uptime_s=5.0)


def test_redis_truncated_resp_is_an_error_not_zeros():
    text = fixture("redis-info-stats-raw-resp.txt")[:400]
    with pytest.raises(ParseError, match="truncated"):
        parse_redis_info(text)


@pytest.mark.parametrize(
    "reply",
    ["NOAUTH Authentication required.\r\n", "-NOAUTH Authentication required.\r\n", "-WRONGPASS invalid username-password pair\r\n"],
)
def test_redis_error_reply_is_a_probe_error_with_redis_words(reply):
    with pytest.raises(ProbeError, match="redis replied with an error: (NOAUTH|WRONGPASS)") as exc:
        parse_redis_info(reply)
    assert not isinstance(exc.value, ParseError)


def test_redis_garbage_names_the_line():
    text = "# Stats\r\nkeyspace_hits:1\r\n<html>oops</html>\r\nkeyspace_misses:2\r\n"
    with pytest.raises(ParseError) as exc:
        parse_redis_info(text)
    assert exc.value.lineno == 3
    assert "<html>oops</html>" in str(exc.value)


def test_redis_without_stats_section_is_an_error():
    server_only = fixture("redis-cli-info-all.txt").split("\r\n\r\n")[0]
    with pytest.raises(ParseError, match="keyspace_hits"):
        parse_redis_info(server_only)


def test_redis_non_integer_counter():
    with pytest.raises(ParseError, match="keyspace_misses"):
        parse_redis_info("keyspace_hits:1\r\nkeyspace_misses:lots\r\n")


# --- memcached ---------------------------------------------------------------------


def test_memcached_stats():
    text = fixture("memcached-stats.txt")
    assert text.endswith("END\r\n")
    # cmd_get 43 = get_hits 32 + get_misses 11; ops = cmd_get + cmd_set 30.
    assert parse_memcached_stats(text) == CacheCounters(hits=32, misses=11, ops=73, uptime_s=14.0)


def test_memcached_without_end_is_truncated():
    text = fixture("memcached-stats.txt").replace("END\r\n", "")
    with pytest.raises(ParseError, match="no END"):
        parse_memcached_stats(text)


def test_memcached_error_reply():
    with pytest.raises(ProbeError, match="memcached replied with an error: ERROR"):
        parse_memcached_stats("ERROR\r\n")


def test_memcached_garbage_names_the_line():
    text = "STAT pid 1\r\nSTAT get_hits 1\r\nHTTP/1.1 400 Bad Request\r\nEND\r\n"
    with pytest.raises(ParseError) as exc:
        parse_memcached_stats(text)
    assert exc.value.lineno == 3 and "HTTP/1.1 400" in str(exc.value)


def test_memcstat_format_is_not_the_text_protocol():
    # memcstat prints "Server: ..." and tab-indented "name: value"; we never
    # run it, and reading it as STAT lines must fail loudly.
    with pytest.raises(ParseError) as exc:
        parse_memcached_stats(fixture("memcstat.txt"))
    assert exc.value.lineno == 1


# --- varnish --------------------------------------------------------------------------


def test_varnishstat_j_nested_counters():
    assert parse_varnishstat_json(fixture("varnishstat-j.json")) == CacheCounters(hits=3, misses=6, ops=9, uptime_s=5.0)


def test_varnishstat_j_filtered_has_no_uptime():
    assert parse_varnishstat(fixture("varnishstat-j-filtered.json")) == CacheCounters(
        hits=3, misses=6, ops=9, uptime_s=None
    )


def test_varnishstat_j_old_flat_format():
    # Before Varnish 6.5 the counters sat at the top level next to "timestamp".
    old = (
        '{"timestamp": "2019-01-01T00:00:00",'
        ' "MAIN.uptime": {"description": "Child process uptime", "type": "MAIN", "flag": "c", "format": "d", "value": 77},'
        ' "MAIN.client_req": {"type": "MAIN", "flag": "c", "format": "i", "value": 120},'
        ' "MAIN.cache_hit": {"type": "MAIN", "flag": "c", "format": "i", "value": 90},'
        ' "MAIN.cache_miss": {"type": "MAIN", "flag": "c", "format": "i", "value": 30}}'
    )
    assert parse_varnishstat(old) == CacheCounters(hits=90, misses=30, ops=120, uptime_s=77.0)


def test_varnishstat_1_text():
    assert parse_varnishstat_text(fixture("varnishstat-1.txt")) == CacheCounters(hits=3, misses=6, ops=9, uptime_s=8.0)


def test_varnishstat_text_garbage_names_the_line():
    text = "MAIN.cache_hit 3 0.38 Cache hits\nvarnishstat: Could not get hold of varnishd\n"
    with pytest.raises(ParseError) as exc:
        parse_varnishstat(text)
    assert exc.value.lineno == 2


def test_varnishstat_json_without_cache_counters():
    with pytest.raises(ParseError, match="MAIN.cache_hit"):
        parse_varnishstat('{"version": 1, "counters": {}}')


def test_varnishstat_bad_json():
    with pytest.raises(ParseError, match="not JSON"):
        parse_varnishstat('{"version": 1, "counters": {')


# --- nginx access log --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["nginx-access-upstream-cache-status.log", "nginx-access-upstream-cache-status.json.log"]
)
def test_nginx_access_log_cache_statuses(name):
    counts = parse_cache_status_lines(fixture(name).splitlines())
    assert counts == CacheStatusCounts(hit=5, miss=7, bypass=1, none=1)
    assert (counts.hits, counts.misses, counts.requests) == (5, 7, 14)
    # BYPASS and "-" are counted but belong to neither side of the hit rate.
    assert counts.to_counters() == CacheCounters(hits=5, misses=7, ops=14, uptime_s=None)


def test_nginx_every_status_is_known():
    line = '127.0.0.1 - - [22/Nov/2026:06:52:18 +0000] "GET / HTTP/1.1" 200 21 "-" "curl" rt=0.0 uct=- urt=- ucs={}'
    statuses = ["HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "BYPASS", "-"]
    counts = parse_cache_status_lines(line.format(s) for s in statuses)
    assert counts == CacheStatusCounts(1, 1, 1, 1, 1, 1, 1, 1)
    assert (counts.hits, counts.misses) == (4, 2)


def test_nginx_counts_add_and_round_trip_json():
    a = CacheStatusCounts(hit=2, miss=1)
    b = CacheStatusCounts(hit=1, expired=3, none=4)
    assert a + b == CacheStatusCounts(hit=3, miss=1, expired=3, none=4)
    assert CacheStatusCounts.from_json((a + b).to_json()) == a + b


def test_nginx_empty_json_status_is_dash():
    assert cache_status_of_line('{"status":200,"cache":""}') == "-"


def test_nginx_request_containing_ucs_text_does_not_confuse_the_parser():
    line = '1.2.3.4 - - [x] "GET /?ucs=HIT HTTP/1.1" 200 1 "-" "ua ucs=HIT" rt=0.1 ucs=MISS'
    assert cache_status_of_line(line) == "MISS"


def test_nginx_line_without_status_names_the_line():
    lines = fixture("nginx-access-upstream-cache-status.log").splitlines()
    lines.insert(3, '127.0.0.1 - - [22/Nov/2026:06:52:18 +0000] "GET / HTTP/1.1" 200 21 "-" "curl/7.88.1"')
    with pytest.raises(ParseError) as exc:
        parse_cache_status_lines(lines)
    assert exc.value.lineno == 4


def test_nginx_unknown_status_value():
    with pytest.raises(ParseError, match="unknown upstream cache status 'WEIRD'"):
        parse_cache_status_lines(["a b ucs=WEIRD"])


def test_nginx_json_line_without_cache_key():
    with pytest.raises(ParseError, match="no cache status field"):
        parse_cache_status_lines(['{"time":"2026-11-22T06:52:18+00:00","status":200}'])


def test_nginx_blank_lines_are_skipped_but_no_lines_is_zero_requests():
    assert parse_cache_status_lines(["", "  "]) == CacheStatusCounts()
