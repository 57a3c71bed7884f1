"""Envelopes: a payload sealed to a few parties who are not named (DESIGN §7).

Claims of attestations (and check-ins) must stay sealed on the ledger, yet both the subject
and the author must be able to read them later.  An envelope is
``{"ct": b64url(nonce || ciphertext), "keys": [wrapped content key, ...]}``: the payload is the
canonical JSON of a dict, sealed with XChaCha20-Poly1305 under a fresh 32-byte content key, and
that key is wrapped (a sealed box, see ``ledger.seal.wrap_key_to``) to the X25519 form of each
recipient's Ed25519 key.  The keys list is shuffled and carries no names, so the node learns
how many parties can read it but not who they are.  A reader tries each of its signing keys
against each wrapped key.
"""

from __future__ import annotations

import json
import random
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing
import nacl.utils

from ledger.encoding import b64url_decode, b64url_encode, canonical
from ledger.errors import EncodingError, SealError
from ledger.seal import CONTENT_KEY_BYTES, NONCE_BYTES, wrap_key_to
from wallet.agent import unwrap
from wallet.errors import EnvelopeError

ENVELOPE_AAD = b"passport-envelope/1"  # binds the ciphertext to this use of the key
MAX_ENVELOPE_KEYS = 16
_SYSTEM_RANDOM = random.SystemRandom()


def seal_envelope(payload: dict[str, Any], recipient_keys: list[bytes]) -> dict[str, Any]:
    """Seal ``payload`` so that the holder of any of ``recipient_keys`` (Ed25519) can open it.

    Raises ``EnvelopeError`` for no recipients, a key that is not 32 bytes, or a payload
    that canonical JSON cannot encode.
    """
    if not isinstance(payload, dict):
        raise EnvelopeError("an envelope payload must be a JSON object")
    if not recipient_keys:
        raise EnvelopeError("an envelope needs at least one recipient")
    if len(recipient_keys) > MAX_ENVELOPE_KEYS:
        raise EnvelopeError(f"an envelope has at most {MAX_ENVELOPE_KEYS} recipients")
    try:
        pt = canonical(payload)
    except EncodingError as e:
        raise EnvelopeError(f"the payload cannot be sealed: {e}") from e
    content_key = nacl.utils.random(CONTENT_KEY_BYTES)
    nonce = nacl.utils.random(NONCE_BYTES)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, ENVELOPE_AAD, nonce, content_key)
    wrapped: list[str] = []
    for key in dict.fromkeys(recipient_keys):  # one wrap per distinct key
        if len(key) != 32:
            raise EnvelopeError("a recipient key must be a 32-byte Ed25519 public key")
        wrapped.append(wrap_key_to(content_key, key))
    _SYSTEM_RANDOM.shuffle(wrapped)
    return {"ct": b64url_encode(nonce + ct), "keys": wrapped}


def open_envelope(envelope: dict[str, Any],
                  signing_keys: list[nacl.signing.SigningKey]) -> dict[str, Any]:
    """The payload of ``envelope``, opened with whichever of ``signing_keys`` it was sealed to.

    Raises ``EnvelopeError`` if the envelope is malformed, sealed to none of the keys, or its
    ciphertext was altered.
    """
    ct, wrapped = _parse(envelope)
    for signing_key in signing_keys:
        for w in wrapped:
            try:
                content_key = unwrap(w, signing_key)
            except SealError:
                continue
            return _decrypt(ct, content_key)
    raise EnvelopeError("this envelope is not sealed to any of your keys")


def _parse(envelope: Any) -> tuple[bytes, list[str]]:
    if not isinstance(envelope, dict) or set(envelope) != {"ct", "keys"}:
        raise EnvelopeError("an envelope is an object with exactly 'ct' and 'keys'")
    keys = envelope["keys"]
    if (not isinstance(keys, list) or not keys or len(keys) > MAX_ENVELOPE_KEYS
            or not all(isinstance(k, str) for k in keys)):
        raise EnvelopeError(f"an envelope's 'keys' is a list of 1 to {MAX_ENVELOPE_KEYS} "
                            "wrapped keys")
    try:
        ct = b64url_decode(envelope["ct"], what="envelope ciphertext")
    except EncodingError as e:
        raise EnvelopeError(str(e)) from e
    if len(ct) < NONCE_BYTES + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES:
        raise EnvelopeError("the envelope ciphertext is too short")
    return ct, keys


def _decrypt(blob: bytes, content_key: bytes) -> dict[str, Any]:
    nonce, ct = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ENVELOPE_AAD, nonce,
                                                               content_key)
    except nacl.exceptions.CryptoError as e:
        raise EnvelopeError("the envelope does not decrypt (its ciphertext was altered)") from e
    payload = json.loads(pt)
    if not isinstance(payload, dict):
        raise EnvelopeError("the envelope payload is not a JSON object")
    return payload
