"""Chain validation as a pure state machine over values: state + record -> next state.

The caller does the I/O (loading the state, storing the result), as in python-tuf's trusted
metadata set.  A chain is valid when each record's seq is one more than the last, its prev is
the last record's id, and its signature verifies under a key in force at that seq: the main key
(the author's own until a ``key.rotate``) or a device key added and not yet removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import nacl.signing

from ledger import keys
from ledger.errors import ChainError, EquivocationError, SignatureError
from ledger.records import Record, sign_record, signer_of

MAIN_ONLY_TYPES = frozenset({"key.rotate", "device.add", "device.remove"})
KEY_TYPES = MAIN_ONLY_TYPES  # the types that change which keys are in force


@dataclass(frozen=True, slots=True)
class KeyEpoch:
    """A key and the seqs it may sign: ``first_seq`` to ``last_seq`` (None: still in force)."""

    key: bytes
    role: str  # "main" or "device"
    first_seq: int
    last_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return self.first_seq <= seq and (self.last_seq is None or seq <= self.last_seq)


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the ledger must remember of a chain to check its next record (and old ones)."""

    author: str
    seq: int
    head: str | None
    epochs: tuple[KeyEpoch, ...]
    next_commitment: str | None = None

    @classmethod
    def genesis(cls, author: str, key: bytes | None = None) -> ChainState:
        """The state before seq 1.  ``key``: the did's own key, when the caller has already
        decoded it from ``author`` (a verify worker did), saving a base58 decode."""
        return cls(author=author, seq=0, head=None, epochs=_genesis_epochs(author, key))

    def keys_at(self, seq: int, *, main_only: bool = False) -> list[bytes]:
        """Keys allowed to sign the record at ``seq``, the main key first."""
        found = [e for e in self.epochs if e.covers(seq) and (e.role == "main" or not main_only)]
        found.sort(key=lambda e: e.role != "main")
        return [e.key for e in found]

    @property
    def main_key(self) -> bytes:
        return next(e.key for e in self.epochs if e.role == "main" and e.last_seq is None)

    def keys_json(self) -> str | None:
        """The key history as JSON, or None while it is still the genesis key alone.

        Almost every chain never rotates or adds a device, so the store keeps only seq and head
        for it and rebuilds the rest from the did.
        """
        # epochs[0] is always the genesis key; alone and open-ended, it is all there is.
        if self.next_commitment is None and len(self.epochs) == 1 and (
                self.epochs[0].last_seq is None):
            return None
        return json.dumps({"next_commitment": self.next_commitment,
                           "epochs": [[e.key.hex(), e.role, e.first_seq, e.last_seq]
                                      for e in self.epochs]}, separators=(",", ":"))

    @classmethod
    def restore(cls, author: str, seq: int, head: str | None, keys_json: str | None,
                key: bytes | None = None) -> ChainState:
        """A stored state; ``key`` as for ``genesis``."""
        if keys_json is None:
            return cls(author=author, seq=seq, head=head, epochs=_genesis_epochs(author, key))
        d = json.loads(keys_json)
        return cls(author=author, seq=seq, head=head, next_commitment=d["next_commitment"],
                   epochs=tuple(KeyEpoch(bytes.fromhex(k), r, f, last)
                                for k, r, f, last in d["epochs"]))

    def to_json(self) -> str:
        return json.dumps({"author": self.author, "seq": self.seq, "head": self.head,
                           "keys": self.keys_json()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChainState:
        d = json.loads(text)
        return cls.restore(d["author"], d["seq"], d["head"], d["keys"])


def _genesis_epochs(author: str, key: bytes | None = None) -> tuple[KeyEpoch, ...]:
    return (KeyEpoch(key or keys.public_key_from_did(author), "main", 1),)


def check_signature(state: ChainState, record: Record, signer: bytes | None = None) -> bytes:
    """The key that signed ``record``, which must be in force at its seq.

    ``signer`` is a key a parallel worker already found to verify; it is trusted only if it is
    in force here, otherwise the signature is checked again against the keys in force.
    """
    epochs = state.epochs
    if len(epochs) == 1 and signer is not None and signer == epochs[0].key:
        return signer  # the common case: a chain that never rotated, signed by its own key
    allowed = state.keys_at(record.seq, main_only=record.type in MAIN_ONLY_TYPES)
    if signer is not None and signer in allowed:
        return signer
    found = signer_of(record, allowed)
    if found is None:
        who = "the main key" if record.type in MAIN_ONLY_TYPES else "any key"
        raise SignatureError(f"seq {record.seq}: signature does not verify "
                             f"under {who} in force for {record.author}")
    return found


def advance(state: ChainState, record: Record, signer: bytes | None = None) -> ChainState:
    """Check that ``record`` continues the chain and return the chain's next state."""
    if record.author != state.author:
        raise ChainError(f"record {record.id} belongs to {record.author}, not {state.author}")
    if record.seq != state.seq + 1:
        problem = "repeats" if record.seq <= state.seq else "skips ahead of"
        raise ChainError(f"seq: {record.seq} {problem} the chain of {record.author}, whose next "
                         f"seq is {state.seq + 1}")
    if record.prev != state.head:
        raise ChainError(f"prev: {record.prev} is not the id of seq {state.seq} ({state.head})")
    check_signature(state, record, signer)
    nxt = ChainState(state.author, record.seq, record.id, state.epochs, state.next_commitment)
    if record.type in KEY_TYPES:
        return _apply_keys(nxt, record)
    return nxt


def _apply_keys(state: ChainState, record: Record) -> ChainState:
    body, seq = record.body, record.seq
    if record.type == "key.rotate":
        new_key = keys.public_key_from_did(body["next"])
        current = state.main_key
        if (state.next_commitment is not None
                and keys.key_commitment(new_key) != state.next_commitment):
            raise ChainError(f"body.next: key does not match the pre-rotation commitment "
                                 f"made earlier ({state.next_commitment})")
        if new_key == current:
            if state.next_commitment is not None:
                raise ChainError("body.next: rotating to the current key is allowed only to "
                                 "make the first pre-rotation commitment")
            return replace(state, next_commitment=body["next_commitment"])
        epochs = tuple(replace(e, last_seq=seq) if e.role == "main" and e.last_seq is None else e
                       for e in state.epochs)
        return replace(state, next_commitment=body["next_commitment"],
                       epochs=(*epochs, KeyEpoch(new_key, "main", seq + 1)))
    if record.type == "device.add":
        device = keys.public_key_from_did(body["device"])
        if any(e.key == device and e.last_seq is None for e in state.epochs):
            raise ChainError("body.device: that key is already in force on this chain")
        return replace(state, epochs=(*state.epochs, KeyEpoch(device, "device", seq + 1)))
    if record.type == "device.remove":
        device = keys.public_key_from_did(body["device"])
        live = [e for e in state.epochs
                if e.key == device and e.role == "device" and e.last_seq is None]
        if not live:
            raise ChainError("body.device: no device with that key is in force on this chain")
        return replace(state, epochs=tuple(replace(e, last_seq=seq) if e in live else e
                                           for e in state.epochs))
    return state


def validate_chain(records: Iterable[Record]) -> ChainState:
    """Check a whole chain from seq 1 (for audits, exports and federation)."""
    state: ChainState | None = None
    for record in records:
        if state is None:
            state = ChainState.genesis(record.author)
        state = advance(state, record)
    if state is None:
        raise ChainError("the chain is empty")
    return state


def check_equivocation(state: ChainState, existing_id: str, record: Record) -> None:
    """Raise ``EquivocationError`` if ``record`` is a validly signed rival of ``existing_id``.

    Only a rival signed by a key in force at that seq is proof that the author equivocated;
    anything else is just an invalid record (``SignatureError``).
    """
    if record.id == existing_id:
        return
    check_signature(state, record)
    raise EquivocationError(
        f"{record.author} signed two different records for seq {record.seq}: "
        f"{existing_id} and {record.id}", author=record.author, seq=record.seq,
        existing_id=existing_id, conflicting_id=record.id)


class Author:
    """A writer's cursor over its own chain: signs each next record with the right seq and prev.

    Pure (no I/O, no clock unless ``ts`` is omitted); the wallet persists ``seq`` and ``head``.
    """

    def __init__(self, signing_key: nacl.signing.SigningKey, *, did: str | None = None,
                 seq: int = 0, head: str | None = None) -> None:
        self.signing_key = signing_key
        self.did = did or keys.did_of(signing_key)
        self.seq = seq
        self.head = head

    def next(self, record_type: str, body: dict[str, Any], *, ts: str | None = None,
             signing_key: nacl.signing.SigningKey | None = None) -> Record:
        """Sign the next record (with a device key if given) and move the cursor past it."""
        record = sign_record(signing_key or self.signing_key, author=self.did, seq=self.seq + 1,
                             prev=self.head, record_type=record_type, body=body, ts=ts)
        self.seq, self.head = record.seq, record.id
        return record

    def rotate(self, new_key: nacl.signing.SigningKey, next_commitment: str, *,
               ts: str | None = None) -> Record:
        """Sign ``key.rotate`` with the current key; later records are signed by ``new_key``."""
        record = self.next("key.rotate", {"next": keys.did_of(new_key),
                                          "next_commitment": next_commitment}, ts=ts)
        self.signing_key = new_key
        return record
