"""``sha256:<hex>`` names are built and parsed in one place (``ledger.encoding``)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.encoding import digest_name, is_digest_name, parse_digest_name, sha256_name
from ledger.errors import EncodingError


@given(st.binary(min_size=32, max_size=32))
def test_a_digest_round_trips(digest: bytes) -> None:
    name = digest_name(digest)
    assert is_digest_name(name) and parse_digest_name(name) == digest


@given(st.binary(max_size=200))
def test_sha256_name_is_the_hash_of_the_bytes(data: bytes) -> None:
    assert sha256_name(data) == "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("bad", ["", "sha256:", "sha256:" + "ab" * 31, "sha256:" + "AB" * 32,
                                 "sha512:" + "ab" * 32, "sha256:" + "ab" * 32 + " ",
                                 "sha256:" + "zz" * 32])
def test_anything_else_is_refused_by_name(bad: str) -> None:
    assert not is_digest_name(bad)
    with pytest.raises(EncodingError, match="blob name"):
        parse_digest_name(bad, what="blob name")
