"""Passport presentations as W3C Verifiable Credentials 2.0 (docs/protocol.md, "Verifiable
Credentials"): the two formats, built without I/O.

Two kinds, both issued by the member and secured with an eddsa-jcs-2022 Data Integrity proof
(``wallet.vc``) by the member's current key:

- ``PassportFieldCredential``: one field's value, the salt that opens its commitment, and the
  ``passport.set`` record that committed to it; optionally the record's text, its log index,
  its inclusion proof and the node's signed checkpoint.
- ``PassportAttestationCredential``: an attestation about the member, as the attester's own
  signed ``attest`` record, with the opened claim and the envelope's content key so that a
  verifier can decrypt the sealed claim and compare.

``wallet.vc_verify`` checks them offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

from ledger.encoding import b64url_decode, b64url_encode
from ledger.errors import LedgerError
from ledger.records import Record
from ledger.seal import CONTENT_KEY_BYTES, NONCE_BYTES
from wallet import vc
from wallet.envelope import ENVELOPE_AAD
from wallet.errors import PresentationInvalidError

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VERIFIABLE_CREDENTIAL = "VerifiableCredential"
FIELD_CREDENTIAL = "PassportFieldCredential"
ATTESTATION_CREDENTIAL = "PassportAttestationCredential"
LEDGER_KEYS = ("logIndex", "inclusionProof", "checkpoint")


@dataclass(frozen=True)
class LedgerProof:
    """Where a record sits in the node's log: index, RFC 9162 inclusion proof, checkpoint."""

    index: int
    inclusion: list[str]  # base64url hashes
    checkpoint: str  # the C2SP signed note of the tree the proof is to

    def json(self) -> dict[str, Any]:
        return {"logIndex": self.index, "inclusionProof": list(self.inclusion),
                "checkpoint": self.checkpoint}


def _credential(kind: str, member: str, valid_from: str, subject: dict[str, Any]
                ) -> dict[str, Any]:
    return {"@context": [VC_CONTEXT], "type": [VERIFIABLE_CREDENTIAL, kind], "issuer": member,
            "validFrom": valid_from, "credentialSubject": {"id": member, **subject}}


def with_chain(credential: dict[str, Any], chain: Sequence[Record] | None) -> dict[str, Any]:
    """Carry the member's chain (records in clear: types, keys, digests; never a value) so a
    verifier can check which keys are in force after a rotation, offline."""
    if chain:
        credential["credentialSubject"]["memberChain"] = [r.raw.decode("utf-8") for r in chain]
    return credential


def field_credential(*, member: str, field: str, value: Any, salt: bytes, record: Record,
                     valid_from: str, include_record: bool = False,
                     ledger: LedgerProof | None = None) -> dict[str, Any]:
    """The unsigned credential for one field; ``ledger`` implies the record's text."""
    subject: dict[str, Any] = {"field": field, "value": value, "salt": b64url_encode(salt),
                               "commitment": record.body["commitment"], "record": record.id}
    if include_record or ledger is not None:
        subject["recordText"] = record.raw.decode("utf-8")
    if ledger is not None:
        subject.update(ledger.json())
    return _credential(FIELD_CREDENTIAL, member, valid_from, subject)


def attestation_credential(*, member: str, record: Record, claim: dict[str, Any],
                           content_key: bytes | None, valid_from: str,
                           ledger: LedgerProof | None = None) -> dict[str, Any]:
    """The unsigned credential for an attestation about ``member`` (``content_key`` is None
    when the claim was written in clear)."""
    subject: dict[str, Any] = {"attestation": record.id, "attester": record.author,
                               "attestedAt": record.ts, "claim": claim,
                               "recordText": record.raw.decode("utf-8")}
    if "about" in record.body:
        subject["about"] = record.body["about"]
    if content_key is not None:
        subject["contentKey"] = b64url_encode(content_key)
    if ledger is not None:
        subject.update(ledger.json())
    return _credential(ATTESTATION_CREDENTIAL, member, valid_from, subject)


def sign(credential: Mapping[str, Any], signing_key: nacl.signing.SigningKey, *,
         created: str) -> dict[str, Any]:
    return vc.add_proof(credential, signing_key, created=created)


def open_envelope_with(envelope: Any, content_key: bytes) -> dict[str, Any]:
    """The payload of an envelope (``wallet.envelope``) opened with its disclosed content key."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("ct"), str):
        raise PresentationInvalidError("claim", "the attestation's claim is not a sealed envelope")
    if len(content_key) != CONTENT_KEY_BYTES:
        raise PresentationInvalidError("claim", "contentKey is not a 32-byte key")
    try:
        blob = b64url_decode(envelope["ct"], what="envelope ciphertext")
        pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            blob[NONCE_BYTES:], ENVELOPE_AAD, blob[:NONCE_BYTES], content_key)
    except (LedgerError, nacl.exceptions.CryptoError, ValueError):
        raise PresentationInvalidError("claim", "the envelope does not decrypt with the disclosed "
                                  "contentKey") from None
    try:
        payload = json.loads(pt)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise PresentationInvalidError("claim", "the envelope payload is not a JSON object")
    return payload
