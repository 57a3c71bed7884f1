"""The log: signed tree heads and proofs, public by design (they reveal no values)."""

from __future__ import annotations

from typing import Annotated

import nacl.signing
from fastapi import APIRouter, Path, Query, Request

from ledger.checkpoint import vkey_line
from ledger.encoding import b64url_encode
from passport_api.problems import responses
from passport_api.routes.records import ledger_of
from passport_api.schemas import MAX_INT, ConsistencyOut, HealthOut, InclusionOut, TreeHeadOut

router = APIRouter(prefix="/v1", tags=["log"])


@router.get("/health", response_model=HealthOut, summary="Ready to serve")
def health(request: Request) -> HealthOut:
    ledger = ledger_of(request)
    verify_key = nacl.signing.VerifyKey(ledger.public_key)
    return HealthOut(status="ok", origin=ledger.origin, size=ledger.size(),
                     log_key=ledger.public_key.hex(), vkey=vkey_line(ledger.origin, verify_key),
                     limits=request.app.state.limiter.limits.public())


@router.get("/log/head", response_model=TreeHeadOut, summary="The latest signed tree head")
def head(request: Request) -> TreeHeadOut:
    return TreeHeadOut.of(ledger_of(request).latest_tree_head())


@router.get("/log/heads/{size}", response_model=TreeHeadOut,
            summary="The signed tree head at a size the log signed",
            responses=responses("bad-request", "not-found"))
def head_at(size: Annotated[int, Path(ge=0, le=MAX_INT, examples=[204])],
            request: Request) -> TreeHeadOut:
    return TreeHeadOut.of(ledger_of(request).tree_head(size))


@router.get("/log/proofs/inclusion", response_model=InclusionOut,
            summary="RFC 9162 inclusion proof of the record at index in the tree of size",
            responses=responses("bad-request", "out-of-range"))
def inclusion(request: Request, index: Annotated[int, Query(ge=0, le=MAX_INT, examples=[203])],
              size: Annotated[int, Query(ge=1, le=MAX_INT, examples=[204])]) -> InclusionOut:
    hashes = ledger_of(request).inclusion_proof(index, size)
    return InclusionOut(index=index, size=size, hashes=[b64url_encode(h) for h in hashes])


@router.get("/log/proofs/consistency", response_model=ConsistencyOut,
            summary="RFC 9162 consistency proof from old_size to new_size",
            responses=responses("bad-request", "out-of-range"))
def consistency(request: Request,
                old_size: Annotated[int, Query(ge=1, le=MAX_INT, examples=[200])],
                new_size: Annotated[int, Query(ge=1, le=MAX_INT, examples=[204])]
                ) -> ConsistencyOut:
    hashes = ledger_of(request).consistency_proof(old_size, new_size)
    return ConsistencyOut(old_size=old_size, new_size=new_size,
                          hashes=[b64url_encode(h) for h in hashes])
