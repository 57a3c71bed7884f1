"""Request and response bodies, with the examples the OpenAPI schema shows.

Records travel as their canonical JSON *text* (a string), exactly the bytes the author signed:
embedding them as objects would let a JSON parser reorder or merge keys before the node could
check the canonical form.  Blobs and hashes travel as base64url without padding.
"""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field

from ledger.encoding import b64url_decode
from ledger.store.ledger import SignedTreeHead, StoredRecord

RECORD_EXAMPLE = ('{"author":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",'
                  '"body":{"field":"today"},"prev":null,"seq":1,"sig":"…",'
                  '"ts":"2026-11-23T09:30:00Z","type":"passport.clear","v":1}')
MAX_BATCH = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppendRequest(Strict):
    record: str = Field(description="the record's RFC 8785 canonical JSON text, as signed",
                        examples=[RECORD_EXAMPLE])
    blobs: dict[str, str] = Field(default_factory=dict, description=(
        "sealed values the record names: {'sha256:<hex>': base64url bytes}"))


class BatchRequest(Strict):
    records: list[str] = Field(min_length=1, max_length=MAX_BATCH,
                               description="canonical JSON texts, appended in this order")
    blobs: dict[str, str] = Field(default_factory=dict)


class TreeHeadOut(BaseModel):
    origin: str
    size: int
    root: str = Field(description="standard base64, as in the checkpoint")
    timestamp_ms: int
    checkpoint: str = Field(description="the C2SP signed note, as signed by the log key")

    @classmethod
    def of(cls, sth: SignedTreeHead) -> TreeHeadOut:
        head = sth.head
        return cls(origin=head.origin, size=head.size,
                   root=base64.b64encode(head.root).decode("ascii"),
                   timestamp_ms=head.timestamp_ms, checkpoint=sth.note.decode("utf-8"))


class AppendOut(BaseModel):
    index: int
    id: str
    duplicate: bool = Field(description="the node already had this very record")
    tree_head: TreeHeadOut


class BatchOut(BaseModel):
    indexes: list[int]
    ids: list[str]
    duplicates: int
    tree_head: TreeHeadOut


class RecordOut(BaseModel):
    index: int
    id: str
    record: str = Field(description="canonical JSON text", examples=[RECORD_EXAMPLE])

    @classmethod
    def of(cls, stored: StoredRecord) -> RecordOut:
        return cls(index=stored.index, id=stored.record.id, record=stored.raw.decode("utf-8"))


class ChainOut(BaseModel):
    member: str
    records: list[RecordOut]
    next_after_seq: int | None = Field(description="pass as after_seq for the next page; "
                                                   "null when this was the last page")


class ProofOut(BaseModel):
    hashes: list[str] = Field(description="RFC 9162 proof, base64url hashes in order")


class InclusionOut(ProofOut):
    index: int
    size: int


class ConsistencyOut(ProofOut):
    old_size: int
    new_size: int


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    origin: str
    size: int


def decode_blobs(blobs: dict[str, str]) -> dict[str, bytes]:
    return {name: b64url_decode(text, what=f"blobs[{name[:80]!r}]")
            for name, text in blobs.items()}
