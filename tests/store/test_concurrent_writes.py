"""Writers in several threads at once on SQLite: every write transaction of the store takes the
write lock at BEGIN (BEGIN IMMEDIATE), so a transaction that reads then writes waits for the
lock instead of failing at once with SQLITE_BUSY ("database is locked", a 503 under concurrent
check-ins before).  Also run on PostgreSQL, where row locks do the same."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from ledger.store.access import AccessStore
from ledger.store.federation import FederationStore
from ledger.store.ledger import Ledger

THREADS = 8
ROUNDS = 15


def run_all(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def test_concurrent_check_ins_and_receipts_all_succeed(ledger: Ledger) -> None:
    access = AccessStore(ledger.engine)
    space = "did:key:z6MkSpace"

    def work(n: int) -> None:
        for i in range(ROUNDS):
            nonce, _ = access.issue_challenge(space, now_ms=1_000, ttl_ms=60_000)
            access.use_challenge(hashlib.sha256(nonce.encode()).digest(), space,
                                 bytes([n, i]) * 16, now_ms=2_000)
            assert access.first_use(f"did:{n}", f"nonce-{i}", expires_ms=9_000, now_ms=2_000)
            access.add_receipt(f"did:m{n}", "did:s", i, b"{}", b"\x01" * 64,
                               sign=ledger.sign_statement)

    assert run_all(work) == []
    assert sum(len(access.receipts(f"did:m{n}", limit=1000)) for n in range(THREADS)) == (
        THREADS * ROUNDS)


def test_concurrent_peer_updates_all_succeed(ledger: Ledger) -> None:
    federation = FederationStore(ledger.engine)

    def work(n: int) -> None:
        for i in range(ROUNDS):
            peer = federation.ensure_peer(f"http://peer-{i % 3}.example", now_ms=i)
            federation.save_peer(peer, now_ms=i)
            federation.note_error(peer.url, f"thread {n}", now_ms=i)

    assert run_all(work) == []
    assert len(federation.peers()) == 3
