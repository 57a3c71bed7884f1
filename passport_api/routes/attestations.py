"""Attestations about a member: public records, whose claims stay sealed to the two parties.

The subject of an attestation does not write it, so it is not on their chain: this is where
their wallet finds it, with whether the subject has accepted it into their passport.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from ledger.encoding import is_digest_name
from passport_api.routes.records import ledger_of
from passport_api.schemas import RecordOut

router = APIRouter(prefix="/v1", tags=["attestations"])
MAX_PAGE = 1000
MAX_INDEX = 2**63 - 1  # the databases' integer columns
# A did:key, or a blinded subject (a space's presence attestation: sha256 of the member's did
# and the challenge nonce, which only the member and the space know).
SUBJECT_PATTERN = r"^(did:key:z[1-9A-HJ-NP-Za-km-z]{1,128}|sha256:[0-9a-f]{64})$"
SUBJECT_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


class AttestationOut(RecordOut):
    accepted: bool = Field(description="the subject appended an attest.accept naming it")


class AttestationsOut(BaseModel):
    subject: str
    attestations: list[AttestationOut] = Field(description="in log order")
    next_after_index: int | None = Field(description="pass as after_index for the next page; "
                                                     "null when this was the last page")


@router.get("/members/{did}/attestations", response_model=AttestationsOut,
            summary="The attest records about a member, a page at a time (a scan of attest "
                    "records)")
def attestations(
        did: Annotated[str, Path(description="the subject: a did:key, or a blinded subject",
                                 pattern=SUBJECT_PATTERN, examples=[SUBJECT_EXAMPLE])],
        request: Request,
        after_index: Annotated[int, Query(ge=-1, le=MAX_INDEX,
                                          description="return records after this log index")
                               ] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> AttestationsOut:
    ledger = ledger_of(request)
    found = ledger.attestations_about(did, after_index=after_index, limit=limit)
    # A blinded subject has no chain here: its member's wallet knows what it accepted.
    accepted = set() if is_digest_name(did) else {
        s.record.body["attestation"] for s in ledger.records_of(did, ["attest.accept"])}
    out = [AttestationOut(index=s.index, id=s.record.id, record=s.raw.decode("utf-8"),
                          accepted=s.record.id in accepted) for s in found]
    return AttestationsOut(subject=did, attestations=out,
                           next_after_index=found[-1].index if len(found) == limit else None)
