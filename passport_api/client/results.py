"""What the node client returns: frozen values, parsed once, never the wire's dicts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ledger.encoding import b64url_decode
from ledger.records import Record


@dataclass(frozen=True)
class Health:
    status: str
    origin: str
    size: int
    log_key: bytes  # the log's Ed25519 public key, which wallets and peers pin


@dataclass(frozen=True)
class SignedHead:
    """A tree head as the node served it; the wallet checks ``checkpoint`` against its pin."""

    origin: str
    size: int
    root: bytes
    timestamp_ms: int
    checkpoint: str

    @classmethod
    def of(cls, d: dict[str, Any]) -> SignedHead:
        return cls(str(d["origin"]), int(d["size"]), base64.b64decode(d["root"]),
                   int(d["timestamp_ms"]), str(d["checkpoint"]))


@dataclass(frozen=True)
class Appended:
    index: int
    id: str
    duplicate: bool
    tree_head: SignedHead


@dataclass(frozen=True)
class BatchAppended:
    indexes: tuple[int, ...]
    ids: tuple[str, ...]
    duplicates: int
    tree_head: SignedHead


@dataclass(frozen=True)
class NodeRecord:
    """A record the node holds, at its log index; ``record`` is parsed and its id checked."""

    index: int
    record: Record

    @property
    def id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class LogEntry:
    """A log entry as raw bytes: a follower checks it itself (and may refuse it)."""

    index: int
    raw: bytes


@dataclass(frozen=True)
class Attestation:
    index: int
    record: Record
    accepted: bool


@dataclass(frozen=True)
class Proof:
    """An RFC 9162 proof: the hashes as served (base64url) and decoded."""

    hashes: tuple[str, ...]

    def decoded(self) -> list[bytes]:
        return [b64url_decode(h, what="proof hash") for h in self.hashes]


@dataclass(frozen=True)
class FieldValue:
    value: Any
    record_id: str
    grant: str


@dataclass(frozen=True)
class ReadResult:
    member: str
    values: dict[str, FieldValue]
    receipt_id: int

    def plain(self) -> dict[str, Any]:
        return {name: v.value for name, v in self.values.items()}


@dataclass(frozen=True)
class PeerBlobs:
    blobs: dict[str, bytes]
    erased: frozenset[str]
    orders: dict[str, bytes] = field(default_factory=dict)  # erased name -> author's order


@dataclass(frozen=True)
class Erasure:
    name: str
    erased_ms: int
    order: bytes | None = None  # the author's signed order (none if erased before 0005)
