"""Presenting outside Passport: the wallet's side of ``wallet.vc_credentials``.

Gathers, from the member's own synced wallet and node, what a credential discloses (a field's
value and salt; an attestation's record and its envelope's content key), checks it as the
wallet would before showing it, and signs the credential with the member's current key.
"""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from ledger import keys
from ledger.chain import validate_chain
from ledger.encoding import b64url_decode
from ledger.errors import LedgerError, SealError
from ledger.records import Record
from ledger.seal import NONCE_BYTES, _aad, commitment
from ledger.times import format_ts, now_ms
from passport_api.client import BlobErasedError, NodeError
from wallet import vc_credentials
from wallet.agent import unwrap
from wallet.errors import UntrustedNodeError, UsageError
from wallet.keeper import talking_to
from wallet.vc_credentials import LedgerProof
from wallet.wallet import Wallet


def now_seconds() -> str:
    """Now, as RFC 3339 UTC to the second (what ``created`` and ``validFrom`` carry)."""
    return format_ts(now_ms() // 1000 * 1000)


def open_value(blob: bytes, content_key: bytes, record: Record) -> tuple[Any, bytes]:
    """The value and salt sealed in ``blob`` for the member's ``passport.set`` ``record``,
    checked against its commitment (``ledger.seal.open_blob`` returns the value alone)."""
    field, seq = record.body["field"], record.seq
    try:
        pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            blob[NONCE_BYTES:], _aad(record.author, field, seq), blob[:NONCE_BYTES], content_key)
    except nacl.exceptions.CryptoError:
        raise SealError(f"the value of {field!r} does not decrypt") from None
    opened = json.loads(pt)
    salt = b64url_decode(opened["salt"], what="salt")
    if commitment(opened["value"], salt) != record.body["commitment"]:
        raise SealError(f"the value of {field!r} does not match the commitment the member signed")
    return opened["value"], salt


def ledger_proof(wallet: Wallet, record_id: str) -> LedgerProof:
    """The record's inclusion proof to the wallet's latest signed head, verified on the way."""
    proved = wallet.prove(record_id)
    return LedgerProof(index=proved["index"], inclusion=proved["inclusion"],
                       checkpoint=proved["tree_head"]["checkpoint"])


def _signed(wallet: Wallet, credential: dict[str, Any], created: str) -> dict[str, Any]:
    if bytes(wallet.author.signing_key.verify_key) != keys.public_key_from_did(wallet.did):
        # signed by a rotated key or a device: carry the chain that shows it is in force
        credential = vc_credentials.with_chain(credential, wallet.chain)
    return vc_credentials.sign(credential, wallet.author.signing_key, created=created)


def present_field(wallet: Wallet, name: str, *, with_proof: bool = False) -> dict[str, Any]:
    """A signed ``PassportFieldCredential`` for the field's current value."""
    record = wallet.view().value(name)
    if record is None:
        raise UsageError(f"{name!r} has no value in your passport (see 'passport show')")
    with talking_to(wallet.node):
        try:
            blob = wallet.client.blob(record.body["blob"])
        except BlobErasedError:
            raise UsageError(f"the value of {name!r} was erased: there is nothing to "
                             "present") from None
    value, salt = open_value(blob, wallet.content_key(record), record)
    created = now_seconds()
    proof = ledger_proof(wallet, record.id) if with_proof else None
    credential = vc_credentials.field_credential(
        member=wallet.did, field=name, value=value, salt=salt, record=record,
        valid_from=created, ledger=proof)
    return _signed(wallet, credential, created)


def _attestation_record(wallet: Wallet, attestation_id: str) -> Record:
    with talking_to(wallet.node):
        try:
            record = wallet.client.record(attestation_id).record
        except NodeError as e:
            if e.code not in ("not-found", "bad-request"):
                raise
            raise UsageError(f"no record {attestation_id[:80]} on this node") from None
    if record.id != attestation_id:
        raise UntrustedNodeError(f"the node served another record for {attestation_id}")
    if record.type != "attest" or record.body["subject"] != wallet.did:
        raise UsageError(f"{attestation_id} is not an attestation about you "
                         "(see 'passport attestations')")
    chain = wallet.chain_of(record.author)
    try:
        validate_chain(chain)
    except LedgerError as e:
        raise UntrustedNodeError(f"the chain of attester {record.author} does not verify: "
                            f"{e}") from None
    if record.id not in {r.id for r in chain}:
        raise UntrustedNodeError(f"attestation {record.id} is not on its author's chain")
    return record


def content_key_of(envelope: dict[str, Any], wallet: Wallet) -> bytes:
    """The envelope's content key, unwrapped with whichever of the wallet's keys it was
    sealed to (``wallet.envelope.open_envelope`` keeps it to itself)."""
    for signing_key in reversed(wallet.store.signing_keys):
        for wrapped in envelope.get("keys", []):
            try:
                return unwrap(wrapped, signing_key)
            except SealError:
                continue
    raise UsageError("this attestation's claim is not sealed to any of your keys")


def present_attestation(wallet: Wallet, attestation_id: str, *,
                        with_proof: bool = False) -> dict[str, Any]:
    """A signed ``PassportAttestationCredential``: the attester's record, the opened claim and
    the content key that opens it, made by the member (the attester need not be there)."""
    record = _attestation_record(wallet, attestation_id)
    written: dict[str, Any] = record.body["claim"]
    content_key: bytes | None = None
    if set(written) == {"sealed"}:
        content_key = content_key_of(written["sealed"], wallet)
        claim = vc_credentials.open_envelope_with(written["sealed"], content_key)
    else:
        claim = written
    created = now_seconds()
    proof = ledger_proof(wallet, record.id) if with_proof else None
    credential = vc_credentials.attestation_credential(
        member=wallet.did, record=record, claim=claim, content_key=content_key,
        valid_from=created, ledger=proof)
    return _signed(wallet, credential, created)
