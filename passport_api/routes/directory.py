"""The directory: organisations' public profiles (spaces, services, nodes), searched by name.

Profiles are signed records in clear on each organisation's own chain; this lists the latest
of each.  Members never appear here: their names are sealed fields.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from ledger.errors import NotFoundError
from ledger.store import directory
from passport_api.problems import responses
from passport_api.routes.records import ledger_of
from passport_api.schemas import DID_PATTERN, MEMBER_EXAMPLE, RecordOut

router = APIRouter(prefix="/v1", tags=["directory"])
MAX_PAGE = 500


class DirectoryOut(BaseModel):
    profiles: list[RecordOut] = Field(description="each author's latest profile record; exact "
                                                  "name matches first, then by name")


@router.get("/directory", response_model=DirectoryOut, responses=responses("bad-request"),
            summary="Organisations' public profiles whose name contains q (without case)")
def search(request: Request,
           q: Annotated[str, Query(max_length=64, description="part of a name; empty: all")] = "",
           limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> DirectoryOut:
    found = directory.search(ledger_of(request).engine, q, limit=limit)
    return DirectoryOut(profiles=[RecordOut.of(s) for s in found])


@router.get("/directory/{did}", response_model=RecordOut,
            responses=responses("bad-request", "not-found"),
            summary="One organisation's latest public profile record")
def profile(did: Annotated[str, Path(pattern=DID_PATTERN, examples=[MEMBER_EXAMPLE])],
            request: Request) -> RecordOut:
    stored = directory.profile_of(ledger_of(request).engine, did)
    if stored is None:
        raise NotFoundError(f"{did} has published no profile")
    return RecordOut.of(stored)
