"""Signed calls: scoped reads, receipts, blobs, check-in challenges."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from ledger.encoding import b64url_encode
from ledger.errors import ChallengeError
from ledger.records import parse_record
from ledger.store.access import AccessStore
from passport_api import reads
from passport_api.auth import Caller, caller
from passport_api.routes.records import ledger_of
from passport_api.schemas import RecordOut, Strict, TreeHeadOut

router = APIRouter(prefix="/v1", tags=["access (signed requests)"])
Signed = Annotated[Caller, Depends(caller)]
CHALLENGE_TTL_MS = 5 * 60 * 1000


def access_of(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.access
    return store


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ReadRequest(Strict):
    member: str = Field(description="the member's did:key")
    fields: list[str] = Field(min_length=1, max_length=64)


class VerifyCheckin(Strict):
    record_id: str = Field(description="id of the member's checkin record")


@router.post("/reads", summary="Read the fields a member granted to the calling service")
def scoped_read(body: ReadRequest, who: Signed, request: Request) -> dict[str, Any]:
    served = reads.scoped_read(ledger_of(request), access_of(request), service=who.did,
                               member=body.member, fields=body.fields, request=who.proof,
                               now_ms=now_ms())
    return {
        "member": served.member,
        "tree_head": TreeHeadOut.of(served.tree_head).model_dump(),
        "fields": {f.field: {"grant": f.grant, "index": f.index,
                             "record": f.record.decode("utf-8"),
                             "blob": b64url_encode(f.blob), "wrapped_key": f.wrapped_key,
                             "inclusion": [b64url_encode(h) for h in f.inclusion]}
                   for f in served.fields},
        "receipt": reads.receipt_json(served.receipt_id, served.receipt, served.node_sig),
    }


@router.get("/members/{did}/receipts", summary="Access receipts: every read of the member's "
            "passport (only the member may list them)")
def receipts(did: str, who: Signed, request: Request,
             after_id: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    who.must_be(did, "list this member's receipts")
    found = access_of(request).receipts(did, after_id=after_id, limit=limit)
    return {"member": did,
            "receipts": [reads.receipt_json(r.id, r.receipt, r.node_sig) for r in found],
            "next_after_id": found[-1].id if len(found) == limit else None}


@router.get("/blobs/{name}", summary="A sealed value, for its author (services use /v1/reads)",
            response_class=Response)
def blob(name: str, who: Signed, request: Request) -> Response:
    ledger = ledger_of(request)
    who.must_be(ledger.blob_author(name), "fetch this blob directly")
    return Response(ledger.blob(name), media_type="application/octet-stream")


@router.delete("/blobs/{name}", status_code=204, summary="Erase a sealed value (its author)")
def erase(name: str, who: Signed, request: Request) -> Response:
    ledger = ledger_of(request)
    who.must_be(ledger.blob_author(name), "erase this blob")
    ledger.erase_blob(name, who.did)
    return Response(status_code=204)


@router.post("/checkin/challenges", status_code=201,
             summary="A single-use check-in challenge for the calling space's desk")
def challenge(who: Signed, request: Request) -> dict[str, Any]:
    nonce, expires = access_of(request).issue_challenge(who.did, now_ms(), CHALLENGE_TTL_MS)
    return {"space": who.did, "nonce": nonce, "expires_ms": expires}


@router.post("/checkin/verify", summary="Verify a member's check-in against a challenge of "
             "the calling space")
def verify_checkin(body: VerifyCheckin, who: Signed, request: Request) -> dict[str, Any]:
    ledger = ledger_of(request)
    stored = ledger.record(body.record_id)
    rec = parse_record(stored.raw)
    if rec.type != "checkin":
        raise ChallengeError(f"{rec.id} is a {rec.type} record, not a checkin")
    nonce_hash = bytes.fromhex(rec.body["nonce_hash"][7:])
    access_of(request).use_challenge(nonce_hash, who.did, rec.digest, now_ms())
    head = ledger.latest_tree_head()
    return {"member": rec.author, "record": RecordOut.of(stored).model_dump(),
            "tree_head": TreeHeadOut.of(head).model_dump(),
            "inclusion": [b64url_encode(h)
                          for h in ledger.inclusion_proof(stored.index, head.head.size)]}


def nonce_hash_of(nonce: str) -> str:
    """What a member's wallet puts in ``checkin.body.nonce_hash`` for a challenge nonce."""
    return "sha256:" + hashlib.sha256(nonce.encode()).hexdigest()
