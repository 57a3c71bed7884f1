"""Appending records and reading them back: writes are authenticated by the records' signatures."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request

from ledger.store.ledger import Ledger
from ledger.times import now_ms
from passport_api import erasure
from passport_api.appender import GroupAppender
from passport_api.problems import responses
from passport_api.ratelimit import DailyQuota, Limiter
from passport_api.schemas import (
    DID_PATTERN,
    MAX_INT,
    MEMBER_EXAMPLE,
    RECORD_ID_EXAMPLE,
    AppendOut,
    AppendRequest,
    BatchOut,
    BatchRequest,
    ChainOut,
    RecordOut,
    TreeHeadOut,
    decode_blobs,
)

router = APIRouter(prefix="/v1", tags=["records"])
MAX_PAGE = 1000
APPEND_PROBLEMS = ("bad-request", "payload-too-large", "rate-limited", "equivocation",
                   "invalid-record",
                   "non-canonical-json", "record-too-large", "timestamp-in-future",
                   "bad-signature", "chain-broken", "invalid-blob", "invalid-key", "store-error")
Member = Annotated[str, Path(description="the member's did:key", pattern=DID_PATTERN,
                             examples=[MEMBER_EXAMPLE])]


def claimed_authors(raws: list[bytes]) -> list[str]:
    """The ``author`` each record claims, for the daily quota: checked before the append (a
    forged record claiming someone is refused anyway), charged only once it was accepted."""
    out = []
    for raw in raws:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # the append names what is wrong with it
        if isinstance(obj, dict) and isinstance(obj.get("author"), str):
            out.append(obj["author"])
    return out


def quota_of(request: Request) -> DailyQuota:
    limiter: Limiter = request.app.state.limiter
    return limiter.records


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


@router.post("/records", status_code=201, response_model=AppendOut,
             summary="Append one record (and the blob it names)",
             responses=responses(*APPEND_PROBLEMS))
async def append(body: AppendRequest, request: Request) -> AppendOut:
    """Committed with the other single appends that arrive meanwhile (passport_api.appender);
    answered once the commit that holds it is durable, with a head that includes it."""
    # surrogatepass: a lone surrogate (a JSON "\ud800" escape) becomes bytes the record parser
    # refuses as not UTF-8, instead of an encoding error here (it was a 500).
    raw = body.record.encode("utf-8", "surrogatepass")
    authors = claimed_authors([raw])
    quota = quota_of(request)
    quota.check(authors, now_ms())
    appender: GroupAppender = request.app.state.appender
    result = await appender.append(raw, decode_blobs(body.blobs))
    quota.charge(authors[:1] if not result.duplicate else [], now_ms())
    return AppendOut(index=result.index, id=result.id, duplicate=result.duplicate,
                     tree_head=TreeHeadOut.of(result.tree_head))


@router.post("/records/batch", status_code=201, response_model=BatchOut,
             summary="Append a batch: all of it, in order, or nothing",
             responses=responses(*APPEND_PROBLEMS))
def append_batch(body: BatchRequest, request: Request) -> BatchOut:
    raws = [text.encode("utf-8", "surrogatepass") for text in body.records]
    authors = claimed_authors(raws)
    quota = quota_of(request)
    quota.check(authors, now_ms())
    ledger = ledger_of(request)
    erased = erasure.accepted(ledger, raws, {n: o.encode("utf-8", "surrogatepass")
                                             for n, o in body.erasures.items()}, strict=True)
    result = ledger.append_batch(raws, decode_blobs(body.blobs), erased=erased)
    # accepted, so the authors are the records' verified signers (a batch is charged whole,
    # duplicates included: they are not told apart here)
    quota.charge(authors, now_ms())
    return BatchOut(indexes=result.indexes, ids=result.ids, duplicates=result.duplicates,
                    tree_head=TreeHeadOut.of(result.tree_head))


@router.get("/records/{record_id}", response_model=RecordOut, summary="A record by its id",
            responses=responses("not-found"))
def record(record_id: Annotated[str, Path(description="sha256:<64 hex>",
                                          examples=[RECORD_ID_EXAMPLE])],
           request: Request) -> RecordOut:
    return RecordOut.of(ledger_of(request).record(record_id))


@router.get("/members/{did}/chain", response_model=ChainOut,
            summary="A member's chain, in seq order, a page at a time",
            responses=responses("bad-request"))
def chain(did: Member, request: Request,
          after_seq: Annotated[int, Query(ge=0, le=MAX_INT,
                                          description="return records after this seq")] = 0,
          limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> ChainOut:
    page = ledger_of(request).chain(did, after_seq=after_seq, limit=limit)
    out = [RecordOut.of(s) for s in page]
    last = out[-1] if len(out) == limit else None
    return ChainOut(member=did, records=out,
                    next_after_seq=None if last is None else page[-1].record.seq)
