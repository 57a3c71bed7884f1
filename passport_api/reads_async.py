"""PostgreSQL scoped reads on the event loop, their two statements awaited.

A read in a route thread waited for the GIL at its hop to the thread, at each statement's
answer and at its hop back, while a dozen threads and the loop wanted it: under 100 clients
most of a read's 250 ms went there, with the machine a third idle (docs/benchmarks.md,
issue 18).  Here the common read runs on the loop, and its two statements (the marks with
the signer's keys and the member's stored view, then the values) are awaited on one of the
worker's asynchronous connections (``ledger.store.async_reads``), so the loop serves other
requests meanwhile and no thread is involved.

Only the common read: the consent view must be the worker's kept one or the stored one at
the chain's seq, the signed head cached, every proof row kept (``reads.plan_read`` with no
reader).  Anything else (a member whose chain moved since, a log that grew, a first read
with no stored view) and any database error is answered by the threaded path
(``reads.verify_and_prepare``), which reads what it needs and retries a lost connection; the
caller verified here is handed to it, so its keys are not checked or charged twice.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool

from ledger.errors import StoreError
from ledger.store.async_reads import AsyncCursor, AsyncReader
from ledger.store.blobs import digest_of, in_order
from passport_api import reads
from passport_api.auth import Caller, SignedRequest, check_signed
from passport_api.errors import ForbiddenError
from passport_api.ratelimit import Limiter
from passport_api.read_cache import ReadCache, StoredView
from passport_api.signing import keyid_of

log = logging.getLogger("passport.reads")


class AsyncReads:
    """One worker's asynchronous PostgreSQL reads (``ledger.store.async_reads``)."""

    def __init__(self, reader: AsyncReader) -> None:
        self._reader = reader

    async def close(self) -> None:
        await self._reader.close()

    async def verify_and_prepare(self, cache: ReadCache, limiter: Limiter,
                                 signed: SignedRequest, *, member: str, fields: list[str],
                                 now_ms: int
                                 ) -> tuple[Caller, reads.PreparedRead | ForbiddenError]:
        """``reads.verify_and_prepare``, the common case on the loop, the rest in a thread."""
        signer = keyid_of(signed.headers)
        cold = not cache.holds(member)
        checked: list[Caller] = []
        if signer is not None and not (cold and cache.state_key is None):
            try:
                async with self._reader.reading() as cur:
                    return await _read(cache, (limiter, signed), cur, (signer, cold), checked,
                                       member=member, fields=fields, now_ms=now_ms)
            except (reads.NeedsDatabase, StoreError) as why:
                if isinstance(why, StoreError):
                    log.info("a scoped read goes to the threaded path: %s", why)
        return await run_in_threadpool(reads.verify_and_prepare, cache, limiter, signed,
                                       member=member, fields=fields, now_ms=now_ms,
                                       checked=checked[0] if checked else None)


async def _read(cache: ReadCache, request: tuple[Limiter, SignedRequest],
                cur: AsyncCursor, asked: tuple[str, bool], checked: list[Caller], *,
                member: str, fields: list[str], now_ms: int
                ) -> tuple[Caller, reads.PreparedRead | ForbiddenError]:
    """The read on ``cur``; the caller, once verified, put in ``checked``."""
    hot, (signer, cold), (limiter, signed) = cache.hot, asked, request
    (row,) = await cur.rows(*hot.marks_statement(member, signer, view=cold))
    size, seq, in_force, found = hot.marks_row(row, signer)

    def keys_of(did: str) -> list[bytes]:
        if did != signer:  # the headers were read otherwise than verify_request reads them
            raise reads.NeedsDatabase("the signer is not the keyid read beforehand")
        return in_force

    who = check_signed(signed, keys_of, limiter)
    checked.append(who)
    kept = cache.ready_view(member, seq, None if found is None else StoredView(*found))
    if kept is None:
        raise reads.NeedsDatabase("the member's view must be read or brought forward")
    try:
        plan = reads.plan_read(cache, kept, size, service=who.did, fields=fields,
                               now_ms=now_ms, rows=None)
    except ForbiddenError as refused:
        return who, refused
    names = plan.names()
    digests = [digest_of(name) for name in names]
    stored = hot.blobs_found(await cur.rows(*hot.blobs_statement(digests))) if digests else {}
    return who, reads.finish_read(cache, plan, in_order(names, digests, stored), member=member,
                                  request=who.proof, now_ms=now_ms, cold=cold)
