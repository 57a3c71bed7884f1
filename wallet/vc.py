"""Data Integrity proofs of the ``eddsa-jcs-2022`` cryptosuite, so that verifiers outside
Passport accept what a member presents (W3C "Data Integrity EdDSA Cryptosuites v1.0", §3.3).

Pure: no I/O, no clock.  The proof signs, with Ed25519, the 64 bytes
``SHA-256(JCS(proof config)) || SHA-256(JCS(document without proof))``, where the proof
config is the proof without ``proofValue`` and carries the document's ``@context`` when it
has one; ``proofValue`` is the signature in multibase base58btc (``z...``).  The signer is
named by a did:key verification method, ``did:key:z6Mk...#z6Mk...``.  JCS is
``ledger.encoding.canonical`` (RFC 8785, checked against the specification's vectors), and
nothing else here builds the bytes that are signed.

Limits: one proof per document (proof sets and chains, where ``proof`` is a list or carries
``previousProof``, are refused), and only did:key verification methods.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import base58
import nacl.signing

from ledger import keys
from ledger.encoding import canonical
from ledger.errors import EncodingError, KeyFormatError
from wallet.errors import PresentationInvalidError

CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
ASSERTION_METHOD = "assertionMethod"
MULTIBASE_BASE58BTC = "z"
ED25519_PRIV_MULTICODEC = b"\x80\x26"
SEED_BYTES = 32
# XML Schema dateTimeStamp, as Data Integrity requires for ``created`` and ``expires``.
DATETIME_RE = re.compile(
    r"-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))", re.ASCII)


@dataclass(frozen=True)
class VerifiedProof:
    public_key: bytes  # the Ed25519 key of the verification method, which signed
    verification_method: str
    created: str | None
    proof_purpose: str


def verification_method(public_key: bytes) -> str:
    """The did:key verification method of an Ed25519 key: ``did:key:z6Mk...#z6Mk...``."""
    did = keys.did_from_public_key(public_key)
    return f"{did}#{did[len('did:key:'):]}"


def public_key_of(method: Any) -> bytes:
    """The Ed25519 key a did:key verification method names (its did:key document has one key,
    whose fragment is the did's multibase value)."""
    if not isinstance(method, str):
        raise PresentationInvalidError("proof", "verificationMethod is not a string")
    did, sep, fragment = method.partition("#")
    if not sep or not did.startswith("did:key:") or fragment != did[len("did:key:"):]:
        raise PresentationInvalidError("proof", f"verificationMethod {method[:100]!r} is not a "
                                  "did:key URL (did:key:z6Mk...#z6Mk...)")
    try:
        return keys.public_key_from_did(did)
    except KeyFormatError as e:
        raise PresentationInvalidError("proof", f"verificationMethod: {e}") from None


def signing_key_from_multibase(text: str) -> nacl.signing.SigningKey:
    """An Ed25519 key from its multikey ``privateKeyMultibase`` (0x8026 + 32-byte seed)."""
    try:
        raw = base58.b58decode(text[1:]) if text.startswith(MULTIBASE_BASE58BTC) else b""
    except ValueError:
        raw = b""
    if raw[:2] != ED25519_PRIV_MULTICODEC or len(raw) != 2 + SEED_BYTES:
        raise PresentationInvalidError(
            "key", "not an Ed25519 privateKeyMultibase (z + 0x8026 + seed)")
    return nacl.signing.SigningKey(raw[2:])


def _jcs(value: Any, what: str) -> bytes:
    try:
        return canonical(value)
    except EncodingError as e:
        raise PresentationInvalidError(
            "format", f"{what} cannot be canonicalised (JCS): {e}") from None


def canonical_proof_config(document: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    """Spec §3.3.5 Proof Configuration: the canonical proof options, with the document's
    ``@context``; refuses another type or cryptosuite, or a ``created`` that is no dateTime."""
    if options.get("type") != PROOF_TYPE:
        raise PresentationInvalidError("proof", f"proof type {str(options.get('type'))[:60]!r} is "
                                  f"not {PROOF_TYPE}")
    if options.get("cryptosuite") != CRYPTOSUITE:
        raise PresentationInvalidError(
            "proof", f"cryptosuite {str(options.get('cryptosuite'))[:60]!r}"
                                  f" is not {CRYPTOSUITE}")
    for stamp in ("created", "expires"):
        if stamp in options and not (isinstance(options[stamp], str)
                                     and DATETIME_RE.fullmatch(options[stamp])):
            raise PresentationInvalidError("proof", f"proof {stamp} is not an XML Schema dateTime")
    config = dict(options)
    if "@context" in document:
        config["@context"] = document["@context"]
    return _jcs(config, "the proof configuration")


def hash_data(canonical_config: bytes, canonical_document: bytes) -> bytes:
    """Spec §3.3.4 Hashing: SHA-256 of the proof config, then SHA-256 of the document."""
    return hashlib.sha256(canonical_config).digest() + hashlib.sha256(canonical_document).digest()


def encode_signature(signature: bytes) -> str:
    return MULTIBASE_BASE58BTC + base58.b58encode(signature).decode("ascii")


def add_proof(document: Mapping[str, Any], signing_key: nacl.signing.SigningKey, *,
              created: str, proof_purpose: str = ASSERTION_METHOD) -> dict[str, Any]:
    """The document secured with an eddsa-jcs-2022 proof by ``signing_key`` (spec §3.3.1)."""
    if "proof" in document:
        raise PresentationInvalidError("format", "the document already carries a proof")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE, "created": created,
        "verificationMethod": verification_method(bytes(signing_key.verify_key)),
        "proofPurpose": proof_purpose}
    if "@context" in document:
        proof["@context"] = document["@context"]
    data = hash_data(canonical_proof_config(document, proof), _jcs(document, "the document"))
    proof["proofValue"] = encode_signature(bytes(signing_key.sign(data).signature))
    return {**document, "proof": proof}


def _starts_with(context: Any, prefix: Any) -> bool:
    as_list = context if isinstance(context, list) else [context]
    wanted = prefix if isinstance(prefix, list) else [prefix]
    return len(as_list) >= len(wanted) and as_list[:len(wanted)] == wanted


def verify_proof(secured: Mapping[str, Any], *,
                 proof_purpose: str = ASSERTION_METHOD) -> VerifiedProof:
    """Spec §3.3.2 Verify Proof; ``PresentationInvalidError("proof", ...)`` naming what fails.

    The Ed25519 check is libsodium's (constant time in the secret-dependent parts; the inputs
    here are all public).
    """
    if not isinstance(secured, Mapping):
        raise PresentationInvalidError("format", "a secured document is a JSON object")
    proof = secured.get("proof")
    if isinstance(proof, list):
        raise PresentationInvalidError("proof", "proof sets (several proofs) are not supported")
    if not isinstance(proof, dict):
        raise PresentationInvalidError("proof", "the document carries no proof object")
    if "previousProof" in proof:
        raise PresentationInvalidError("proof", "proof chains (previousProof) are not supported")
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith(MULTIBASE_BASE58BTC):
        raise PresentationInvalidError("proof", "proofValue is not multibase base58btc ('z...')")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError:
        raise PresentationInvalidError("proof", "proofValue is not valid base58btc") from None
    if len(signature) != keys.SIGNATURE_BYTES:
        raise PresentationInvalidError("proof", "proofValue is not a 64-byte Ed25519 signature")
    if "@context" in options:
        if not _starts_with(unsecured.get("@context"), options["@context"]):
            raise PresentationInvalidError("proof", "the document's @context does not start with "
                                      "the proof's @context")
        unsecured["@context"] = options["@context"]
    purpose = options.get("proofPurpose")
    if purpose != proof_purpose:
        raise PresentationInvalidError("proof", f"proofPurpose {str(purpose)[:60]!r} is not "
                                  f"{proof_purpose}")
    config = canonical_proof_config(unsecured, options)
    public_key = public_key_of(options.get("verificationMethod"))
    data = hash_data(config, _jcs(unsecured, "the document"))
    if not keys.verify(public_key, b"", data, signature):
        raise PresentationInvalidError(
            "proof", "the eddsa-jcs-2022 signature does not verify under "
                                  f"{options['verificationMethod']} (the document or its "
                                  "proof was altered, or another key signed)")
    created = options.get("created")
    return VerifiedProof(public_key=public_key,
                         verification_method=options["verificationMethod"],
                         created=created if isinstance(created, str) else None,
                         proof_purpose=purpose)
