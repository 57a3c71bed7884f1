"""Bodies of the signed calls (scoped reads, receipts, check-in), with their examples.

The shapes are what ``passport_api.client`` parses: change them only with a new API version.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from passport_api.schemas import (
    DID_PATTERN,
    HASH_EXAMPLE,
    MEMBER_EXAMPLE,
    RECORD_EXAMPLE,
    RECORD_ID_EXAMPLE,
    TREE_HEAD_EXAMPLE,
    RecordOut,
    Strict,
    TreeHeadOut,
)

SERVICE_EXAMPLE = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
RECORD_ID_PATTERN = r"^sha256:[0-9a-f]{64}$"
RECEIPT_EXAMPLE: JsonDict = {
    "id": 17,
    "receipt": ('{"fields":[{"field":"today","grant":"grant-matcher","record":"'
                + RECORD_ID_EXAMPLE + '"}],"log":{"origin":"passport.local/log/1c966d815947de79",'
                '"size":204},"member":"' + MEMBER_EXAMPLE + '","request":{…},"served":'
                '"2026-11-23T09:31:02.114Z","service":"' + SERVICE_EXAMPLE + '",'
                '"type":"passport.receipt","v":1}'),
    "node_sig": "q0mJ3…",
}


class ReadRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "member": MEMBER_EXAMPLE, "fields": ["today", "leaving_at"]}]})

    member: str = Field(description="the member's did:key", pattern=DID_PATTERN)
    fields: list[str] = Field(min_length=1, max_length=64,
                              description="field names, each [a-z][a-z0-9_]{0,63}")


class VerifyCheckin(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "record_id": RECORD_ID_EXAMPLE}]})

    record_id: str = Field(description="id of the member's checkin record",
                           pattern=RECORD_ID_PATTERN)


class ServedFieldOut(BaseModel):
    grant: str = Field(description="id of the grant that authorised the read",
                       examples=["grant-matcher"])
    index: int = Field(description="the record's leaf index in the log", examples=[203])
    record: str = Field(description="the member's passport.set record, canonical JSON text",
                        examples=[RECORD_EXAMPLE])
    blob: str = Field(description="the sealed value, base64url", examples=["GxWq0rKv…"])
    wrapped_key: str = Field(description="the value's content key, sealed to the service",
                             examples=["c2VhbGVk…"])
    inclusion: list[str] = Field(description="RFC 9162 inclusion proof of the record in "
                                             "tree_head, base64url hashes",
                                 examples=[[HASH_EXAMPLE]])


class ReceiptOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RECEIPT_EXAMPLE]})

    id: int = Field(description="the receipt's number at this node; pages go by it")
    receipt: str = Field(description="canonical JSON text of the receipt, as the node signed it")
    node_sig: str = Field(description="Ed25519 signature by the log key over "
                                      "'passport/receipt/v1' || 0x00 || receipt, base64url")


class ReadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "member": MEMBER_EXAMPLE, "tree_head": TREE_HEAD_EXAMPLE,
        "fields": {"today": {"grant": "grant-matcher", "index": 203, "record": RECORD_EXAMPLE,
                             "blob": "GxWq0rKv…", "wrapped_key": "c2VhbGVk…",
                             "inclusion": [HASH_EXAMPLE]}},
        "receipt": RECEIPT_EXAMPLE}]})

    member: str
    tree_head: TreeHeadOut = Field(description="the head every inclusion proof is against")
    fields: dict[str, ServedFieldOut] = Field(description="one entry per field asked for")
    receipt: ReceiptOut = Field(description="the access receipt written before serving")


class ReceiptsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "member": MEMBER_EXAMPLE, "receipts": [RECEIPT_EXAMPLE], "next_after_id": None}]})

    member: str
    receipts: list[ReceiptOut]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null "
                                                  "when this was the last page")


class ChallengeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "space": SERVICE_EXAMPLE, "nonce": "mW3v0b4nQ3lqk2o8bX1c9yZrT0d4s7u1",
        "expires_ms": 1795430700123}]})

    space: str = Field(description="the calling space's did:key")
    nonce: str = Field(description="single-use; the member's checkin carries sha256(nonce)")
    expires_ms: int = Field(description="the member must answer before this time (ms)")


class CheckinOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "member": MEMBER_EXAMPLE,
        "record": {"index": 203, "id": RECORD_ID_EXAMPLE, "record": RECORD_EXAMPLE},
        "tree_head": TREE_HEAD_EXAMPLE, "inclusion": [HASH_EXAMPLE]}]})

    member: str = Field(description="the did:key that checked in")
    record: RecordOut
    tree_head: TreeHeadOut
    inclusion: list[str] = Field(description="RFC 9162 inclusion proof of the record in "
                                             "tree_head, base64url hashes")
