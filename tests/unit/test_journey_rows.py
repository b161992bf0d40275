"""A journey's row as the panes, the drill-down and the handover see it; p50/p95 over the
runs it keeps; and a stored row of any shape read back without an error."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from opsdash.kinds.journeys import KIND, RECENT, JourneyRow, _recent, _Scrub, percentile

FAILED = {
    "ok": False, "t": 1.0, "reason": "checkout: step 3 checkout: status 500", "failed_step": 3,
    "failed_step_name": "checkout", "total_ms": 130.2, "p50_ms": 120.0, "p95_ms": 150.0, "recent": [120.0, 150.0],
    "steps": [
        {"name": "login", "method": "POST", "status": 302, "ms": 40.1, "ttfb_ms": 39.9, "ok": True},
        {"name": "cart", "method": "GET", "status": 200, "ms": 45.0, "ttfb_ms": 44.0, "ok": True},
        {"name": "checkout", "method": "POST", "status": 500, "ms": 45.1, "ttfb_ms": 45.0, "ok": False},
    ],
    "excerpt": "Internal Server Error",
}


def test_a_failing_row_is_named_by_its_step_everywhere():
    assert KIND.state(FAILED) == ("step 3", True)
    assert KIND.handover_line("checkout", "local", FAILED) == \
        "Journey checkout from local: step 3 checkout: status 500"
    lines = KIND.detail(FAILED)
    assert lines[0] == "journey: FAILED in 130.2 ms"
    assert "reason: checkout: step 3 checkout: status 500" in lines
    assert "step 1 login: POST 302 40.1 ms, ttfb 39.9 ms ok" in lines
    assert "step 3 checkout: POST 500 45.1 ms, ttfb 45 ms FAILED" in lines
    assert "body: Internal Server Error" in lines


def test_a_journey_that_could_not_start_has_no_step():
    row = KIND.failed(type("J", (), {"name": "checkout"})(), "local", "timeout", 5.0).to_json()
    assert KIND.state(row) == ("error", True)
    assert KIND.handover_line("checkout", "local", row) == "Journey checkout from local: timeout"


def test_the_row_round_trips_and_its_samples_carry_each_step():
    row = JourneyRow.from_json(FAILED)
    assert row.to_json() == FAILED
    samples = row.samples(9.0, "checkout", {"vantage": "local"})
    by = {(s.metric, s.labels.get("step")): s.value for s in samples}
    assert by[("journey.up", None)] == 0.0
    assert by[("journey.step_ms", "cart")] == 45.0
    assert by[("journey.duration_p95_ms", None)] == 150.0
    assert ("journey.duration_ms", None) not in by  # a failed run has no comparable duration
    assert all(s.labels["vantage"] == "local" for s in samples)


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([100.0], 0.95) == 100.0
    assert percentile([float(x) for x in range(1, 21)], 0.5) == 10.5
    assert percentile([float(x) for x in range(1, 21)], 0.95) == 19.1


def test_only_the_last_runs_are_kept_and_junk_is_dropped():
    assert _recent({"recent": list(range(50))}) == [float(x) for x in range(50 - RECENT, 50)]
    assert _recent({"recent": ["x", None, True, -1, 3]}) == [3.0]
    assert _recent({"recent": "nope"}) == [] and _recent(None) == []


def test_scrub_removes_a_secret_plain_and_url_encoded():
    s = _Scrub(["p@ss word/1"])
    row = {"reason": "sent p@ss word/1", "steps": [{"x": "password=p%40ss+word%2F1"}], "n": 3}
    out = s(row)
    assert json.dumps(out).count("***") == 2 and "p@ss" not in json.dumps(out) and "p%40ss" not in json.dumps(out)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(FAILED) + ["x"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                                    lambda k: st.lists(k, max_size=3) | st.dictionaries(st.text(max_size=4), k,
                                                                                         max_size=3),
                                    max_leaves=10)))
def test_fuzz_a_stored_row_of_any_shape_shows_without_error(d):
    KIND.state(d)
    KIND.detail(d)
    KIND.handover_line("t", "local", d)
    JourneyRow.from_json(d).samples(0.0, "t", {"vantage": "local"})


async def test_a_failed_probe_keeps_the_durations_and_scrubs_the_secret(tmp_path):
    from opsdash.config import parse_config
    from tests.support.shop_app import JourneyContext

    secret = tmp_path / "p"
    secret.write_text("hunter2-xyz\n")
    (j,) = parse_config(f'''
[[journeys]]
name = "j"
  [[journeys.steps]]
  name = "login"
  method = "POST"
  url = "http://127.0.0.1:9/login"
  form = {{ password_file = "{secret}" }}
''').checks["journey"]
    ctx = JourneyContext()
    ctx.rows[("journey", "j", "local")] = {"recent": [100.0, 200.0]}
    row = await ctx.probe(KIND, j)  # port 9 refuses: a failed step keeps the runs so far
    assert row.reason.startswith("j: step 1 login: connect failed") and row.recent == [100.0, 200.0]
    failed = KIND.failed(j, "local", "ssh said hunter2-xyz", 5.0)
    assert failed.recent == [100.0, 200.0] and failed.p95_ms == 195.0
    assert failed.reason == "j: ssh said ***"
