"""Ed25519 identities: did:key identifiers and domain-separated signatures.

A member's identifier is the did:key of the key that opened their chain (multicodec 0xed01,
base58btc), so it survives key rotation.  Record signatures are made over a domain tag followed
by the payload, so one can never be replayed as another kind of signature; tree heads are C2SP
signed notes instead, made only with the log key (see ``ledger.checkpoint``).
"""

from __future__ import annotations

from functools import lru_cache

import base58
import nacl.bindings
import nacl.exceptions
import nacl.signing

from ledger.encoding import sha256_name
from ledger.errors import KeyFormatError

ED25519_PUB_MULTICODEC = b"\xed\x01"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
DID_KEY_PREFIX = "did:key:z"

RECORD_DOMAIN = b"passport/record/v1\x00"
RECEIPT_DOMAIN = b"passport/receipt/v1\x00"  # the node's signature on an access receipt


def did_from_public_key(public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise KeyFormatError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
    return DID_KEY_PREFIX + base58.b58encode(ED25519_PUB_MULTICODEC + public_key).decode("ascii")


def public_key_from_did(did: str) -> bytes:
    """The raw Ed25519 key inside a did:key; ``KeyFormatError`` naming what is wrong."""
    # Checked before the cache: a list or object from untrusted JSON is unhashable.
    if not isinstance(did, str) or not did.startswith(DID_KEY_PREFIX):
        raise KeyFormatError("identifier is not a did:key (expected 'did:key:z...')")
    return _public_key_from_did(did)


@lru_cache(maxsize=1 << 18)  # ~50 MB at most: every member of a large network
def _public_key_from_did(did: str) -> bytes:
    try:
        decoded = base58.b58decode(did[len(DID_KEY_PREFIX):])
    except ValueError as e:
        raise KeyFormatError("did:key is not valid base58btc") from e
    if decoded[:2] != ED25519_PUB_MULTICODEC:
        raise KeyFormatError("did:key does not hold an Ed25519 key (multicodec 0xed01)")
    key = decoded[2:]
    if len(key) != PUBLIC_KEY_BYTES or did_from_public_key(key) != did:
        raise KeyFormatError("did:key does not hold a 32-byte Ed25519 key in canonical form")
    return key


def key_commitment(public_key: bytes) -> str:
    """The pre-rotation commitment to a future key: its SHA-256, as ``sha256:<hex>``."""
    return sha256_name(public_key)


def sign(signing_key: nacl.signing.SigningKey, domain: bytes, payload: bytes) -> bytes:
    return bytes(signing_key.sign(domain + payload).signature)


def verify(public_key: bytes, domain: bytes, payload: bytes, signature: bytes) -> bool:
    """Constant-time Ed25519 check (libsodium); False, never an exception, on any mismatch."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + domain + payload, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return False
    return True


def generate() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def did_of(signing_key: nacl.signing.SigningKey) -> str:
    return did_from_public_key(bytes(signing_key.verify_key))
