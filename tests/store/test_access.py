"""The node's access state on both databases: replay guard, challenges, receipts."""

from __future__ import annotations

import hashlib

import psycopg.pq
import pytest

from ledger.errors import ChallengeError
from ledger.parallel import Verifier
from ledger.store import hotpath
from ledger.store.access import AccessStore, ReceiptToWrite
from ledger.store.audit import audit
from ledger.store.hotpath import ROWS_PER_STATEMENT
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


def _receipt(keyid: str, nonce: str, n: int, expires_ms: int = 2_000) -> ReceiptToWrite:
    return ReceiptToWrite(keyid=keyid, nonce=nonce, nonce_expires_ms=expires_ms,
                          member="did:m", service=keyid, served_ms=1_000,
                          receipt=b'{"n":%d}' % n, node_sig=b"\x01" * 64)


def test_a_group_of_receipts_spends_each_nonce_once(access: AccessStore, ledger: Ledger
                                                    ) -> None:
    """One transaction for many reads: a nonce seen before, or twice in the group, gets no
    receipt (None), the others get theirs, chained into the evidence chain (the audit
    re-derives it); an expired nonce may be spent again."""
    sign = ledger.sign_statement
    assert access.first_use("did:a", "old", expires_ms=2_000, now_ms=1_000)
    access.add_receipt("did:m", "did:s", 1, b'{"n":0}', b"\x01" * 64, sign=sign)
    ids = access.spend_and_receipt([_receipt("did:a", "n1", 1), _receipt("did:a", "old", 2),
                                    _receipt("did:a", "n1", 3), _receipt("did:b", "n1", 4)],
                                   now_ms=1_000, sign=sign)
    assert ids[1] is None and ids[2] is None
    assert ids[0] is not None and ids[3] is not None
    assert [r.receipt for r in access.receipts("did:m")] == [b'{"n":0}', b'{"n":1}',
                                                             b'{"n":4}']
    assert not access.first_use("did:a", "n1", expires_ms=2_000, now_ms=1_500)  # spent
    again = access.spend_and_receipt([_receipt("did:a", "n1", 5, expires_ms=9_000)],
                                     now_ms=2_001, sign=sign)  # expired by then: taken over
    assert again[0] is not None
    # the evidence chain holds every receipt, linked and signed (the receipts' bodies here are
    # not real receipts, which the audit's receipt check would name: only the chain is asked)
    report = audit(ledger.engine, verifier=Verifier(0), public_key=ledger.public_key)
    assert [p for p in report.problems if p.check == "evidence"] == []
    assert {p.check for p in report.problems} == {"receipt"}


def test_a_group_larger_than_one_statement_keeps_its_order(access: AccessStore,
                                                           ledger: Ledger) -> None:
    """The group commit writes up to ROWS_PER_STATEMENT rows per statement: a larger group
    spans several, and each read still gets the id of its own receipt, in the order given,
    with every receipt chained (the audit re-derives the chain from the stored rows)."""
    count = 2 * ROWS_PER_STATEMENT + 7
    items = [_receipt("did:a", f"n{i}", i) for i in range(count)]
    items.insert(5, _receipt("did:a", "n3", 10_000))  # the same nonce again: refused
    ids = access.spend_and_receipt(items, now_ms=1_000, sign=ledger.sign_statement)
    assert ids[5] is None
    served = [i for i in ids if i is not None]
    assert len(served) == count and served == sorted(served)
    listed = {r.id: r.receipt for r in access.receipts("did:m", limit=1000)}
    for item, rid in zip(items, ids, strict=True):
        if rid is not None:
            assert listed[rid] == item.receipt
    report = audit(ledger.engine, verifier=Verifier(0), public_key=ledger.public_key)
    assert [p for p in report.problems if p.check == "evidence"] == []


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_group_commit_sends_its_statements_pipelined_on_postgres(
        access: AccessStore, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL every statement of a group commit goes out in psycopg's pipeline mode
    (the answers of several come back in one round trip); the receipts and their evidence
    are the same as sent one by one (the audit re-derives the chain)."""
    modes: list[psycopg.pq.PipelineStatus] = []
    run = hotpath.HotPath.run

    def watched(self: hotpath.HotPath, conn: object, cur: hotpath.Cursor, *a: object,
                **kw: object) -> object:
        modes.append(cur.driver.connection.pgconn.pipeline_status)
        return run(self, conn, cur, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hotpath.HotPath, "run", watched)
    ids = access.spend_and_receipt([_receipt("did:a", f"p{n}", n) for n in range(3)],
                                   now_ms=1_000, sign=ledger.sign_statement)
    assert all(i is not None for i in ids)
    assert len(modes) >= 4 and set(modes) == {psycopg.pq.PipelineStatus.ON}
    assert [r.receipt for r in access.receipts("did:m")] == [b'{"n":%d}' % n for n in range(3)]
    report = audit(ledger.engine, verifier=Verifier(0), public_key=ledger.public_key)
    assert [p for p in report.problems if p.check == "evidence"] == []  # bodies not receipts
