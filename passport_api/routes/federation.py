"""Federation: the log's entries for followers, values for peers, erasures, gossip of heads."""

from __future__ import annotations

from typing import Annotated, Any

import nacl.signing
from fastapi import APIRouter, Query, Request
from pydantic import Field

from ledger import merkle
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_encode, is_digest_name
from ledger.errors import LedgerError
from ledger.keys import public_key_from_did
from ledger.store.federation import FederationStore
from passport_api.client import NodeClient, NodeError
from passport_api.errors import ForbiddenError, InvalidGossipError, PeerUnavailableError
from passport_api.federation import peer_summary
from passport_api.problems import responses
from passport_api.routes.access import UNSIGNED, Signed, now_ms
from passport_api.routes.records import ledger_of
from passport_api.schemas import MAX_INT, Strict, TreeHeadOut

router = APIRouter(prefix="/v1", tags=["federation"])
MAX_ENTRIES = 1000


def federation_of(request: Request) -> FederationStore:
    return FederationStore(ledger_of(request).engine)


@router.get("/log/entries", summary="The log's records in log order, for following nodes",
            responses=responses("bad-request"))
def entries(request: Request,
            start: Annotated[int, Query(ge=0, le=MAX_INT, examples=[0])] = 0,
            limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 100) -> dict[str, Any]:
    ledger = ledger_of(request)
    found = ledger.records_range(start, min(start + limit, MAX_INT))  # no int64 overflow
    return {"entries": [{"index": s.index, "record": s.raw.decode("utf-8")} for s in found],
            "tree_head": TreeHeadOut.of(ledger.latest_tree_head()).model_dump()}


class BlobNames(Strict):
    names: list[str] = Field(min_length=1, max_length=MAX_ENTRIES,
                             examples=[["sha256:" + "ab" * 32]])


@router.post("/federation/blobs", summary="Sealed values, for a peer node replicating records "
             "(signed with the peer's log key)",
             responses=responses("bad-request", *UNSIGNED, "forbidden"))
def blobs(body: BlobNames, who: Signed, request: Request) -> dict[str, Any]:
    store = federation_of(request)
    if public_key_from_did(who.did) not in store.peer_keys():
        raise ForbiddenError(f"{who.did} is not the log key of a peer of this node; values are "
                        "replicated only to configured peers")
    for name in body.names:
        if not is_digest_name(name):
            raise ForbiddenError(f"{name[:80]!r} is not a blob name")
    found, erased = store.blobs_named(body.names)
    orders = ledger_of(request).erasure_orders(erased)
    return {"blobs": {n: b64url_encode(b) for n, b in found.items()}, "erased": erased,
            "orders": {n: o.decode() for n, o in orders.items()}}


@router.get("/federation/erasures", summary="Values erased by their authors, for peers to "
            "erase their copies too", responses=responses("bad-request"))
def erasures(request: Request,
             since_ms: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> dict[str, Any]:
    return {"erasures": [{"name": n, "erased_ms": ms, "order": o and o.decode()}
                         for n, ms, o in federation_of(request).erased_since(since_ms)]}


@router.get("/federation/peers", summary="The nodes this node follows, how far, and any fault")
def peers(request: Request) -> dict[str, Any]:
    return {"peers": [peer_summary(p) for p in federation_of(request).peers()]}


@router.get("/federation/forks", summary="Evidence of logs that showed two histories")
def forks(request: Request) -> dict[str, Any]:
    return {"forks": [{"id": f.id, "log_key": f.log_key.hex(), "origin": f.origin,
                       "note_a": f.note_a.decode(), "note_b": f.note_b.decode(),
                       "reason": f.reason, "reported_by": f.reported_by,
                       "detected_ms": f.detected_ms} for f in federation_of(request).forks()]}


@router.get("/equivocations", summary="Members who signed two records for one seq: both "
            "records, as evidence")
def equivocations(request: Request) -> dict[str, Any]:
    return {"equivocations": [
        {"author": author, "seq": stored.record.seq, "stored": stored.raw.decode(),
         "rival": rival.decode()}
        for author, stored, rival in ledger_of(request).equivocations()]}


class GossipHead(Strict):
    checkpoint: str = Field(description="a C2SP checkpoint someone was shown")
    log_key: str = Field(description="hex Ed25519 key of the log that signed it",
                         pattern="^[0-9a-f]{64}$")


@router.post("/gossip/heads", summary="Check a signed tree head against what this node has "
             "seen of that log (its own, or a peer's)",
             responses=responses("bad-request", "invalid-gossip", "peer-unavailable"))
def gossip(body: GossipHead, request: Request) -> dict[str, Any]:
    ledger = ledger_of(request)
    key = bytes.fromhex(body.log_key)
    try:
        # surrogatepass: a JSON lone-surrogate escape is refused as not UTF-8 (it was a 500)
        head = parse_checkpoint(body.checkpoint.encode("utf-8", "surrogatepass"),
                                nacl.signing.VerifyKey(key))
    except LedgerError as e:
        raise InvalidGossipError(f"checkpoint: {e}") from None
    store = federation_of(request)
    if key == ledger.public_key:
        ours = ledger.latest_tree_head()
        ok = head.size <= ours.head.size and ledger.root(head.size) == head.root
        known = ours.note
    else:
        peer = next((p for p in store.peers() if p.log_key == key), None)
        if peer is None or peer.head_note is None:
            return {"known": False, "consistent": None, "head": None}
        known = peer.head_note
        ok = _consistent_with_peer(peer.url, key, known, body.checkpoint.encode())
    if not ok:
        store.add_fork(log_key=key, origin=head.origin, note_a=known,
                       note_b=body.checkpoint.encode(), reason="a gossiped head is not "
                       "consistent with the head this node holds", reported_by="gossip",
                       now_ms=now_ms(), sign=ledger.sign_statement)
    return {"known": True, "consistent": ok, "head": known.decode()}


def _consistent_with_peer(url: str, key: bytes, known: bytes, shown: bytes) -> bool:
    """Whether two heads of a peer's log fit one history, asking the peer for the proof."""
    vk = nacl.signing.VerifyKey(key)
    a, b = parse_checkpoint(known, vk), parse_checkpoint(shown, vk)
    if a.size == b.size:
        return a.root == b.root
    old, new = (a, b) if a.size < b.size else (b, a)
    if old.size == 0:
        return True
    try:
        proof = NodeClient(url, timeout=10).consistency_proof(old.size, new.size)
        merkle.verify_consistency(old.size, new.size, proof.decoded(), old.root, new.root)
    except LedgerError:
        return False
    except NodeError as e:
        raise PeerUnavailableError(f"cannot ask {url} for a consistency proof now: {e}") from None
    return True
