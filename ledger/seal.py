"""Sealing field values (DESIGN §4): the operator stores ciphertext, grantees open it.

Each value gets a fresh 32-byte content key; the plaintext is the canonical JSON
``{"salt": <16 random bytes>, "value": ...}``, sealed with XChaCha20-Poly1305 whose associated
data binds author, field and seq, so a blob cannot be replayed under another record.  The
commitment, SHA-256 of that plaintext, lets a grantee check the value is the one the member
signed, and lets the member disclose one field with (value, salt) alone.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils

from ledger.encoding import b64url_decode, b64url_encode, canonical, sha256_name
from ledger.errors import SealError
from ledger.keys import public_key_from_did

CONTENT_KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


@dataclass(frozen=True)
class Sealed:
    blob: bytes  # nonce || ciphertext: what the node stores, by its SHA-256
    commitment: str  # sha256:<hex> of the plaintext
    recipients: dict[str, str]  # did -> content key in a sealed box to that did's X25519 key
    salt: bytes
    content_key: bytes  # stays in the wallet; needed to grant the value later

    @property
    def blob_name(self) -> str:
        return sha256_name(self.blob)


def _aad(author: str, field: str, seq: int) -> bytes:
    return canonical({"author": author, "field": field, "seq": seq})


def plaintext(value: Any, salt: bytes) -> bytes:
    return canonical({"salt": b64url_encode(salt), "value": value})


def commitment(value: Any, salt: bytes) -> str:
    return sha256_name(plaintext(value, salt))


def wrap_key(content_key: bytes, did: str) -> str:
    """The content key in a sealed box to the X25519 form of ``did``'s Ed25519 key."""
    return wrap_key_to(content_key, public_key_from_did(did))


def wrap_key_to(content_key: bytes, public_key: bytes) -> str:
    """The same, to a party's current key (after rotation it is no longer its did's key)."""
    verify_key = nacl.signing.VerifyKey(public_key)
    box = nacl.public.SealedBox(verify_key.to_curve25519_public_key())
    return b64url_encode(box.encrypt(content_key))


def unwrap_key(wrapped: str, signing_key: nacl.signing.SigningKey) -> bytes:
    box = nacl.public.SealedBox(signing_key.to_curve25519_private_key())
    try:
        key = box.decrypt(b64url_decode(wrapped, what="wrapped key"))
    except nacl.exceptions.CryptoError as e:
        raise SealError("the wrapped key is not sealed to this key") from e
    if len(key) != CONTENT_KEY_BYTES:
        raise SealError("the wrapped content key has the wrong length")
    return bytes(key)


def seal(value: Any, *, author: str, field: str, seq: int, recipients: list[str],
         encryption_keys: Mapping[str, bytes] | None = None) -> Sealed:
    """Seal ``value``; each recipient's key is its did's unless ``encryption_keys`` names one."""
    keys_for = encryption_keys or {}
    content_key = nacl.utils.random(CONTENT_KEY_BYTES)
    salt = nacl.utils.random(SALT_BYTES)
    nonce = nacl.utils.random(NONCE_BYTES)
    pt = plaintext(value, salt)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, _aad(author, field, seq),
                                                           nonce, content_key)
    return Sealed(blob=nonce + ct, commitment=sha256_name(pt),
                  recipients={did: wrap_key_to(content_key, keys_for[did]) if did in keys_for
                              else wrap_key(content_key, did) for did in recipients},
                  salt=salt, content_key=content_key)


def open_blob(blob: bytes, content_key: bytes, *, author: str, field: str, seq: int,
              expected_commitment: str) -> Any:
    """The value in ``blob``, checked against the commitment the member signed."""
    nonce, ct = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, _aad(author, field, seq),
                                                               nonce, content_key)
    except nacl.exceptions.CryptoError as e:
        raise SealError(f"the value of {field!r} does not decrypt (wrong key, or the blob was "
                        "altered or moved to another record)") from e
    got = sha256_name(pt)
    if not hmac.compare_digest(got, expected_commitment):
        raise SealError(f"the value of {field!r} does not match the commitment the member signed")
    return json.loads(pt)["value"]


def open_for(blob: bytes, wrapped: Mapping[str, str], did: str,
             signing_key: nacl.signing.SigningKey, *, author: str, field: str, seq: int,
             expected_commitment: str) -> Any:
    if did not in wrapped:
        raise SealError(f"the value of {field!r} is not wrapped to {did}")
    key = unwrap_key(wrapped[did], signing_key)
    return open_blob(blob, key, author=author, field=field, seq=seq,
                     expected_commitment=expected_commitment)
