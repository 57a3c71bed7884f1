"""Signed calls: scoped reads, receipts, blobs, check-in challenges."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from ledger.encoding import b64url_encode, parse_digest_name, sha256_name
from ledger.errors import ChallengeError, NotFoundError
from ledger.records import parse_record
from ledger.store.access import AccessStore
from ledger.store.ledger import SignedTreeHead
from passport_api import erasure, reads
from passport_api.auth import Caller, SignedRequest, caller, signed_request
from passport_api.errors import BadRequestSignatureError
from passport_api.problems import responses
from passport_api.routes.records import Member, ledger_of
from passport_api.schemas import BLOB_EXAMPLE, MAX_INT, RecordOut, TreeHeadOut
from passport_api.schemas_access import (
    ChallengeOut,
    CheckinOut,
    ReadOut,
    ReadRequest,
    ReceiptOut,
    ReceiptsOut,
    VerifyCheckin,
)

router = APIRouter(prefix="/v1", tags=["access (signed requests)"])
Signed = Annotated[Caller, Depends(caller)]
# a scoped read checks the signature itself, in the thread that prepares it (reads.py)
SignedParts = Annotated[SignedRequest, Depends(signed_request)]
BlobName = Annotated[str, Path(description="sha256:<64 hex>", examples=[BLOB_EXAMPLE])]
CHALLENGE_TTL_MS = 5 * 60 * 1000
# Every signed call may be refused before it reaches its handler.
UNSIGNED = ("signature-required", "bad-request-signature", "stale-request", "replayed-request")


def access_of(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.access
    return store


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@router.post("/reads", response_model=ReadOut,
             summary="Read the fields a member granted to the calling service",
             responses=responses("bad-request", *UNSIGNED, "forbidden", "blob-erased",
                                 "payload-too-large"))
async def scoped_read(body: ReadRequest, signed: SignedParts, request: Request) -> Response:
    """All the fields asked for, or a 403 whose ``fields`` member gives each refused field's
    reason (``no-grant``, ``not-granted``, ``revoked``, ``expired``, ``no-value``, ``no-key``).
    The signature is checked in the same worker thread as the read is prepared."""
    state = request.app.state
    fast = state.async_reads
    served = await reads.scoped_read(state.read_cache, state.receipt_writer, access_of(request),
                                     state.limiter, signed, member=body.member,
                                     fields=body.fields, now_ms=now_ms(),
                                     on_loop=None if fast is None else fast.verify_and_prepare)
    # ReadOut's shape, serialised directly: the values are ours, so validating them again
    # (FastAPI's response_model pass) would only cost time; the model stays for the schema.
    return Response(orjson.dumps({
        "member": served.member,
        "tree_head": _head_json(served.tree_head),
        "fields": {f.field: {
            "grant": f.grant, "index": f.index, "record": f.record.decode("utf-8"),
            "blob": b64url_encode(f.blob), "wrapped_key": f.wrapped_key,
            "inclusion": [b64url_encode(h) for h in f.inclusion]} for f in served.fields},
        "receipt": reads.receipt_json(served.receipt_id, served.receipt, served.node_sig)}),
        media_type="application/json")


_HEADS: dict[int, tuple[SignedTreeHead, dict[str, Any]]] = {}


def _head_json(head: SignedTreeHead) -> dict[str, Any]:
    """``TreeHeadOut`` of the head reads are served with, built once per head (reads reuse the
    worker's cached head object until the log grows)."""
    kept = _HEADS.get(id(head))
    if kept is None or kept[0] is not head:
        _HEADS.clear()  # one head at a time: the newest
        kept = _HEADS[id(head)] = (head, TreeHeadOut.of(head).model_dump())
    return kept[1]


@router.get("/members/{did}/receipts", response_model=ReceiptsOut,
            summary="Access receipts: every read of the member's passport (only the member "
                    "may list them)",
            responses=responses("bad-request", *UNSIGNED, "forbidden"))
def receipts(did: Member, who: Signed, request: Request,
             after_id: Annotated[int, Query(ge=0, le=MAX_INT,
                                            description="return receipts after this id")] = 0,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ReceiptsOut:
    who.must_be(did, "list this member's receipts")
    found = access_of(request).receipts(did, after_id=after_id, limit=limit)
    return ReceiptsOut(
        member=did,
        receipts=[ReceiptOut(**reads.receipt_json(r.id, r.receipt, r.node_sig)) for r in found],
        next_after_id=found[-1].id if len(found) == limit else None)


@router.get("/blobs/{name}", summary="A sealed value, for its author (services use /v1/reads)",
            response_class=Response,
            responses={200: {"description": "the sealed bytes", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                       **responses(*UNSIGNED, "forbidden", "not-found", "blob-erased")})
def blob(name: BlobName, who: Signed, request: Request) -> Response:
    ledger = ledger_of(request)
    who.must_be(ledger.blob_author(name), "fetch this blob directly")
    return Response(ledger.blob(name), media_type="application/octet-stream")


@router.delete("/blobs/{name}", status_code=204, response_class=Response,
               summary="Erase a sealed value (its author); erasing it again is a no-op",
               responses=responses(*UNSIGNED, "forbidden", "not-found"))
def erase(name: BlobName, who: Signed, request: Request) -> Response:
    ledger = ledger_of(request)
    who.must_be(ledger.blob_author(name), "erase this blob")
    order = erasure.encode(who.proof)  # the signed request is the order, kept as evidence
    problem = erasure.check(order, name, who.did, ledger.keys_in_force(who.did))
    if problem is not None:
        raise BadRequestSignatureError(f"this request cannot serve as an erasure order: {problem}")
    ledger.erase_blob(name, who.did, order)
    return Response(status_code=204)


@router.get("/erasures/{name}", summary="The author's signed order that erased a value (public, "
            "like the erasure itself): what an exported passport carries to another node",
            responses=responses("not-found"))
def erasure_order(name: BlobName, request: Request) -> dict[str, str]:
    orders = ledger_of(request).erasure_orders([name])
    if name not in orders:
        raise NotFoundError(f"no erasure order for {name} at this node")
    return {"name": name, "order": orders[name].decode()}


@router.post("/checkin/challenges", status_code=201, response_model=ChallengeOut,
             summary="A single-use check-in challenge for the calling space's desk",
             responses=responses(*UNSIGNED, "payload-too-large"))
def challenge(who: Signed, request: Request) -> ChallengeOut:
    nonce, expires = access_of(request).issue_challenge(who.did, now_ms(), CHALLENGE_TTL_MS)
    return ChallengeOut(space=who.did, nonce=nonce, expires_ms=expires)


@router.post("/checkin/verify", response_model=CheckinOut,
             summary="Verify a member's check-in against a challenge of the calling space",
             responses=responses("bad-request", *UNSIGNED, "not-found", "payload-too-large",
                                 "invalid-challenge"))
def verify_checkin(body: VerifyCheckin, who: Signed, request: Request) -> CheckinOut:
    """The challenge must be this space's, live, and not answered by another check-in; the
    same check-in may be verified again."""
    ledger = ledger_of(request)
    stored = ledger.record(body.record_id)
    rec = parse_record(stored.raw)
    if rec.type != "checkin":
        raise ChallengeError(f"{rec.id} is a {rec.type} record, not a checkin")
    nonce_hash = parse_digest_name(rec.body["nonce_hash"], what="nonce hash")
    access_of(request).use_challenge(nonce_hash, who.did, rec.digest, now_ms())
    head = ledger.latest_tree_head()
    return CheckinOut(member=rec.author, record=RecordOut.of(stored),
                      tree_head=TreeHeadOut.of(head),
                      inclusion=[b64url_encode(h)
                                 for h in ledger.inclusion_proof(stored.index, head.head.size)])


def nonce_hash_of(nonce: str) -> str:
    """What a member's wallet puts in ``checkin.body.nonce_hash`` for a challenge nonce."""
    return sha256_name(nonce.encode())
