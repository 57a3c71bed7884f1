"""ledger.encoding: RFC 8785 bytes (fast path and rfc8785 agree), strict parsing, base64url."""

from __future__ import annotations

import base64
import json
import math
import sys
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.encoding import (
    MAX_DEPTH,
    MAX_RECORD_BYTES,
    MAX_SAFE_INTEGER,
    b64url_decode,
    b64url_encode,
    canonical,
    parse_canonical,
)
from ledger.errors import EncodingError, RecordError, RecordTooLargeError

# --- strategies -------------------------------------------------------------------------------

SAFE_INTS = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
# Text over all of Unicode except lone surrogates (hypothesis leaves category Cs out), with
# the awkward corners (controls, DEL, U+2028, astral characters, BMP-end) made likely.
TEXT = st.text() | st.text(st.sampled_from("\x00\x1f\x7f\"\\/é€\u2028\ufb33\uffff😀𝄞a"))
KEYS = st.text(max_size=8) | st.sampled_from(["", "a", "é", "€", "😀", "\ufb33", "\r", "1"])


def json_values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=20)


SCALARS = st.none() | st.booleans() | SAFE_INTS | FINITE | TEXT
ANY_JSON = json_values(SCALARS, KEYS)
# Exactly the values canonical() sends down the json.dumps fast path.
FAST_JSON = json_values(st.none() | st.booleans() | SAFE_INTS | TEXT,
                        st.text(st.characters(max_codepoint=127), max_size=8))
# Floats whose JCS form reads back as a float or a safe integer (see test_big_integral_float).
SURROGATE = "lone surrogate|non-UTF-8"  # the two encoders word it differently
ROUND_TRIP_FLOATS = FINITE.filter(lambda x: abs(x) < 2**53 or abs(x) >= 1e21)
ROUND_TRIP_OBJECTS = st.dictionaries(
    KEYS, json_values(st.none() | st.booleans() | SAFE_INTS | ROUND_TRIP_FLOATS | TEXT, KEYS),
    max_size=6)


# --- canonical() is RFC 8785 -----------------------------------------------------------------


@settings(max_examples=250)
@given(ANY_JSON)
def test_canonical_equals_rfc8785(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


@settings(max_examples=250)
@given(FAST_JSON)
@example({"b": 1, "a": [None, True, False, -0, "\x00\x08\t\n\x0c\r\x1f\x7f\"\\/"]})
@example({"": "\u2028\u2029😀", "A": "", "a": {}, "Z": []})
def test_fast_path_agrees_with_rfc8785(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_rfc8785_key_sorting_example() -> None:
    # RFC 8785 §3.2.3: keys sort by UTF-16 code units, not by code points.
    obj = {"\u20ac": "Euro Sign", "\r": "Carriage Return",
           "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
           "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
           "\u00f6": "Latin Small Letter O With Diaeresis"}
    order = [k for k in json.loads(canonical(obj))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_number_and_string_example() -> None:
    # RFC 8785 §3.2.2 (its numbers example, and escaping of a control character).
    numbers = [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]
    assert canonical(numbers) == b"[333333333.3333333,1e+30,4.5,0.002,1e-27]"
    assert canonical({"a": -0.0, "b": 1.0, "c": "\u000f\n"}) == b'{"a":0,"b":1,"c":"\\u000f\\n"}'


def test_canonical_integer_range_is_ijson() -> None:
    assert (canonical([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER])
            == b"[9007199254740991,-9007199254740991]")
    for bad in (MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 10**30):
        with pytest.raises(EncodingError, match="safe integer"):
            canonical({"n": bad})


@pytest.mark.parametrize(("value", "problem"), [
    (math.nan, "nan"), (math.inf, "inf"), ([-math.inf], "inf"),
    ({"a": "\ud800"}, "surrogate"), ({"\udfff": 1}, "surrogate"),
    ({"é": ["\ud800"]}, "surrogate"), ({"a": ["\ud800", 1.5]}, "surrogate"),
    ({1: "a"}, "keys must be strings"), ({"a": b"bytes"}, "unsupported type"),
])
def test_canonical_refuses(value: Any, problem: str) -> None:
    with pytest.raises(EncodingError, match=problem):
        canonical(value)


def test_canonical_refuses_deep_nesting_as_encoding_error() -> None:
    deep: Any = "é"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(EncodingError, match="nested too deeply"):
        canonical({"a": deep})


# --- parse_canonical ---------------------------------------------------------------------------


@settings(max_examples=150)
@given(ROUND_TRIP_OBJECTS)
@example({"sig": ',"sig":"x"', "é": [1.5, -0.0, 1e21, 5e-324], "\U0001f600": {"\ufb33": None}})
def test_round_trip(obj: dict[str, Any]) -> None:
    raw = canonical(obj)
    parsed = parse_canonical(raw)
    assert parsed == obj
    assert canonical(parsed) == raw  # also catches True read back as 1 and the like


def test_big_integral_float_is_refused_by_the_parser_with_a_clear_error() -> None:
    # JCS writes 2.0**60 as integer digits, which read back as an integer outside I-JSON.
    raw = canonical({"a": 2.0**60})
    assert raw == b'{"a":1152921504606847000}'
    with pytest.raises(EncodingError, match="I-JSON"):
        parse_canonical(raw)


@pytest.mark.parametrize(("raw", "error", "problem"), [
    # whitespace and order
    (b'{"a": 1}', EncodingError, "not canonical JSON .* byte 5"),
    (b' {"a":1}', EncodingError, "not canonical JSON .* byte 0"),
    (b'{"a":1}\n', EncodingError, "not canonical JSON"),
    (b'{"b":1,"a":2}', EncodingError, "not canonical JSON .* byte 2"),
    (b'{"a":{"d":1,"c":2}}', EncodingError, "not canonical JSON"),
    # duplicates
    (b'{"a":1,"a":1}', EncodingError, "duplicate key 'a'"),
    (b'{"a":{"x":1,"x":2}}', EncodingError, "duplicate key 'x'"),
    (b'{"a":1,"b":2,"b":2}', EncodingError, "duplicate key 'b'"),
    # not an object
    (b'[1]', RecordError, "must be a JSON object"),
    (b'"x"', RecordError, "must be a JSON object"),
    (b'null', RecordError, "must be a JSON object"),
    (b'1', RecordError, "must be a JSON object"),
    # not UTF-8 (bad byte, overlong form, an encoded surrogate)
    (b'{"a":"\xff"}', EncodingError, r"not UTF-8 \(byte 6\)"),
    (b'{"a":"\xc0\xaf"}', EncodingError, "not UTF-8"),
    (b'{"a":"\xed\xa0\x80"}', EncodingError, "not UTF-8"),
    # not JSON
    (b'{"a":', EncodingError, "not JSON"),
    (b'{"a":01}', EncodingError, "not JSON"),
    (b'{"a":"\x01"}', EncodingError, "not JSON"),
    (b"{'a':1}", EncodingError, "not JSON"),
    # numbers: I-JSON range, NaN and Infinity, non-canonical spellings
    (b'{"a":9007199254740992}', EncodingError, r"outside the I-JSON range"),
    (b'{"a":-9007199254740992}', EncodingError, r"outside the I-JSON range"),
    (b'{"a":' + b"7" * 5000 + b"}", EncodingError, "outside the I-JSON range"),
    (b'{"a":NaN}', EncodingError, "NaN is not JSON"),
    (b'{"a":Infinity}', EncodingError, "Infinity is not JSON"),
    (b'{"a":-Infinity}', EncodingError, "-Infinity is not JSON"),
    (b'{"a":1e400}', EncodingError, "inf"),
    (b'{"a":1.0}', EncodingError, "not canonical JSON"),
    (b'{"a":1E2}', EncodingError, "not canonical JSON"),
    (b'{"a":-0}', EncodingError, "not canonical JSON"),
    (b'{"a":1e21}', EncodingError, "not canonical JSON"),
    # strings: escapes JCS does not use, lone surrogates
    (b'{"a":"\\u0041"}', EncodingError, "not canonical JSON"),
    (b'{"a":"\\/"}', EncodingError, "not canonical JSON"),
    (b'{"a":"\\u00e9"}', EncodingError, "not canonical JSON"),
    (b'{"a":"\\u001F"}', EncodingError, "not canonical JSON"),
    (b'{"a":"\\ud800"}', EncodingError, SURROGATE),
    (b'{"\\udc00":1}', EncodingError, SURROGATE),
    ('{"é":"\\ud800"}'.encode(), EncodingError, SURROGATE),
    ('{"é":{"\\ud800":1}}'.encode(), EncodingError, SURROGATE),
    (b'{"a":["\\ud800",1.5]}', EncodingError, SURROGATE),
])
def test_parse_refuses(raw: bytes, error: type[Exception], problem: str) -> None:
    with pytest.raises(error, match=problem):
        parse_canonical(raw)


@pytest.mark.parametrize("raw", [
    b"{}", b'{"a":9007199254740991,"b":-9007199254740991}', b'{"a":1e+21,"b":1.5,"c":5e-324}',
    b'{"a":"\\u0000\\b\\t\\n\\f\\r\\u001f\x7f\\"\\\\/"}', '{"é":"€😀\u2028"}'.encode(),
    '{"\\r":0,"1":1,"\u0080":2,"ö":3,"€":4,"😀":5,"\ufb33":6}'.encode(),
])
def test_parse_accepts_canonical(raw: bytes) -> None:
    assert canonical(parse_canonical(raw)) == raw


@pytest.mark.parametrize("inner", [b'"\xc3\xa9"', b"1.5", b"1"])
def test_parse_refuses_deep_nesting_as_encoding_error(inner: bytes) -> None:
    def nested(depth: int) -> bytes:
        return b'{"a":' + b"[" * depth + inner + b"]" * depth + b"}"

    assert parse_canonical(nested(100))["a"]
    for depth in (450, 900):  # near the recursion limit: accepted or refused, never a crash
        try:
            parse_canonical(nested(depth))
        except EncodingError as e:
            assert "nested too deeply" in str(e)
    with pytest.raises(EncodingError, match="nested too deeply"):
        parse_canonical(nested(5000))


def test_size_limit() -> None:
    fits = b'{"a":"' + b"x" * (MAX_RECORD_BYTES - 8) + b'"}'
    assert len(fits) == MAX_RECORD_BYTES
    assert parse_canonical(fits) == {"a": "x" * (MAX_RECORD_BYTES - 8)}
    over = b'{"a":"' + b"x" * (MAX_RECORD_BYTES - 7) + b'"}'
    with pytest.raises(RecordTooLargeError, match=f"{MAX_RECORD_BYTES + 1} bytes; the limit is"):
        parse_canonical(over)
    with pytest.raises(RecordTooLargeError, match="limit is 10"):
        parse_canonical(b'{"a":"xxxxx"}', limit=10)
    assert issubclass(RecordTooLargeError, RecordError)


# --- base64url ----------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64url_decode(text) == data


@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .",
               max_size=12))
def test_b64url_decode_accepts_only_the_one_encoding(text: str) -> None:
    try:
        data = b64url_decode(text)
    except EncodingError:
        return
    assert b64url_encode(data) == text


@pytest.mark.parametrize(("text", "problem"), [
    ("AA==", "without padding"), ("AA=", "without padding"), ("AAA=", "without padding"),
    ("A", "without padding"), ("AAAAA", "without padding"),
    ("A+/A", "without padding"), ("AA AA", "without padding"), ("AAAA\n", "without padding"),
    ("ÀÀÀÀ", "without padding"), ("AB", "canonical base64url"), ("AAB", "canonical base64url"),
    ("_-_-_-_/", "without padding"),
])
def test_b64url_decode_refuses(text: str, problem: str) -> None:
    with pytest.raises(EncodingError, match=problem):
        b64url_decode(text)


def test_b64url_decode_names_what_and_refuses_non_strings() -> None:
    with pytest.raises(EncodingError, match=r"^sig is not base64url"):
        b64url_decode("A=", what="sig")
    for value in (b"AAAA", None, 5, ["AA"]):
        with pytest.raises(EncodingError):
            b64url_decode(value)  # type: ignore[arg-type]
    assert b64url_decode("") == b""
    assert b64url_decode("_-8") == b"\xff\xef"


def test_the_nesting_limit_does_not_depend_on_the_recursion_limit() -> None:
    """py-evm raises the interpreter's recursion limit on import; records must not notice."""
    def nested(depth: int) -> bytes:  # the record object itself is one level
        return b'{"a":' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"

    before = sys.getrecursionlimit()
    try:
        for limit in (before, 100_000):
            sys.setrecursionlimit(limit)
            assert parse_canonical(nested(MAX_DEPTH))["a"]
            with pytest.raises(EncodingError, match="nested too deeply"):
                parse_canonical(nested(MAX_DEPTH + 1))
            deep: Any = 1
            for _ in range(MAX_DEPTH):
                deep = [deep]
            with pytest.raises(EncodingError, match="nested too deeply"):
                canonical({"a": deep})
    finally:
        sys.setrecursionlimit(before)
