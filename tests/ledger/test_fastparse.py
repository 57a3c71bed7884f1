"""ledger.fastparse: the one-pass path accepts only what the field-by-field checks accept.

``parse_record`` takes the fast path's answer when there is one and otherwise the slow path's,
so the two together accept and refuse exactly what the slow path alone does as long as the
fast path never accepts a record the slow path refuses, nor reads one differently.  That is
checked here on valid records of every type and on records changed at every place the
schemas speak of (boundary lengths, patterns, types, repeats, extra and missing keys, bytes
that are not canonical).
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.workload import _generate_task
from ledger.bodies import RECORD_TYPES
from ledger.encoding import b64url_encode, canonical
from ledger.errors import PassportError
from ledger.fastparse import parse_fast
from ledger.records import MAX_CLOCK_SKEW_S, Record, _parse_slow, named_digest, parse_record
from tests.ledger.support import DIGEST_A, OTHER_DID, raw_record, valid_bodies
from tests.ledger.test_records import records

SLOW_ONLY = {"profile"}  # types the fast path leaves to the slow one


def _fields(rec: Record) -> tuple[object, ...]:
    return rec.author, rec.seq, rec.prev, rec.ts, rec.ts_ms, rec.type, rec.sig


def _agree(raw: bytes, now: int | None = None) -> bool:
    """The fast path's answer, if any, is the slow path's; returns whether it answered."""
    fast = parse_fast(raw, now, MAX_CLOCK_SKEW_S)
    try:
        slow: Record | PassportError = _parse_slow(raw, now, MAX_CLOCK_SKEW_S)
    except PassportError as e:
        slow = e
    if fast is not None:
        assert isinstance(slow, Record), f"fast path accepted what the slow one refuses: {slow}"
        assert fast == _fields(slow)
        assert parse_record(raw, now=now).body == slow.body  # the body, parsed again on use
    try:
        whole: Record | PassportError = parse_record(raw, now=now)
    except PassportError as e:
        whole = e
    if isinstance(slow, Record):
        assert isinstance(whole, Record) and whole.id == slow.id
    else:
        assert type(whole) is type(slow) and str(whole) == str(slow)
    return fast is not None


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_every_valid_body_agrees_and_the_common_types_go_fast(record_type: str) -> None:
    raw = raw_record(type=record_type, body=valid_bodies()[record_type])
    assert _agree(raw) == (record_type not in SLOW_ONLY)


def test_the_benchmark_workload_goes_fast() -> None:
    raws = [raw for _, raw, _ in _generate_task(3, [4, 7, 2])]
    assert raws and all(_agree(raw) for raw in raws)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_generated_records_agree(record: Any) -> None:
    _agree(record.raw)


# --- changed records ---------------------------------------------------------------------------

def _b64(n: int) -> str:
    return b64url_encode(bytes(range(256)) * (n // 256) + bytes(range(n % 256)))


TRICKY: list[Any] = [
    None, True, False, 0, 1, -1, 2**53 - 1, 2**53, 1.5, "", "a", "A", "a" * 64, "a" * 65,
    "x" * 500, "x" * 501, "\U0001F600" * 500, "\U0001F600" * 501, "ab\n", "é", [], {}, ["a"],
    ["a", "a"], ["email", "name"], ["email", "email"], ["name"], {"a": 1}, {"é": 1},
    {"a": 1.5}, {"a": 2**60},
    {"a": 1e21}, {"a": 1e-7}, {"a": -0.0}, {"a": [1.0]}, {"é": "x"}, -(2**53),
    DIGEST_A, DIGEST_A + "\n", DIGEST_A.upper(), DIGEST_A[:-1], "sha256:" + "g" * 64,
    OTHER_DID, OTHER_DID + "\n", OTHER_DID[:-1] + "1", "did:key:z", "did:key:zz",
    "grant_0001", "short", "g" * 64, "g" * 65, "bad token!", "2026-01-31T09:30:00Z",
    "2026-02-30T09:30:00Z", "2026-01-31T09:30:00.1234567Z", "2026-01-31T09:30:00z",
    _b64(1), _b64(256), _b64(257), _b64(16384), _b64(16385), "AB", "AQ", "A", "AAAAA",
    "AR", "AAB", "AAE", "AA==", "A+/_", "a" * 86, _b64(64), _b64(63),
    {OTHER_DID: "AQ"}, {"email": "AQ"}, {"email": "AR"}, {"name": "AQ"},
    {f"k{i}": "AQ" for i in range(65)}, [f"f{i}" for i in range(65)], ["AQ", "AQ"],
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*path, i)))
    return out


def _changed(obj: Any, path: tuple[Any, ...], how: str, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(obj, list):
        copy = list(obj)
        copy[head] = _changed(obj[head], rest, how, new)
        return copy
    copy = dict(obj)
    if rest:
        copy[head] = _changed(obj[head], rest, how, new)
    elif how == "drop":
        del copy[head]
    elif how == "add":
        copy[new if isinstance(new, str) else "extra"] = 1
    elif how == "rename":
        copy[str(new)[:70]] = copy.pop(head)
    else:
        copy[head] = new
    return copy



def _encoded(obj: Any) -> bytes:
    """RFC 8785 where it can be; else orjson's sorted form, which differs from it exactly
    where a fast path could go wrong (floats like 1e21, integers beyond 2^53)."""
    try:
        return canonical(obj)
    except PassportError:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _base(record_type: str) -> dict[str, Any]:
    body = dict(valid_bodies()[record_type])
    if record_type == "attest":
        body["about"] = DIGEST_A
    return {"v": 1, "author": OTHER_DID, "seq": 3, "prev": DIGEST_A,
            "ts": "2026-01-31T09:30:00.5Z", "type": record_type, "body": body,
            "sig": _b64(64)}


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES - SLOW_ONLY))
def test_every_value_changed_to_every_tricky_value_agrees(record_type: str) -> None:
    """Exhaustive: each place of the record set to each tricky value, dropped, renamed, and
    given a sibling; the fast path must answer for some and never disagree."""
    obj = _base(record_type)
    answered = 0
    for path in _paths(obj):
        changes = [("set", v) for v in TRICKY] + [("drop", None), ("add", "extra"),
                                                  ("rename", "zz")]
        for how, value in changes:
            if not path and how != "set":
                continue
            raw = _encoded(_changed(obj, path, how, value))
            answered += _agree(raw)
            answered += _agree(raw, now=1_769_851_800_000)  # 2026-01-31T09:30:00Z
            answered += _agree(raw, now=1_769_848_000_000)  # an hour before: too far ahead
    assert answered > 10


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(RECORD_TYPES - SLOW_ONLY)), st.data())
def test_changed_bytes_agree(record_type: str, data: Any) -> None:
    raw = canonical(_base(record_type))
    i = data.draw(st.integers(0, len(raw)))
    insert = data.draw(st.sampled_from([b" ", b"\n", b"\\", b'"', b",", b"0", b"}", b"\xff",
                                        b'\\u0041', b'"seq":1,', b"e"]))
    cut = data.draw(st.integers(0, 2))
    _agree(raw[:i] + insert + raw[i + cut:])


def test_a_repeated_key_is_left_to_the_slow_path() -> None:
    raw = canonical(_base("passport.clear")).replace(b'"seq":3', b'"seq":3,"seq":3')
    assert not _agree(raw)


def test_random_single_byte_changes_agree() -> None:
    rng = random.Random(5)
    raw = canonical(_base("passport.set"))
    for _ in range(2000):
        i = rng.randrange(len(raw))
        _agree(raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:])


@pytest.mark.parametrize("record_type", ["passport.set", "checkin"])
def test_named_digest_reads_what_the_body_says(record_type: str) -> None:
    raws = [raw for _, raw, _ in _generate_task(4, [6, 9])]
    raws.append(raw_record(type=record_type, body=valid_bodies()[record_type]))
    key = "blob" if record_type == "passport.set" else "nonce_hash"
    seen = 0
    for raw in raws:
        rec = parse_record(raw)
        if rec.type == record_type:
            assert named_digest(rec).hex() == rec.body[key].removeprefix("sha256:")
            seen += 1
    assert seen
