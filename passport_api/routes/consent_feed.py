"""The consent feed of a grantee: the grants naming it and the granters' revokes and values.

Public, like chains: every record in it is already public on the log; the feed only selects
them (``ledger.store.consent_feed``, a scan).  A service polls it with the ``scanned_to`` of
its last page and so learns of every grant, revoke, new value or cleared value that concerns
it at the cost of the records since, instead of re-reading every member's chain.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from ledger.store.consent_feed import consent_feed
from passport_api.problems import responses
from passport_api.routes.records import ledger_of
from passport_api.schemas import DID_PATTERN, MAX_INT, MEMBER_EXAMPLE, RecordOut

router = APIRouter(prefix="/v1", tags=["consent"])
MAX_PAGE = 1000


class ConsentFeedOut(BaseModel):
    grantee: str
    records: list[RecordOut] = Field(description="in log order: consent.grant records naming "
                                                 "the grantee; consent.revoke, passport.set and "
                                                 "passport.clear records of its granters")
    scanned_to: int = Field(description="every record up to this log index was examined: "
                                        "pass it as after_index for the next page")
    more: bool = Field(description="the page is full; more may follow at once")


@router.get("/grantees/{did}/consent", response_model=ConsentFeedOut,
            summary="What a grantee needs to know what it may read, a page at a time (a scan)",
            responses=responses("bad-request", "store-error"))
def grantee_consent(
        did: Annotated[str, Path(description="the grantee's did:key", pattern=DID_PATTERN,
                                 examples=[MEMBER_EXAMPLE])],
        request: Request,
        after_index: Annotated[int, Query(ge=-1, le=MAX_INT,
                                          description="return records after this log index")
                               ] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 500) -> ConsentFeedOut:
    page = consent_feed(ledger_of(request), did, after_index=after_index, limit=limit)
    return ConsentFeedOut(grantee=did, records=[RecordOut.of(s) for s in page.records],
                          scanned_to=page.scanned_to, more=page.more)
