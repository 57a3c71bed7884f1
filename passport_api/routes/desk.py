"""Check-in answers: the member's wallet reports its answer, the space's desk lists its own.

The single-use rule is enforced when the answer is reported: the first check-in record that
names a live challenge takes it, and the space's verify (``POST /v1/checkin/verify``) accepts
only that record.  A report needs no signed request: the record it names is the member's own
signed record, and its ``nonce_hash`` names the challenge.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from ledger.encoding import digest_name, parse_digest_name
from ledger.errors import ChallengeError
from ledger.records import parse_record
from passport_api.routes.access import Signed, access_of, now_ms
from passport_api.routes.records import ledger_of
from passport_api.schemas import Strict

router = APIRouter(prefix="/v1", tags=["check-in"])


class CheckinAnswer(Strict):
    record_id: str = Field(description="id of the member's checkin record, already appended",
                           examples=["sha256:" + "ab" * 32])


@router.post("/checkin/answers", summary="Report a check-in record as the answer to its "
             "challenge (single use: the first answer takes the challenge)")
def answer(body: CheckinAnswer, request: Request) -> dict[str, Any]:
    rec = parse_record(ledger_of(request).record(body.record_id).raw)
    if rec.type != "checkin":
        raise ChallengeError(f"{rec.id} is a {rec.type} record, not a checkin")
    access_of(request).use_challenge(parse_digest_name(rec.body["nonce_hash"], what="nonce hash"),
                                     None,
                                     rec.digest, now_ms())
    return {"record_id": rec.id, "member": rec.author, "answered": True}


@router.get("/checkin/status/{nonce_hash}", summary="Whether a challenge can still be "
            "answered (the wallet asks before it appends a check-in)")
def status(nonce_hash: str, request: Request) -> dict[str, Any]:
    why = access_of(request).challenge_open(parse_digest_name(nonce_hash, what="nonce_hash"),
                                            now_ms())
    return {"nonce_hash": nonce_hash, "open": why is None, "reason": why}


@router.get("/checkin/challenges", summary="The calling space's challenges and the check-in "
            "that answered each")
def challenges(who: Signed, request: Request,
               since_ms: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> dict[str, Any]:
    rows = access_of(request).challenges_of(who.did, since_ms=since_ms)
    return {"space": who.did, "challenges": [
        {"nonce_hash": digest_name(h), "created_ms": created, "expires_ms": expires,
         "answered_by": None if rid is None else digest_name(rid)}
        for h, created, expires, rid in rows]}
