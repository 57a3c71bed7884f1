"""The node's access state on both databases: replay guard, challenges, receipts."""

from __future__ import annotations

import hashlib

import pytest

from ledger.errors import ChallengeError
from ledger.store.access import AccessStore
from ledger.store.ledger import Ledger

SPACE = "did:key:z6MkSpace"


@pytest.fixture
def access(ledger: Ledger) -> AccessStore:
    return AccessStore(ledger.engine)


def test_a_nonce_is_accepted_once_until_it_expires(access: AccessStore) -> None:
    assert access.first_use("did:a", "n1", expires_ms=2_000, now_ms=1_000)
    assert not access.first_use("did:a", "n1", expires_ms=2_000, now_ms=1_500)
    assert access.first_use("did:b", "n1", expires_ms=2_000, now_ms=1_500)  # per key
    # once expired it is forgotten (the signed time check refuses such requests anyway)
    assert access.first_use("did:a", "n1", expires_ms=9_000, now_ms=2_001)


def test_challenges_are_single_use_per_space_and_expire(access: AccessStore) -> None:
    nonce, expires = access.issue_challenge(SPACE, now_ms=1_000, ttl_ms=60_000)
    assert expires == 61_000 and len(nonce) >= 32
    h = hashlib.sha256(nonce.encode()).digest()
    with pytest.raises(ChallengeError, match="no challenge of this space"):
        access.use_challenge(h, "did:key:z6MkOther", b"r" * 32, now_ms=2_000)
    with pytest.raises(ChallengeError, match="no challenge"):
        access.use_challenge(b"x" * 32, SPACE, b"r" * 32, now_ms=2_000)
    access.use_challenge(h, SPACE, b"r" * 32, now_ms=2_000)
    access.use_challenge(h, SPACE, b"r" * 32, now_ms=3_000)  # the same check-in again: fine
    with pytest.raises(ChallengeError, match="already used"):
        access.use_challenge(h, SPACE, b"s" * 32, now_ms=3_000)
    late, _ = access.issue_challenge(SPACE, now_ms=1_000, ttl_ms=10)
    with pytest.raises(ChallengeError, match="expired"):
        access.use_challenge(hashlib.sha256(late.encode()).digest(), SPACE, b"t" * 32,
                             now_ms=2_000)


def test_receipts_are_listed_per_member_in_order(access: AccessStore, ledger: Ledger) -> None:
    sign = ledger.sign_statement
    ids = [access.add_receipt("did:m", "did:s", i, b'{"n":%d}' % i, b"\x01" * 64, sign=sign)
           for i in range(5)]
    access.add_receipt("did:other", "did:s", 9, b"{}", b"\x02" * 64, sign=sign)
    listed = access.receipts("did:m", after_id=ids[1], limit=2)
    assert [r.id for r in listed] == ids[2:4]
    assert [r.receipt for r in listed] == [b'{"n":2}', b'{"n":3}']
    assert access.receipts("did:nobody") == []
