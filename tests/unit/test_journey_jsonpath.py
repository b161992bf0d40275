"""The journeys' tiny JSONPath (opsdash/parsers/jsonpath.py): what it reads, what it refuses,
and that no text and no document makes it raise anything but ParseError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdash.errors import ParseError
from opsdash.parsers import jsonpath

DOC = {"id": "c-1", "items": [{"sku": "tea", "qty": 2}, {"sku": "cake"}], "odd key": {"a.b": True}, "n": None}


@pytest.mark.parametrize("path, value", [
    ("$", DOC),
    ("$.id", "c-1"),
    ("$.items[0].sku", "tea"),
    ("$.items[-1].sku", "cake"),
    ("$.items[ 1 ]", {"sku": "cake"}),
    ("$['odd key']['a.b']", True),
    ('$["odd key"]["a.b"]', True),
    ("$.n", None),
])
def test_a_path_finds_its_value(path, value):
    assert jsonpath.find(DOC, jsonpath.compile(path)) == value


@pytest.mark.parametrize("path", ["$.nope", "$.items[2]", "$.items[-3]", "$.id.x", "$.id[0]", "$.items.sku"])
def test_a_place_that_is_not_there_is_missing_not_an_error(path):
    assert jsonpath.find(DOC, jsonpath.compile(path)) is jsonpath.MISSING


@pytest.mark.parametrize("path, words", [
    ("id", 'starts with "$"'),
    ("", 'starts with "$"'),
    ("$.", "a key name after the dot"),
    ("$..a", "a key name after the dot"),
    ("$[*]", "an index or a quoted key"),
    ("$['a'", '"]" after the quoted key'),
    ("$['a", "a closing quote"),
    ("$a", '".key" or "[...]"'),
    ("$.a[0", "an index or a quoted key"),
])
def test_a_path_outside_the_grammar_says_what_it_expected(path, words):
    with pytest.raises(ParseError) as e:
        jsonpath.compile(path)
    assert words in str(e.value)


def test_show_writes_a_path_back_that_compiles_to_the_same_steps():
    steps = jsonpath.compile("$.a[3]['b c']['it\\'s']")
    assert steps == ("a", 3, "b c", "it's")
    assert jsonpath.compile(jsonpath.show(steps)) == steps


json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)
steps = st.lists(st.integers(-5, 5) | st.text(max_size=6), max_size=6).map(tuple)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"\$(\.[a-z]{1,3}|\[-?[0-9]\]|\['[^']{0,3}'\]|[\[\]'\".*$]){0,6}"))
def test_fuzz_any_text_compiles_or_raises_parse_error(text):
    try:
        got = jsonpath.compile(text)
    except ParseError:
        return
    assert all(isinstance(s, (str, int)) for s in got)
    assert jsonpath.compile(jsonpath.show(got)) == got


@settings(max_examples=300, deadline=None)
@given(json_docs, steps)
def test_fuzz_find_never_raises_on_any_document(doc, path):
    doc = json.loads(json.dumps(doc))  # what a body decodes to
    got = jsonpath.find(doc, path)
    if got is not jsonpath.MISSING:
        assert jsonpath.find(doc, jsonpath.compile(jsonpath.show(path))) == got
