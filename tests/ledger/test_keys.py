"""ledger.keys: did:key against the W3C CCG test vectors, strict parsing, domain-bound signing."""

from __future__ import annotations

import hashlib
from typing import Any

import base58
import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import keys
from ledger.errors import KeyFormatError
from tests.ledger.support import KEY, OTHER, pub

# w3c-ccg/did-method-key, test-vectors/ed25519-x25519.json: (seed, did, publicKeyBase58).
CCG_VECTORS = [
    ("00" * 32, "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
     "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS"),
    ("00" * 31 + "01", "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
     "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt"),
    ("00" * 31 + "02", "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
     "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH"),
    ("00" * 31 + "03", "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
     "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2"),
]
# The example identifier of the did:key specification (an Ed25519 key).
SPEC_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
# The same seed-0 vector's X25519 key agreement key: a valid did:key, but not Ed25519.
X25519_DID = "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"


def _did(payload: bytes) -> str:
    return "did:key:z" + base58.b58encode(payload).decode()


@pytest.mark.parametrize(("seed", "did", "public_b58"), CCG_VECTORS)
def test_ccg_vectors(seed: str, did: str, public_b58: str) -> None:
    key = nacl.signing.SigningKey(bytes.fromhex(seed))
    public = base58.b58decode(public_b58)
    assert bytes(key.verify_key) == public
    assert keys.did_of(key) == did
    assert keys.did_from_public_key(public) == did
    assert keys.public_key_from_did(did) == public


def test_spec_example_round_trips() -> None:
    public = keys.public_key_from_did(SPEC_EXAMPLE)
    assert len(public) == 32
    assert keys.did_from_public_key(public) == SPEC_EXAMPLE


@given(st.binary(min_size=32, max_size=32))
def test_did_round_trip(public: bytes) -> None:
    did = keys.did_from_public_key(public)
    assert did.startswith("did:key:z6Mk")
    assert keys.public_key_from_did(did) == public


@pytest.mark.parametrize(("did", "problem"), [
    ("did:web:example.com", "not a did:key"),
    ("did:key:" + SPEC_EXAMPLE[9:], "not a did:key"),  # no 'z' multibase prefix
    ("DID:KEY:" + SPEC_EXAMPLE[8:], "not a did:key"),
    ("", "not a did:key"),
    ("did:key:z6Mk0OIl", "not valid base58btc"),
    ("did:key:z6Mké", "not valid base58btc"),
    (X25519_DID, r"multicodec 0xed01"),
    (_did(b"\xe7\x01" + bytes(33)), r"multicodec 0xed01"),  # secp256k1-pub
    ("did:key:z", r"multicodec 0xed01"),
    ("did:key:zTjsVPtY", "32-byte Ed25519 key"),  # did-key-test-suite: too short
    (_did(b"\xed\x01" + bytes(range(31))), "32-byte Ed25519 key"),
    (_did(b"\xed\x01" + bytes(range(33))), "32-byte Ed25519 key"),
    (_did(b"\x00\xed\x01" + bytes(range(32))), r"multicodec 0xed01"),  # leading '1' digit
    (SPEC_EXAMPLE + "#" + SPEC_EXAMPLE[8:], "not valid base58btc"),
])
def test_public_key_from_did_refuses(did: str, problem: str) -> None:
    with pytest.raises(KeyFormatError, match=problem):
        keys.public_key_from_did(did)


@pytest.mark.parametrize("value", [None, 5, b"did:key:z6Mk", ["did:key:z6Mk"], {"a": 1}])
def test_public_key_from_did_refuses_non_strings(value: Any) -> None:
    # Lists and objects from untrusted JSON must be refused, not crash the cache (TypeError).
    with pytest.raises(KeyFormatError, match="not a did:key"):
        keys.public_key_from_did(value)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_did_from_public_key_refuses_wrong_length(size: int) -> None:
    with pytest.raises(KeyFormatError, match=f"32 bytes, got {size}"):
        keys.did_from_public_key(bytes(size))


def test_key_commitment() -> None:
    public = pub(KEY)
    assert keys.key_commitment(public) == "sha256:" + hashlib.sha256(public).hexdigest()
    assert keys.key_commitment(public) != keys.key_commitment(pub(OTHER))


def test_sign_and_verify_are_bound_to_domain_key_and_payload() -> None:
    payload = b'{"a":1}'
    sig = keys.sign(KEY, keys.RECORD_DOMAIN, payload)
    assert len(sig) == keys.SIGNATURE_BYTES
    assert keys.verify(pub(KEY), keys.RECORD_DOMAIN, payload, sig)
    assert not keys.verify(pub(KEY), b"passport/other/v1\x00", payload, sig)
    assert not keys.verify(pub(KEY), b"", keys.RECORD_DOMAIN[:-1] + payload, sig)
    assert not keys.verify(pub(OTHER), keys.RECORD_DOMAIN, payload, sig)
    assert not keys.verify(pub(KEY), keys.RECORD_DOMAIN, payload + b" ", sig)
    # a plain Ed25519 signature over the payload alone is not a record signature
    plain = bytes(KEY.sign(payload).signature)
    assert not keys.verify(pub(KEY), keys.RECORD_DOMAIN, payload, plain)
    assert keys.verify(pub(KEY), b"", payload, plain)


@pytest.mark.parametrize(("public", "sig"), [
    (pub(KEY), b""), (pub(KEY), bytes(63)), (pub(KEY), bytes(65)), (pub(KEY), bytes(64)),
    (pub(KEY)[:31], bytes(64)), (b"", bytes(64)),
    (bytes(32), bytes(64)),  # the identity point with an all-zero signature: libsodium refuses
    (b"\x01" + bytes(31), bytes(64)),
])
def test_verify_is_false_never_an_exception(public: bytes, sig: bytes) -> None:
    assert keys.verify(public, keys.RECORD_DOMAIN, b"payload", sig) is False


@given(st.integers(0, 63), st.integers(1, 255))
def test_verify_refuses_any_changed_signature_byte(index: int, flip: int) -> None:
    payload = b"the same payload"
    sig = bytearray(keys.sign(KEY, keys.RECORD_DOMAIN, payload))
    sig[index] ^= flip
    assert not keys.verify(pub(KEY), keys.RECORD_DOMAIN, payload, bytes(sig))
