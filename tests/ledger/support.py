"""Builders shared by the ledger core tests: fixed keys, a valid body per type, raw records."""

from __future__ import annotations

from typing import Any

import nacl.signing

from ledger import keys
from ledger.encoding import b64url_encode, canonical

TS = "2026-01-31T09:30:00Z"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "0123456789abcdef" * 4
WRAPPED = b64url_encode(bytes(range(48)))
OMIT: Any = object()  # an override that drops the key


def seeded(n: int) -> nacl.signing.SigningKey:
    """A fixed Ed25519 key (seed = n repeated), so failures reproduce."""
    return nacl.signing.SigningKey(bytes([n % 256]) * 31 + bytes([n // 256 + 1]))


KEY = seeded(1)
OTHER = seeded(2)
DEVICE = seeded(3)
DID = keys.did_of(KEY)
OTHER_DID = keys.did_of(OTHER)
DEVICE_DID = keys.did_of(DEVICE)


def pub(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def valid_bodies(peer: str = OTHER_DID) -> dict[str, dict[str, Any]]:
    """One valid body per record type (``peer`` is the other party where there is one)."""
    return {
        "passport.set": {"field": "email", "commitment": DIGEST_A, "blob": DIGEST_B,
                         "recipients": {DID: WRAPPED, peer: WRAPPED}},
        "passport.clear": {"field": "email"},
        "consent.grant": {"grant": "grant_0001", "grantee": peer, "fields": ["email", "name"],
                          "purpose": "the monthly newsletter", "expires": "2027-01-01T00:00:00Z",
                          "keys": {"email": WRAPPED}},
        "consent.revoke": {"grant": "grant_0001"},
        "checkin": {"nonce_hash": DIGEST_A,
                    "sealed": {"ct": b64url_encode(b"ciphertext"), "keys": [WRAPPED, "AQ"]}},
        "attest": {"subject": peer, "claim": {"presence": True, "hours": 2}, "about": DIGEST_B},
        "attest.accept": {"attestation": DIGEST_A},
        "key.rotate": {"next": peer, "next_commitment": DIGEST_A},
        "device.add": {"device": peer, "label": "phone"},
        "device.remove": {"device": peer},
        "profile": {"v": 1, "kind": "service", "name": "RideShare", "web": "https://ride.example"},
    }


def unsigned(**overrides: Any) -> dict[str, Any]:
    """A record object without ``sig``; an override of ``OMIT`` drops the key."""
    obj: dict[str, Any] = {"v": 1, "author": DID, "seq": 1, "prev": None, "ts": TS,
                           "type": "passport.clear", "body": {"field": "email"}}
    obj.update(overrides)
    return {k: v for k, v in obj.items() if v is not OMIT}


def raw_record(key: nacl.signing.SigningKey = KEY, *, sig: Any = None,
               **overrides: Any) -> bytes:
    """Canonical bytes of a record, signed by ``key`` unless ``sig`` is given (or ``OMIT``)."""
    obj = unsigned(**overrides)
    if sig is None:
        sig = b64url_encode(keys.sign(key, keys.RECORD_DOMAIN, canonical(obj)))
    if sig is not OMIT:
        obj["sig"] = sig
    return canonical(obj)
