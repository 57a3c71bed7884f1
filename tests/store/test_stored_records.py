"""``FederationStore.stored_records``: which of a page's record ids this node already holds, on
both databases (a follower skips those; ``passport_api.federation``)."""

from __future__ import annotations

import hashlib

from ledger.store.federation import FederationStore
from ledger.store.ledger import Ledger
from tests.store.support import member, set_update


def test_only_the_stored_ids_come_back(ledger: Ledger) -> None:
    updates = [set_update(member()) for _ in range(3)]
    raws = [raw for raw, _ in updates]
    for raw, blobs in updates[:2]:
        ledger.append(raw, blobs)
    ids = [hashlib.sha256(r).digest() for r in raws]
    store = FederationStore(ledger.engine)
    assert store.stored_records([ids[2], ids[0], ids[0]]) == {ids[0]}
    assert store.stored_records(ids) == set(ids[:2])
    assert store.stored_records([b"\x00" * 32]) == set()
    assert store.stored_records([]) == set()
    # more ids than one IN (...) query takes: the chunks are joined
    many = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1200)] + ids
    assert store.stored_records(many) == set(ids[:2])
