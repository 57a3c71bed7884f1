"""Evidence that a record existed by a block, and its verifier.

For the member CLI (``passport prove RECORD_ID``) and anyone else:

- ``wallet.evidence.evidence_for(node_url, record_id) -> dict`` fetches the evidence for a record
  from a node (``GET /v1/records/{id}/evidence``) as a plain JSON-able dict.  It trusts the
  node for nothing: pass the dict to ``verify_evidence``.
- ``verify_evidence(evidence: dict, rpc_url: str | None, *, min_confirmations=1,
  expected_sender=None, log_key=None) -> VerifiedEvidence`` checks the record, its inclusion
  proof, both signed tree heads and the consistency proof (pure: ``check_proofs``), then reads
  the anchor transaction from the chain at ``rpc_url`` and checks it holds that root at that
  size, from that sender, in that block, with enough confirmations (``check_chain``).  With
  ``rpc_url=None`` only the proofs are checked (``chain_checked`` is False).  Every failure is
  a ``contracts.errors.EvidenceError`` (or ``ChainUnavailableError``) naming what is wrong.

The format (``passport-evidence/1``, see docs/protocol.md "Anchoring on Ethereum")::

    {"format": "passport-evidence/1",
     "record": {"id": "sha256:…", "index": 7, "raw": "<the record's canonical JSON>"},
     "log": {"origin": "…", "public_key": "<hex Ed25519>", "log_id": "0x<64 hex>"},
     "tree_head": "<C2SP checkpoint that first held the record>",
     "inclusion": ["<b64url hash>", …],            # index -> tree_head's size
     "anchored_tree_head": "<C2SP checkpoint at the anchored size>",
     "consistency": ["<b64url hash>", …],          # tree_head's size -> anchored size
     "anchor": {"chain_id": 1, "contract": "0x…", "sender": "0x…", "tree_size": 9,
                "root": "0x<64 hex>", "tx_hash": "0x…", "block_number": 5,
                "block_hash": "0x…"}}
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import nacl.signing

from contracts.chain import Chain
from contracts.errors import (
    AnchorMismatchError,
    ContractMissingError,
    EvidenceError,
    EvidenceProofError,
    NotAnchoredError,
    NotConfirmedError,
    ReorgedError,
    SenderMismatchError,
)
from ledger import merkle
from ledger.checkpoint import TreeHead, parse_checkpoint, vkey_line
from ledger.encoding import b64url_decode, b64url_encode
from ledger.errors import LedgerError, NotFoundError, ProofError, RecordError, TreeHeadError
from ledger.records import parse_record

FORMAT = "passport-evidence/1"
HTTP_TIMEOUT_S = 30
_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def log_id(origin: str, public_key: bytes) -> bytes:
    """The log's id on chain: SHA-256 of its C2SP verifier key (binds origin and key)."""
    line = vkey_line(origin, nacl.signing.VerifyKey(public_key))
    return hashlib.sha256(line.encode("utf-8")).digest()


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


# --- building (on the node) ------------------------------------------------------------------


def build_evidence(ledger: Any, store: Any, record_id: str) -> dict[str, Any]:
    """The evidence for ``record_id`` from a node's ``Ledger`` and ``AnchorStore``.

    Raises ``NotFoundError`` for an unknown record, ``NotAnchoredError`` while no confirmed
    anchor covers it yet.
    """
    stored = ledger.record(record_id)
    anchor = store.covering(stored.index)
    if anchor is None:
        raise NotAnchoredError(f"record {record_id} is not under a confirmed anchor yet")
    size = store.first_head_covering(stored.index)
    if size is None:
        raise NotFoundError(f"no signed tree head holds record {record_id}")
    head = ledger.tree_head(size)
    anchored = ledger.tree_head(anchor.tree_size)
    return {
        "format": FORMAT,
        "record": {"id": record_id, "index": stored.index, "raw": stored.raw.decode("utf-8")},
        "log": {"origin": ledger.origin, "public_key": bytes(ledger.public_key).hex(),
                "log_id": hex0x(anchor.log_id)},
        "tree_head": head.note.decode("utf-8"),
        "inclusion": [b64url_encode(h) for h in ledger.inclusion_proof(stored.index, size)],
        "anchored_tree_head": anchored.note.decode("utf-8"),
        "consistency": [b64url_encode(h) for h in
                        ledger.consistency_proof(size, anchor.tree_size)],
        "anchor": anchor_json(anchor),
    }


def anchor_json(anchor: Any) -> dict[str, Any]:
    """An ``AnchorRow`` as the evidence (and GET /v1/anchors) shows it."""
    return {"chain_id": anchor.chain_id, "contract": anchor.contract, "sender": anchor.sender,
            "tree_size": anchor.tree_size, "root": hex0x(anchor.root),
            "tx_hash": hex0x(anchor.tx_hash), "block_number": anchor.block_number,
            "block_hash": None if anchor.block_hash is None else hex0x(anchor.block_hash)}


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What the proofs in some evidence establish, before the chain is asked."""

    record_id: str
    index: int
    origin: str
    public_key: bytes
    log_id: bytes
    tree_size: int  # the first signed head holding the record
    anchored_size: int
    anchored_root: bytes
    chain_id: int
    contract: str
    sender: str
    tx_hash: bytes
    block_number: int
    block_hash: bytes


@dataclass(frozen=True)
class VerifiedEvidence:
    """The outcome of ``verify_evidence``: the record existed by ``block_number``."""

    claim: Claim
    chain_checked: bool
    confirmations: int | None  # None when the chain was not asked

    @property
    def record_id(self) -> str:
        return self.claim.record_id

    @property
    def block_number(self) -> int:
        return self.claim.block_number

    def summary(self) -> str:
        c = self.claim
        where = (f"block {c.block_number} of chain {c.chain_id} "
                 f"({self.confirmations} confirmations)" if self.chain_checked
                 else f"block {c.block_number} of chain {c.chain_id} (chain NOT checked)")
        return (f"record {c.record_id} (index {c.index}) is in log {c.origin} at size "
                f"{c.anchored_size}, anchored by {c.sender} in tx {hex0x(c.tx_hash)}, {where}")


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise EvidenceError(f"{where}.{key}: missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EvidenceError(f"{where}.{key}: must be {kind.__name__}")
    return value


def _hex32(value: str, where: str) -> bytes:
    if not _HEX32.fullmatch(value):
        raise EvidenceError(f"{where}: must be 0x and 64 lowercase hex digits")
    return bytes.fromhex(value[2:])


def _hashes(values: Any, where: str) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise EvidenceError(f"{where}: must be a list of base64url hashes")
    try:
        return [b64url_decode(v, what=where) for v in values]
    except LedgerError as e:
        raise EvidenceError(f"{where}: {e}") from e


def _head(note: str, key: nacl.signing.VerifyKey, origin: str, what: str) -> TreeHead:
    try:
        return parse_checkpoint(note.encode("utf-8"), key, origin)
    except TreeHeadError as e:
        raise EvidenceProofError(f"{what} is not signed by the log's key: {e}") from e


def check_proofs(evidence: dict[str, Any], *, log_key: bytes | None = None) -> Claim:
    """Everything that needs no chain: record, signed heads, inclusion and consistency proofs.

    ``log_key`` pins the log's Ed25519 public key; without it, the key in the evidence is used
    (then the evidence proves only what that key signed and the chain anchored).
    """
    if not isinstance(evidence, dict) or evidence.get("format") != FORMAT:
        raise EvidenceError(f"not {FORMAT} evidence (format member missing or different)")
    rec, log, anchor = (_get(evidence, k, dict, "evidence") for k in ("record", "log", "anchor"))
    record_id = _get(rec, "id", str, "record")
    index = _get(rec, "index", int, "record")
    raw = _get(rec, "raw", str, "record").encode("utf-8")
    origin = _get(log, "origin", str, "log")
    try:
        public_key = bytes.fromhex(_get(log, "public_key", str, "log"))
        verify_key = nacl.signing.VerifyKey(public_key)
    except ValueError as e:
        raise EvidenceError("log.public_key: must be 64 hex digits (Ed25519)") from e
    if log_key is not None and public_key != log_key:
        raise EvidenceProofError("the evidence is for another log key than the one pinned")
    try:
        record = parse_record(raw)
    except RecordError as e:
        raise EvidenceProofError(f"record.raw is not a valid record: {e}") from e
    if record.id != record_id:
        raise EvidenceProofError(f"record.raw hashes to {record.id}, not {record_id}")
    head = _head(_get(evidence, "tree_head", str, "evidence"), verify_key, origin, "tree_head")
    anchored = _head(_get(evidence, "anchored_tree_head", str, "evidence"), verify_key, origin,
                     "anchored_tree_head")
    expected_id = log_id(origin, public_key)
    if _hex32(_get(log, "log_id", str, "log"), "log.log_id") != expected_id:
        raise EvidenceProofError("log.log_id is not the id of this origin and key")
    anchored_size = _get(anchor, "tree_size", int, "anchor")
    anchored_root = _hex32(_get(anchor, "root", str, "anchor"), "anchor.root")
    if (anchored.size, anchored.root) != (anchored_size, anchored_root):
        raise EvidenceProofError("anchored_tree_head does not match the anchor's size and root")
    if not 0 <= index < head.size <= anchored_size:
        raise EvidenceProofError(f"index {index}, tree_head size {head.size} and anchored "
                                 f"size {anchored_size} are not in order")
    try:
        merkle.verify_inclusion(merkle.leaf_hash(raw), index, head.size,
                                _hashes(evidence.get("inclusion"), "inclusion"), head.root)
        merkle.verify_consistency(head.size, anchored_size,
                                  _hashes(evidence.get("consistency"), "consistency"),
                                  head.root, anchored_root)
    except ProofError as e:
        raise EvidenceProofError(f"{e.code}: {e}") from e
    contract = _get(anchor, "contract", str, "anchor")
    sender = _get(anchor, "sender", str, "anchor")
    for what, value in (("contract", contract), ("sender", sender)):
        if not _ADDRESS.fullmatch(value):
            raise EvidenceError(f"anchor.{what}: must be a 0x address")
    return Claim(
        record_id=record_id, index=index, origin=origin, public_key=public_key,
        log_id=expected_id, tree_size=head.size, anchored_size=anchored_size,
        anchored_root=anchored_root, chain_id=_get(anchor, "chain_id", int, "anchor"),
        contract=contract, sender=sender,
        tx_hash=_hex32(_get(anchor, "tx_hash", str, "anchor"), "anchor.tx_hash"),
        block_number=_get(anchor, "block_number", int, "anchor"),
        block_hash=_hex32(_get(anchor, "block_hash", str, "anchor"), "anchor.block_hash"))


def check_chain(claim: Claim, chain: Any, *, min_confirmations: int = 1,
                expected_sender: str | None = None) -> int:
    """Check the claim's anchor on ``chain`` (a ``contracts.chain.Chain``); returns confirmations.

    Trusts the chain's RPC and nothing else: the transaction must be mined and successful in
    the claimed block, that block canonical, the contract Passport's Anchor bytecode, and its
    ``Anchored`` event must carry this log id, size and root from the expected sender.
    """
    served = chain.chain_id()
    if served != claim.chain_id:
        raise AnchorMismatchError(f"the evidence is for chain {claim.chain_id}; the RPC serves "
                                  f"chain {served}")
    if expected_sender is not None and expected_sender.lower() != claim.sender.lower():
        raise SenderMismatchError(f"the anchor was sent by {claim.sender}, not by the expected "
                                  f"{expected_sender}")
    receipt = chain.receipt(claim.tx_hash)
    if receipt is None:
        raise ReorgedError(f"transaction {hex0x(claim.tx_hash)} is not on the chain "
                           "(reorganised away, or never mined)")
    if receipt.block_number != claim.block_number or receipt.block_hash != claim.block_hash:
        raise ReorgedError(f"transaction {hex0x(claim.tx_hash)} is now in block "
                           f"{receipt.block_number}, not in block {claim.block_number} as "
                           "claimed (a reorganisation)")
    if chain.block_hash(claim.block_number) != claim.block_hash:
        raise ReorgedError(f"block {claim.block_number} is no longer the claimed block")
    if receipt.status != 1:
        raise AnchorMismatchError(f"transaction {hex0x(claim.tx_hash)} reverted")
    try:
        chain.check_contract(claim.contract)
    except ContractMissingError as e:
        raise AnchorMismatchError(str(e)) from e
    events = [e for e in receipt.events if e.contract.lower() == claim.contract.lower()
              and e.log_id == claim.log_id]
    if not events:
        raise AnchorMismatchError(f"transaction {hex0x(claim.tx_hash)} anchors nothing for "
                                  f"this log at contract {claim.contract}")
    event = events[0]
    if event.sender.lower() != claim.sender.lower():
        raise SenderMismatchError(f"the anchor on chain was sent by {event.sender}, not by "
                                  f"{claim.sender}")
    if event.size != claim.anchored_size or event.root != claim.anchored_root:
        raise AnchorMismatchError(
            f"the chain anchors size {event.size} root {hex0x(event.root)}; the evidence "
            f"claims size {claim.anchored_size} root {hex0x(claim.anchored_root)}")
    confirmations = int(chain.block_number()) - claim.block_number + 1
    if confirmations < min_confirmations:
        raise NotConfirmedError(f"the anchor has {confirmations} confirmation(s), fewer than "
                                f"the {min_confirmations} required")
    return confirmations


def verify_evidence(evidence: dict[str, Any], rpc_url: str | None, *,
                    min_confirmations: int = 1, expected_sender: str | None = None,
                    log_key: bytes | None = None, chain: Any = None) -> VerifiedEvidence:
    """Check ``evidence`` against the chain at ``rpc_url`` (or an open ``chain``).

    ``rpc_url=None`` and no ``chain``: proofs only.  Raises an ``EvidenceError`` subclass
    naming the fault, or ``ChainUnavailableError`` when the RPC cannot be reached.
    """
    claim = check_proofs(evidence, log_key=log_key)
    if chain is None and rpc_url is None:
        return VerifiedEvidence(claim, chain_checked=False, confirmations=None)
    if chain is None:
        chain = Chain.connect(rpc_url)
    confirmations = check_chain(claim, chain, min_confirmations=min_confirmations,
                                expected_sender=expected_sender)
    return VerifiedEvidence(claim, chain_checked=True, confirmations=confirmations)
