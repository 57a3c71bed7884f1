"""Request and response bodies, with the examples the OpenAPI schema shows.

Records travel as their canonical JSON *text* (a string), exactly the bytes the author signed:
embedding them as objects would let a JSON parser reorder or merge keys before the node could
check the canonical form.  Blobs and hashes travel as base64url without padding.
"""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ledger.encoding import b64url_decode
from ledger.store.chains_read import StoredRecord
from ledger.store.ledger import SignedTreeHead

MEMBER_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
RECORD_EXAMPLE = ('{"author":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",'
                  '"body":{"field":"today"},"prev":null,"seq":1,"sig":"…",'
                  '"ts":"2026-11-23T09:30:00Z","type":"passport.clear","v":1}')
RECORD_ID_EXAMPLE = "sha256:5c1f0e2b9a7d4c3e8f6a1b2d3c4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"
BLOB_EXAMPLE = "sha256:0b7e6f2c4d1a9e8b3c5d7f9a1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c"
ORIGIN_EXAMPLE = "passport.local/log/1c966d815947de79"
ROOT_EXAMPLE = "n8Ql3bW0cO1mB2x7y4rP6s9tK5vA0dE3fG8hJ1kL2mM="
HASH_EXAMPLE = "WhR2fL0q3yVx9kC6mB8nT1pA4sD7gH0jK3lZ5xC8vB0"
CHECKPOINT_EXAMPLE = (f"{ORIGIN_EXAMPLE}\n204\n{ROOT_EXAMPLE}\ntime 1795430400123\n\n"
                      f"— {ORIGIN_EXAMPLE} Hx3k…\n")
TREE_HEAD_EXAMPLE: JsonDict = {"origin": ORIGIN_EXAMPLE, "size": 204, "root": ROOT_EXAMPLE,
                     "timestamp_ms": 1795430400123, "checkpoint": CHECKPOINT_EXAMPLE}
DID_PATTERN = r"^did:key:z[1-9A-HJ-NP-Za-km-z]{1,128}$"
MAX_INT = 2**63 - 1  # the databases' integer columns; larger indexes and sizes cannot exist
MAX_BATCH = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppendRequest(Strict):
    record: str = Field(description="the record's RFC 8785 canonical JSON text, as signed",
                        examples=[RECORD_EXAMPLE])
    blobs: dict[str, str] = Field(default_factory=dict, description=(
        "sealed values the record names: {'sha256:<hex>': base64url bytes}"))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "record": RECORD_EXAMPLE, "blobs": {BLOB_EXAMPLE: "GxWq0rKv…"}}]})


class BatchRequest(Strict):
    records: list[str] = Field(min_length=1, max_length=MAX_BATCH,
                               description="canonical JSON texts, appended in this order")
    blobs: dict[str, str] = Field(default_factory=dict, description=(
        "sealed values the records name: {'sha256:<hex>': base64url bytes}"))
    erasures: dict[str, str] = Field(default_factory=dict, description=(
        "values erased by their author before the records came here (an imported passport): "
        "{'sha256:<hex>': the author's signed erasure order, as GET /v1/erasures/{name} "
        "gives it}; such a value is stored erased, with its order"))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "records": [RECORD_EXAMPLE], "blobs": {}}]})


class Problem(BaseModel):
    """An RFC 9457 problem: every refusal of the node, as ``application/problem+json``.

    Some problems carry extra members (a refused read names each refused field).
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "/v1/problems/not-found", "title": "not found", "status": 404,
        "detail": f"no record {RECORD_ID_EXAMPLE}"}]})

    type: str = Field(description="/v1/problems/<code>: the stable failure type; branch on it",
                      examples=["/v1/problems/not-found"])
    title: str = Field(description="the code in words", examples=["not found"])
    status: int = Field(description="the HTTP status again", examples=[404])
    detail: str = Field(description="what exactly was refused, for people (wording may change)")


class TreeHeadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TREE_HEAD_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "index": 203, "id": RECORD_ID_EXAMPLE, "duplicate": False,
        "tree_head": TREE_HEAD_EXAMPLE}]})

    index: int
    id: str
    duplicate: bool = Field(description="the node already had this very record")
    tree_head: TreeHeadOut


class BatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "indexes": [203], "ids": [RECORD_ID_EXAMPLE], "duplicates": 0,
        "tree_head": TREE_HEAD_EXAMPLE}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "member": MEMBER_EXAMPLE, "next_after_seq": None,
        "records": [{"index": 203, "id": RECORD_ID_EXAMPLE, "record": RECORD_EXAMPLE}]}]})

    member: str
    records: list[RecordOut]
    next_after_seq: int | None = Field(description="pass as after_seq for the next page; "
                                                   "null when this was the last page")


class ProofOut(BaseModel):
    hashes: list[str] = Field(description="RFC 9162 proof, base64url hashes in order")


class InclusionOut(ProofOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "index": 203, "size": 204, "hashes": [HASH_EXAMPLE]}]})

    index: int
    size: int


class ConsistencyOut(ProofOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "old_size": 200, "new_size": 204, "hashes": [HASH_EXAMPLE]}]})

    old_size: int
    new_size: int


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    origin: str = Field(examples=[ORIGIN_EXAMPLE])
    size: int = Field(examples=[204])
    log_key: str = Field(description="the log's Ed25519 public key, hex: wallets pin it",
                         examples=["3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"])
    vkey: str = Field(description="the same key as a C2SP signed-note verifier key, for "
                      "witnesses and other transparency tooling")
    limits: dict[str, str] = Field(default_factory=dict, description="the node's rate limits "
                                   "and quotas (RATE/BURST per second, or off), per worker",
                                   examples=[{"per_address": "1000/10000", "per_key": "200/2000",
                                              "records_per_day": "1000000",
                                              "scope": "per worker"}])


def decode_blobs(blobs: dict[str, str]) -> dict[str, bytes]:
    return {name: b64url_decode(text, what=f"blobs[{name[:80]!r}]")
            for name, text in blobs.items()}
