"""Hostile input shared by ``test_hostile_parsers.py`` and ``test_hostile_http.py``: a real
record to mutate, byte-level mutations, JSON written the way an attacker writes it, deep nesting,
the example budgets, and the count of inputs tried (the figures in docs/security.md)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.chain import Author
from tests.store.support import set_update

EXAMPLES = int(os.environ.get("PASSPORT_FUZZ_EXAMPLES", "100"))
HTTP_EXAMPLES = int(os.environ.get("PASSPORT_FUZZ_HTTP_EXAMPLES", "40"))
SLOW_EXAMPLES = 3000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
TRIED: dict[str, int] = {}  # target → inputs tried, for the figures in docs/security.md


def count(target: str) -> None:
    TRIED[target] = TRIED.get(target, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Any:
    yield
    if TRIED:
        print("\nhostile inputs tried: " + ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
              + f", total {sum(TRIED.values())}")
        TRIED.clear()  # each module reports its own


AUTHOR = Author(keys.generate())
GOOD_RECORD, _ = set_update(AUTHOR, "today", "a value to mutate")

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> bytes:
    """``good`` with a few byte-level edits: flips, deletions, insertions, truncation."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8)
                               | st.sampled_from([b" ", b"\\u0000", b"\xff", b"\xed\xa0\x80",
                                                  b'"', b"{", b"[", b",", b"1e400"]))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


def hostile_json_bytes() -> st.SearchStrategy[bytes]:
    """JSON text the way an attacker writes it: any spacing, order, escapes and encodings."""
    def dump(value: Any, sort: bool, ascii_: bool, sep: tuple[str, str]) -> bytes:
        try:
            return json.dumps(value, sort_keys=sort, ensure_ascii=ascii_,
                              separators=sep).encode("utf-8", "surrogatepass")
        except (ValueError, TypeError):
            return b"{}"
    return st.builds(dump, st.dictionaries(st.text(max_size=8), json_values, max_size=6),
                     st.booleans(), st.booleans(),
                     st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]))


NESTED = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
          b"[" * 100_000]
