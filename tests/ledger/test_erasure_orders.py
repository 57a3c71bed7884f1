"""Erasure orders (ledger.erasure.check): a member's signed DELETE of one blob, and nothing else.

The orders are made by the node's own request signer (passport_api.signing.sign_request), as a
wallet's DELETE makes them, so the core's check is tested against the real signature format.
"""

from __future__ import annotations

import json

import pytest

from ledger import keys
from ledger.erasure import check
from passport_api.erasure import encode, sign_order
from passport_api.signing import sign_request

NAME = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def order_with(key: object, **changes: str) -> bytes:
    parts = json.loads(sign_order(key, NAME))  # type: ignore[arg-type]
    parts.update(changes)
    return json.dumps(parts).encode()


def test_the_authors_signed_delete_is_an_order() -> None:
    key = keys.generate()
    assert check(sign_order(key, NAME), NAME, keys.did_of(key), [bytes(key.verify_key)]) is None


def test_any_key_the_chain_held_may_have_signed_it() -> None:
    old, new = keys.generate(), keys.generate()
    did = keys.did_of(old)
    order = sign_order(new, NAME, did)  # signed after a rotation, for the chain's did
    assert check(order, NAME, did, [bytes(old.verify_key), bytes(new.verify_key)]) is None
    assert "does not verify" in str(check(order, NAME, did, [bytes(old.verify_key)]))


@pytest.mark.parametrize(("change", "why"), [
    ({"method": "GET"}, "not an erasure of"),
    ({"path": f"/v1/blobs/{OTHER}"}, "not an erasure of"),
    ({"query": "x=1"}, "does not verify"),
    ({"content-digest": "sha-256=:AAAA:"}, "body is not empty"),
    ({"signature": "sig1=:AAAA:"}, "does not verify"),
    ({"signature-input": "garbage"}, "does not cover"),
])
def test_a_changed_order_is_refused_with_the_reason(change: dict[str, str], why: str) -> None:
    key = keys.generate()
    problem = check(order_with(key, **change), NAME, keys.did_of(key), [bytes(key.verify_key)])
    assert problem is not None and why in problem


def test_an_order_for_another_value_or_by_another_member_is_refused() -> None:
    alice, mallory = keys.generate(), keys.generate()
    order = sign_order(alice, NAME)
    assert "not an erasure of" in str(check(order, OTHER, keys.did_of(alice),
                                            [bytes(alice.verify_key)]))
    forged = sign_order(mallory, NAME, keys.did_of(alice))  # Mallory claims Alice's did
    assert "does not verify" in str(check(forged, NAME, keys.did_of(alice),
                                          [bytes(alice.verify_key)]))
    assert "not the value's author" in str(check(sign_order(mallory, NAME), NAME,
                                                 keys.did_of(alice), [bytes(alice.verify_key)]))


def test_a_request_with_a_body_or_a_long_life_is_not_an_order() -> None:
    key = keys.generate()
    path = f"/v1/blobs/{NAME}"
    with_body = encode({"method": "DELETE", "path": path, "query": "",
                        **sign_request(key, "DELETE", path, "", b"{}")})
    assert "body is not empty" in str(check(with_body, NAME, keys.did_of(key),
                                            [bytes(key.verify_key)]))
    long_lived = encode({"method": "DELETE", "path": path, "query": "",
                         **sign_request(key, "DELETE", path, "", b"", ttl_s=3600)})
    assert "created and expires" in str(check(long_lived, NAME, keys.did_of(key),
                                              [bytes(key.verify_key)]))


@pytest.mark.parametrize("raw", [b"", b"[]", b"{}", b"\xff", b"{" * 5000])
def test_garbage_is_refused_not_raised(raw: bytes) -> None:
    key = keys.generate()
    assert check(raw, NAME, keys.did_of(key), [bytes(key.verify_key)]) is not None
