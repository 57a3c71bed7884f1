"""Scoped reads: what a service may read of a member's passport, and the receipt it leaves.

The decision is ``ledger.consent.authorize``; this module fetches what it allows, proves it
against a signed tree head, and writes the node-signed receipt (with the request's nonce, in
one transaction) before anything is served, so no read goes unrecorded and none is replayed.

Per worker, ``ReadCache`` keeps the latest signed head and each member's folded consent view;
every read first asks the database for the log size, the member's chain seq and the signer's
keys in force (one indexed query, ``HotPath.marks_and_keys``; with the member's whole chain
in the same statement when no view of them is kept, ``marks_keys_and_chain``), and a view is
reused only while that seq is unchanged: a revoke is a record on the member's chain, so it
moves the seq and the next read applies the records since the cached seq to a copy of the
view (``view``); a removed or rotated-away key is refused on the next read.
``ReceiptWriter`` commits the receipts of concurrent reads together (group commit); each
answer waits for the commit that holds its receipt.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from ledger import consent, keys
from ledger.encoding import b64url_encode, canonical
from ledger.store import tiles, view_states
from ledger.store.access import AccessStore, ReceiptToWrite
from ledger.store.blobs import digest_of, in_order
from ledger.store.ledger import Ledger, SignedTreeHead
from ledger.times import format_ts
from passport_api.auth import Caller, SignedRequest, check_signed
from passport_api.errors import ForbiddenError, ReplayedRequestError
from passport_api.lanes import CommitLane
from passport_api.ratelimit import Limiter
from passport_api.read_cache import KeptView, ReadCache, StoredView

log = logging.getLogger("passport.reads")
RECEIPT_DOMAIN = keys.RECEIPT_DOMAIN


@dataclass(frozen=True)
class ServedField:
    field: str
    grant: str
    index: int
    record: bytes
    blob: bytes
    wrapped_key: str
    inclusion: list[bytes]


@dataclass(frozen=True)
class ServedRead:
    member: str
    tree_head: SignedTreeHead
    fields: list[ServedField]
    receipt_id: int
    receipt: bytes
    node_sig: bytes


@dataclass(frozen=True)
class PreparedRead:
    """Everything a read serves, and its signed receipt: not served until the receipt is in."""

    member: str
    service: str
    tree_head: SignedTreeHead
    fields: list[ServedField]
    receipt: bytes
    node_sig: bytes
    served_ms: int
    view_state: view_states.ViewState | None = None  # stored with the receipt


def warm_in_background(ledger: Ledger) -> threading.Thread:
    """Load the Merkle rows proofs read (``Ledger.warm_proofs``) on a thread of its own, so
    the worker serves meanwhile; a failure only leaves the rows to be read on demand."""
    def warm() -> None:
        try:
            ledger.warm_proofs()
        except Exception as e:  # never fatal: every proof still reads what it misses
            log.warning("could not preload the Merkle rows for proofs: %s", type(e).__name__)

    thread = threading.Thread(target=warm, name="warm-proofs", daemon=True)
    thread.start()
    return thread


def prepare_read(cache: ReadCache, *, service: str, member: str, fields: list[str],
                 request: dict[str, Any], now_ms: int) -> PreparedRead:
    """Serve every field or none: a refused field makes the whole read a 403 with reasons."""
    with cache.hot.reading() as (conn, cur):  # one connection for every query of the read
        if cache.state_key is None:
            marks = cache.ledger.read_marks(member, conn)
            return _prepare(cache, conn, cur, marks, service=service, member=member,
                            fields=fields, request=request, now_ms=now_ms)
        size, seq, _, found = cache.hot.marks_keys_and_view(conn, cur, member, service)
        return _prepare(cache, conn, cur, (size, seq), service=service, member=member,
                        fields=fields, request=request, now_ms=now_ms,
                        stored=None if found is None else StoredView(*found),
                        cold=not cache.holds(member))


def verify_and_prepare(cache: ReadCache, limiter: Limiter, signed: SignedRequest, *,
                       member: str, fields: list[str], now_ms: int,
                       checked: Caller | None = None
                       ) -> tuple[Caller, PreparedRead | ForbiddenError]:
    """The signature check and the read's preparation in one worker thread, over one
    connection: one thread hop and one pool checkout per read instead of two.  The signer's
    keys are read from the database here, every time (a removed key is refused at once), in
    the same statement as the read marks, and, if no consent view of the member is kept, the
    member's chain too (one statement: the view is folded from the same snapshot).
    ``checked``: the caller, already verified (by ``reads_async``, which then found the read
    needs more statements than it runs): its keys are not checked, nor charged, again."""
    hot = cache.hot
    cold = not cache.holds(member)
    with hot.reading() as (conn, cur):
        marks: list[tuple[int, int]] = []
        chains: list[list[Any]] = []
        rows: list[StoredView | None] = []

        def keys_of(did: str) -> list[bytes]:
            if cold and cache.state_key is not None:
                size, seq, in_force, found = hot.marks_keys_and_view(conn, cur, member, did)
                rows.append(None if found is None else StoredView(*found))
            elif cold:
                size, seq, in_force, chain = hot.marks_keys_and_chain(
                    conn, cur, member, did, consent.CONSENT_TYPES)
                chains.append(chain)
            else:
                size, seq, in_force = hot.marks_and_keys(conn, cur, member, did)
            marks.append((size, seq))
            return in_force

        if checked is None:
            who = check_signed(signed, keys_of, limiter)
        else:
            keys_of(checked.did)
            who = checked
        try:
            return who, _prepare(cache, conn, cur, marks[-1], service=who.did, member=member,
                                 fields=fields, request=who.proof, now_ms=now_ms,
                                 chain=chains[-1] if chains else None,
                                 stored=rows[-1] if rows else None, cold=bool(rows))
        except ForbiddenError as refused:
            return who, refused


def _prepare(cache: ReadCache, conn: Any, cur: Any, marks: tuple[int, int], *, service: str,
             member: str, fields: list[str], request: dict[str, Any], now_ms: int,
             chain: list[Any] | None = None, stored: StoredView | None = None,
             cold: bool = False) -> PreparedRead:
    """``cold``: the marks statement read the member's stored view (``stored``, None if
    there is none); a view made otherwise is stored with the receipt."""
    size, seq = marks
    kept = cache.view(member, seq, conn, cur, chain=chain, stored=stored)
    plan = plan_read(cache, kept, size, service=service, fields=fields, now_ms=now_ms,
                     rows=lambda keys: cache.hot.tile_rows(conn, cur, keys))
    blobs = _blobs(cache, conn, cur, plan.names())
    return finish_read(cache, plan, blobs, member=member, request=request, now_ms=now_ms,
                       cold=cold)


@dataclass(frozen=True)
class ReadPlan:
    """A read decided and proved against a signed head: all but its values and receipt."""

    service: str
    kept: KeptView
    allowed: list[consent.Allowed]
    indexes: list[int]
    head: SignedTreeHead
    proofs: list[list[bytes]]

    def names(self) -> list[str]:
        return [a.record.body["blob"] for a in self.allowed]


class NeedsDatabase(Exception):
    """A read without I/O (``plan_read(..., rows=None)``) found it needs a statement."""


def plan_read(cache: ReadCache, kept: KeptView, size: int, *, service: str, fields: list[str],
              now_ms: int, rows: tiles.RowReader | None) -> ReadPlan:
    """Decide with the member's view and prove each allowed field against a signed head of
    at least ``size``, the log size the read's marks saw.  Proof rows the worker lacks are
    read with ``rows``; with ``rows=None`` nothing is read (``NeedsDatabase`` instead: the
    head must be cached and every proof row kept)."""
    decided = consent.authorize(kept.view, service, fields, now_ms)
    if decided.refused:
        reasons = {r.field: {"reason": str(r.reason), "detail": r.message}
                   for r in decided.refused}
        raise ForbiddenError("the member has not granted this service every field "
                        f"asked for: {', '.join(sorted(reasons))}", fields=reasons)
    allowed = list(decided.allowed)
    indexes = [kept.index_of[a.record.id] for a in allowed]
    at_least = max([size, *(i + 1 for i in indexes)])
    head = cache.head(at_least) if rows is not None else cache.ready_head(at_least)
    if head is None:
        raise NeedsDatabase("the log has grown past the cached signed head")
    # A head cached by another request may be newer than this read's snapshot: its tree's
    # nodes are then read on a fresh connection, which sees the commit that signed it.
    if rows is None:
        reader: tiles.RowReader | None = _no_rows
    else:  # a head newer than the snapshot: its rows on a connection of the ledger's own
        reader = rows if head.head.size <= size else None
    proofs = cache.ledger.inclusion_proofs(indexes, head.head.size, read=reader)
    return ReadPlan(service, kept, allowed, indexes, head, proofs)


def _no_rows(keys: set[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
    raise NeedsDatabase(f"{len(keys)} proof rows are not kept in this worker")


def finish_read(cache: ReadCache, plan: ReadPlan, blobs: list[bytes], *, member: str,
                request: dict[str, Any], now_ms: int, cold: bool) -> PreparedRead:
    """The served fields and the node-signed receipt of a planned read, with its values."""
    served = [ServedField(field=a.field, grant=a.grant_id, index=index, record=a.record.raw,
                          blob=blob, wrapped_key=a.wrapped_key, inclusion=proof)
              for a, index, proof, blob in zip(plan.allowed, plan.indexes, plan.proofs, blobs,
                                               strict=True)]
    head = plan.head
    receipt = canonical({
        "v": 1, "type": "passport.receipt", "member": member, "service": plan.service,
        "served": format_ts(now_ms),
        "fields": [{"field": a.field, "grant": a.grant_id, "record": a.record.id}
                   for a in plan.allowed],
        "log": {"origin": head.head.origin, "size": head.head.size},
        "request": request,
    })
    node_sig = cache.ledger.sign_statement(RECEIPT_DOMAIN, receipt)
    return PreparedRead(member, plan.service, head, served, receipt, node_sig, now_ms,
                        cache.to_store(member, plan.kept) if cold else None)


def _blobs(cache: ReadCache, conn: Any, cur: Any, names: list[str]) -> list[bytes]:
    """The values named, in order, in one query; refused if one is missing or erased."""
    digests = [digest_of(name) for name in names]
    return in_order(names, digests, cache.hot.blobs(conn, cur, digests) if digests else {})


class ReceiptWriter:
    """Group commit of read receipts, per worker: the reads that arrive while one transaction
    commits go together in the next one, on a thread of its own (``lanes``).  ``write``
    returns once its receipt is durable."""

    def __init__(self, access: AccessStore, sign: Callable[[bytes, bytes], bytes]) -> None:
        self._access = access
        self._sign = sign  # the log key's: each receipt is chained into the evidence chain
        self._queue: list[tuple[ReceiptToWrite, asyncio.Future[int | None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._lane = CommitLane()

    async def write(self, item: ReceiptToWrite) -> int:
        """The receipt's id, once committed; ``ReplayedRequestError`` if its nonce was spent."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        receipt_id = await asyncio.shield(future)
        if receipt_id is None:
            raise ReplayedRequestError("this signed request was already used (same key and nonce)")
        return receipt_id

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            try:
                ids = await self._lane.run(self._access.spend_and_receipt,
                                           [item for item, _ in group],
                                           max(item.served_ms for item, _ in group),
                                           self._sign)
            except Exception as e:  # every read of the group failed with it
                for _, future in group:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), receipt_id in zip(group, ids, strict=True):
                if not future.done():
                    future.set_result(receipt_id)


async def scoped_read(cache: ReadCache, writer: ReceiptWriter, access: AccessStore,
                      limiter: Limiter, signed: SignedRequest, *, member: str,
                      fields: list[str], now_ms: int,
                      on_loop: Callable[..., Awaitable[tuple[Caller, PreparedRead
                                                             | ForbiddenError]]] | None = None
                      ) -> ServedRead:
    """Verify the signature and prepare the read, then commit its receipt and spend its nonce
    together; a refused read spends the nonce alone (so a replay of it is refused as a
    replay, as before).  On SQLite the preparation runs on the event loop
    (``ReadCache.on_loop``); on PostgreSQL, with ``on_loop`` (``reads_async``), the common
    read too, its statements awaited; else in the route thread pool."""
    if cache.on_loop:
        who, prepared = verify_and_prepare(cache, limiter, signed, member=member,
                                           fields=fields, now_ms=now_ms)
    elif on_loop is not None:
        who, prepared = await on_loop(cache, limiter, signed, member=member, fields=fields,
                                      now_ms=now_ms)
    else:
        who, prepared = await run_in_threadpool(verify_and_prepare, cache, limiter, signed,
                                                member=member, fields=fields, now_ms=now_ms)
    keyid, nonce, expires_ms = who.replay
    if isinstance(prepared, ForbiddenError):
        if not await run_in_threadpool(access.first_use, keyid, nonce, expires_ms, now_ms):
            raise ReplayedRequestError("this signed request was already used (same key and nonce)"
                                  ) from None
        raise prepared
    return await commit_read(writer, prepared, who.replay)


async def commit_read(writer: ReceiptWriter, prepared: PreparedRead,
                      replay: tuple[str, str, int]) -> ServedRead:
    """The read, once its receipt and its nonce are committed (in one group transaction)."""
    keyid, nonce, expires_ms = replay
    receipt_id = await writer.write(ReceiptToWrite(
        keyid=keyid, nonce=nonce, nonce_expires_ms=expires_ms, member=prepared.member,
        service=prepared.service, served_ms=prepared.served_ms, receipt=prepared.receipt,
        node_sig=prepared.node_sig, view_state=prepared.view_state))
    return ServedRead(prepared.member, prepared.tree_head, prepared.fields, receipt_id,
                      prepared.receipt, prepared.node_sig)


def receipt_json(receipt_id: int, receipt: bytes, node_sig: bytes) -> dict[str, Any]:
    return {"id": receipt_id, "receipt": receipt.decode("utf-8"),
            "node_sig": b64url_encode(node_sig)}
