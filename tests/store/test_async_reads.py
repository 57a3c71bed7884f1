"""PostgreSQL scoped reads on the event loop (``passport_api.reads_async``): the common read
awaits its two statements on a held asynchronous connection, with no route thread; a read
that needs more (the member's chain moved since the kept view) is answered by the threaded
path with the caller already verified, its per-key rate charged once; a connection the
server dropped is replaced and the read still served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from ledger.store.async_reads import AsyncReader
from ledger.store.ledger import Ledger
from ledger.times import now_ms
from passport_api import reads
from passport_api.errors import RateLimitedError
from passport_api.ratelimit import Limiter, Limits, Rate
from passport_api.read_cache import ReadCache
from passport_api.reads_async import AsyncReads
from tests.store.support import run_loop
from tests.store.test_lost_connections import _terminate
from tests.store.test_read_threads import _request
from tests.store.test_stored_views import SERVICE_DID, granting
from wallet.fields import set_field

pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
T = TypeVar("T")


def _on_loop(ledger: Ledger, body: Callable[[AsyncReads, ReadCache], Awaitable[T]]) -> T:
    async def run() -> T:
        fast = AsyncReads(AsyncReader(ledger.engine, connections=2))
        try:
            return await body(fast, ReadCache(ledger))
        finally:
            await fast.close()
    return run_loop(run())


def _threaded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The callers handed to the threaded path, one per read it answered."""
    handed: list[Any] = []
    prepare = reads.verify_and_prepare

    def watched(*args: Any, **kw: Any) -> Any:
        handed.append(kw.get("checked"))
        return prepare(*args, **kw)

    monkeypatch.setattr(reads, "verify_and_prepare", watched)
    return handed


def test_a_read_is_served_on_the_loop_with_no_thread(ledger: Ledger,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    member = granting(ledger)
    handed = _threaded(monkeypatch)

    async def two_reads(fast: AsyncReads, cache: ReadCache) -> list[Any]:
        out = []
        for _ in range(2):  # the first folds and keeps the view, the second takes it
            out.append(await fast.verify_and_prepare(
                cache, Limiter(Limits()), _request(member.did), member=member.did,
                fields=["today"], now_ms=now_ms()))
        return out

    (who1, first), (who2, second) = _on_loop(ledger, two_reads)
    assert who1.did == who2.did == SERVICE_DID
    for prepared in (first, second):
        assert isinstance(prepared, reads.PreparedRead)
        assert [f.field for f in prepared.fields] == ["today"]
        assert prepared.fields[0].blob  # the sealed value, read by the second statement
    # the first read (no view kept or stored yet) went to a thread, its caller verified
    assert [c.did for c in handed] == [SERVICE_DID]


def test_a_read_that_needs_more_goes_to_a_thread_verified_and_charged_once(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    member = granting(ledger)
    handed = _threaded(monkeypatch)
    limiter = Limiter(Limits(per_key=Rate(per_s=0.001, burst=2)))

    async def reads_around_a_change(fast: AsyncReads, cache: ReadCache) -> Any:
        async def read() -> Any:
            return await fast.verify_and_prepare(cache, limiter, _request(member.did),
                                                 member=member.did, fields=["today"],
                                                 now_ms=now_ms())
        await read()  # folds and keeps the view (threaded: nothing stored yet)
        update = set_field(member, "offers", "rides to Utrecht", [])
        ledger.append_batch([update.record.raw], update.blobs)  # the chain moves on
        return await read()

    who, prepared = _on_loop(ledger, reads_around_a_change)
    assert isinstance(prepared, reads.PreparedRead)
    assert [f.field for f in prepared.fields] == ["today"]
    assert prepared.tree_head.head.size == ledger.size()  # proved in the grown log
    assert [c.did for c in handed] == [who.did, who.did]  # no view yet; then a moved chain
    with pytest.raises(RateLimitedError):  # two charged of a burst of two: a third is refused
        _on_loop(ledger, lambda fast, cache: fast.verify_and_prepare(
            cache, limiter, _request(member.did), member=member.did, fields=["today"],
            now_ms=now_ms()))


def test_a_dropped_connection_is_replaced_and_the_read_still_served(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    member = granting(ledger)
    handed = _threaded(monkeypatch)

    async def reads_across_a_restart(fast: AsyncReads, cache: ReadCache) -> list[Any]:
        out = []
        for n in range(5):
            out.append(await fast.verify_and_prepare(
                cache, Limiter(Limits()), _request(member.did), member=member.did,
                fields=["today"], now_ms=now_ms()))
            if n == 0:  # the server drops every connection (the first held one with them)
                await asyncio.to_thread(_terminate, ledger.engine.url)
        return out

    served = _on_loop(ledger, reads_across_a_restart)
    assert all(isinstance(p, reads.PreparedRead) for _, p in served)
    # held connections taken in turn: 1 threaded (no view yet), 2 on a new one, 3 on the
    # dropped one (threaded, and it is closed), 4 and 5 on the live one and the replaced one
    assert len(handed) == 2
