"""Untrusted JSON: nesting bounded before parsing, non-JSON numbers refused, text made sendable."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.bounded_json import (
    JsonRejected,
    check_depth,
    has_lone_surrogate,
    load_bounded_json,
    repair_text,
)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b"[" * 100_000,  # unterminated as well: still refused for depth, not parsed
        b'[{"a":[' * 11 + b"]}]" * 11,  # 33 levels, mixed
    ],
)
def test_deep_nesting_is_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(JsonRejected, match="nested deeper than 32 levels"):
        load_bounded_json(body, max_depth=32)


def test_nesting_at_the_limit_is_parsed() -> None:
    assert load_bounded_json(b"[" * 32 + b"]" * 32, max_depth=32) is not None


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"text": "[[[[{{{{" * 100, "escaped": '\\"[[[[' * 50}).encode()
    assert load_bounded_json(body, max_depth=2)["text"].startswith("[[[[")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"NaN", "NaN is not a JSON number"),
        (b'{"amount": Infinity}', "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b'{"amount": 1e400}', "a number is too large"),
        (b"1" * 5000, "a number is too long"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"a": }', "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_what_json_does_not_allow_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(JsonRejected) as raised:
        load_bounded_json(body)
    assert reason in raised.value.reason


def test_a_reason_never_echoes_the_input() -> None:
    with pytest.raises(JsonRejected) as raised:
        load_bounded_json(b'{"secret words": ]')
    assert "secret" not in raised.value.reason


def test_pathological_unterminated_strings_are_scanned_in_linear_time() -> None:
    # `"\"` repeated: every quote opens a string that never closes. A backtracking scan
    # would take minutes; this one is linear. (A loose bound: it takes ~20 ms.)
    body = b'"\\"' * 300_000
    started = time.perf_counter()
    with pytest.raises(JsonRejected):
        load_bounded_json(body)
    assert time.perf_counter() - started < 2


def test_check_depth_accepts_bytes() -> None:
    with pytest.raises(JsonRejected):
        check_depth(b"[[[", max_depth=2)
    check_depth(b"[[]]", max_depth=2)


def test_lone_surrogates_and_sqs_refused_characters_are_repaired() -> None:
    text = json.loads('"a\\udc00b\\ud83d\\ude00c\\uffffd\\ud800"')
    assert has_lone_surrogate(text)
    repaired = repair_text(text)
    assert repaired == "a\ufffdb\U0001f600c\ufffdd\ufffd"
    assert not has_lone_surrogate(repaired)
    repaired.encode()
    assert repair_text("plain") == "plain"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


def _depth(value: object) -> int:
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        return 1 + max((_depth(child) for child in children), default=0)  # type: ignore[union-attr]
    return 0


@settings(max_examples=80, deadline=None)
@given(_json)
def test_json_is_refused_exactly_when_nested_too_deeply(document: object) -> None:
    body = json.dumps(document).encode()  # lone surrogates travel as \\uXXXX escapes
    if _depth(document) > 3:
        with pytest.raises(JsonRejected, match="nested deeper than 3 levels"):
            load_bounded_json(body, max_depth=3)
    else:
        assert json.dumps(load_bounded_json(body, max_depth=3)) == json.dumps(document)


_TOKENS = ["[", "]", "{", "}", '"', "\\", ":", ",", "1", "-0.5e3", "1e400", "NaN", "true", " ", "a"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join) | st.binary(max_size=100))
def test_nothing_deeper_than_the_limit_is_ever_parsed(body: str | bytes) -> None:
    try:
        parsed = load_bounded_json(body, max_depth=3)
    except JsonRejected:
        return
    assert _depth(parsed) <= 3
