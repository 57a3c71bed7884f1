"""Where a scoped read's work runs: on SQLite its preparation on the event loop (no hop to a
route thread and back), on PostgreSQL in the route thread pool (a network wait must not stall
the worker's loop); the group commit of receipts on a lane of its own, so it never waits
behind route threads, and the route pool leaves a connection for each lane and the loop."""

from __future__ import annotations

import asyncio
import secrets
import threading

import anyio.to_thread
import pytest

from ledger.store.access import AccessStore, ReceiptToWrite
from ledger.store.ledger import Ledger
from ledger.times import now_ms
from passport_api import app as node_app
from passport_api import lanes, reads
from passport_api.auth import SignedRequest
from passport_api.ratelimit import Limiter, Limits
from passport_api.read_cache import ReadCache
from tests.faults.test_access_more import read_body, signed
from tests.store.support import run_loop
from tests.store.test_stored_views import SERVICE, SERVICE_DID, granting, read


def _request(member: str) -> SignedRequest:
    body = read_body(member, ["today"])
    return SignedRequest("POST", "/v1/reads", "", signed(SERVICE, "POST", "/v1/reads", body),
                         body, now_ms() // 1000)


def test_a_read_is_prepared_on_the_loop_on_sqlite_and_in_a_thread_elsewhere(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    member = granting(ledger)
    cache = ReadCache(ledger)
    writer = reads.ReceiptWriter(AccessStore(ledger.engine), ledger.sign_statement)
    threads: list[int] = []
    prepare = reads.verify_and_prepare

    def watched(*args: object, **kw: object) -> object:
        threads.append(threading.get_ident())
        return prepare(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(reads, "verify_and_prepare", watched)

    async def one_read() -> tuple[int, reads.ServedRead]:
        served = await reads.scoped_read(cache, writer, AccessStore(ledger.engine),
                                         Limiter(Limits()), _request(member.did),
                                         member=member.did, fields=["today"], now_ms=now_ms())
        return threading.get_ident(), served

    loop_thread, served = run_loop(one_read())
    assert [f.field for f in served.fields] == ["today"] and served.receipt_id > 0
    sqlite = ledger.engine.dialect.name == "sqlite"
    assert cache.on_loop is sqlite
    assert (threads == [loop_thread]) is sqlite


def test_a_group_commit_does_not_wait_for_a_route_thread(ledger: Ledger) -> None:
    """Every route thread busy (the default limiter's one token held): the receipts of a
    group are still committed, on the writer's lane."""
    member = granting(ledger)
    prepared = read(ReadCache(ledger), member.did)
    assert isinstance(prepared, reads.PreparedRead), prepared
    writer = reads.ReceiptWriter(AccessStore(ledger.engine), ledger.sign_statement)
    release = threading.Event()

    async def commit_while_the_pool_is_full() -> int:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        busy = asyncio.ensure_future(anyio.to_thread.run_sync(release.wait))
        await asyncio.sleep(0.05)  # the only route thread is taken
        try:
            return await asyncio.wait_for(writer.write(ReceiptToWrite(
                keyid=SERVICE_DID, nonce=secrets.token_urlsafe(18),
                nonce_expires_ms=now_ms() + 60_000, member=member.did,
                service=SERVICE_DID, served_ms=prepared.served_ms,
                receipt=prepared.receipt, node_sig=prepared.node_sig)), timeout=20)
        finally:
            release.set()
            await busy

    assert run_loop(commit_while_the_pool_is_full()) > 0


def test_the_route_pool_leaves_a_connection_for_each_lane_and_the_loop(ledger: Ledger) -> None:
    async def sized() -> float:
        node_app.size_thread_pool(ledger)
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    capacity = ledger.pool_capacity()
    assert capacity is not None
    assert run_loop(sized()) == capacity - lanes.LANES - 1
