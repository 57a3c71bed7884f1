"""Anchors on Ethereum and the evidence that a record existed by a block: public, like proofs.

The evidence is built from the database alone (no chain call on a request), so these routes
answer whatever the anchoring thread is doing; verifiers check it against a chain themselves.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ledger.store.anchors import STATUSES, AnchorStore
from passport_api.anchoring import ENV_RPC
from passport_api.problems import responses
from passport_api.routes.records import ledger_of

router = APIRouter(prefix="/v1", tags=["anchors"])
MAX_PAGE = 1000


class AnchorOut(BaseModel):
    id: int
    status: str = Field(description="pending, confirmed, reverted, replaced or orphaned")
    chain_id: int
    contract: str
    sender: str
    tree_size: int
    root: str = Field(description="0x and 64 hex digits, as on chain")
    tx_hash: str
    block_number: int | None
    block_hash: str | None
    detail: str | None


class AnchorsOut(BaseModel):
    anchors: list[AnchorOut] = Field(description="newest (largest tree size) first")


def _store(request: Request) -> AnchorStore:
    return AnchorStore(ledger_of(request).engine)


@router.get("/anchors", response_model=AnchorsOut,
            summary="The node's anchors on Ethereum, newest first",
            responses=responses("bad-request"))
def anchors(request: Request, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
            status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")]
            = None) -> AnchorsOut:
    rows = _store(request).list(limit=limit, status=status)
    return AnchorsOut(anchors=[AnchorOut(
        id=r.id, status=r.status, chain_id=r.chain_id, contract=r.contract, sender=r.sender,
        tree_size=r.tree_size, root="0x" + r.root.hex(), tx_hash="0x" + r.tx_hash.hex(),
        block_number=r.block_number,
        block_hash=None if r.block_hash is None else "0x" + r.block_hash.hex(),
        detail=r.detail) for r in rows])


@router.get("/records/{record_id}/evidence",
            summary="Evidence that the record existed by a block (passport-evidence/1)",
            responses=responses("not-found", "not-anchored"))
def evidence(record_id: str, request: Request) -> dict[str, Any]:
    # Imported on use: evidence building pulls in web3, which a node without anchoring skips.
    from contracts.errors import NotAnchoredError  # noqa: PLC0415
    from contracts.evidence import build_evidence  # noqa: PLC0415

    try:
        return build_evidence(ledger_of(request), _store(request), record_id)
    except NotAnchoredError:
        if not os.environ.get(ENV_RPC):
            raise NotAnchoredError(f"record {record_id} is not anchored: anchoring is not "
                                   "configured on this node (its operator starts it with "
                                   "'passport node serve --anchor-rpc URL')") from None
        raise
