"""The body of each record type, validated field by field.

A body has exactly the keys its type allows (required and optional); anything else is refused
with the path of the offending key.  Adding a type or a key is a protocol change: bump the
record version or add a new type, never loosen an old one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ledger.encoding import b64url_length
from ledger.errors import EncodingError, KeyFormatError, RecordError
from ledger.keys import public_key_from_did
from ledger.profiles import PROFILE_TYPE, check_profile
from ledger.times import parse_ts

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
FIELD_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_TEXT_CHARS = 500
MAX_WRAPPED_KEY_BYTES = 256
MAX_SEALED_BYTES = 16 * 1024
MAX_LIST_ITEMS = 64

Check = Callable[[Any, str], None]


def _fail(path: str, problem: str) -> RecordError:
    return RecordError(f"{path}: {problem}")


def digest(value: Any, path: str) -> None:
    if not isinstance(value, str) or not DIGEST_RE.fullmatch(value):
        raise _fail(path, "must be 'sha256:' followed by 64 lowercase hex digits")


def field_name(value: Any, path: str) -> None:
    if not isinstance(value, str) or not FIELD_RE.fullmatch(value):
        raise _fail(path, "must be a field name: a-z, 0-9 and _, starting with a letter, "
                          "at most 64 characters")


def did(value: Any, path: str) -> None:
    try:
        public_key_from_did(value)
    except KeyFormatError as e:
        raise _fail(path, str(e)) from e


def subject(value: Any, path: str) -> None:
    """A did:key in clear, or a blinded subject (sha256 of did and a shared nonce)."""
    if isinstance(value, str) and value.startswith("sha256:"):
        digest(value, path)
    else:
        did(value, path)


def token(value: Any, path: str) -> None:
    if not isinstance(value, str) or not TOKEN_RE.fullmatch(value):
        raise _fail(path, "must be 8-64 characters of A-Z, a-z, 0-9, _ and -")


def text(value: Any, path: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TEXT_CHARS:
        raise _fail(path, f"must be a string of 1 to {MAX_TEXT_CHARS} characters")


def label(value: Any, path: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise _fail(path, "must be a string of 1 to 64 characters")


def timestamp(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise _fail(path, "must be an RFC 3339 UTC time like 2026-01-31T09:30:00Z")
    try:
        parse_ts(value)
    except RecordError as e:
        raise _fail(path, str(e)) from e


def _b64(limit: int) -> Check:
    def check(value: Any, path: str) -> None:
        try:
            size = b64url_length(value, what=path)
        except EncodingError as e:
            raise _fail(path, "must be base64url without padding") from e
        if not 1 <= size <= limit:
            raise _fail(path, f"must decode to 1 to {limit} bytes")
    return check


wrapped_key = _b64(MAX_WRAPPED_KEY_BYTES)


def _map(key_check: Check, value_check: Check, *, min_items: int = 1) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict) or not min_items <= len(value) <= MAX_LIST_ITEMS:
            raise _fail(path, f"must be an object of {min_items} to {MAX_LIST_ITEMS} entries")
        for k, v in value.items():
            key_check(k, f"{path} key {k!r}")
            value_check(v, f"{path}.{k}")
    return check


def _list(item_check: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST_ITEMS:
            raise _fail(path, f"must be a list of 1 to {MAX_LIST_ITEMS} items")
        if len(set(map(repr, value))) != len(value):
            raise _fail(path, "must not repeat an item")
        for i, v in enumerate(value):
            item_check(v, f"{path}[{i}]")
    return check


def _object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(path, "must be a JSON object")


def _struct(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    optional = optional or {}

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, "must be a JSON object")
        for key in value:
            if key not in required and key not in optional:
                raise _fail(f"{path}.{key}", "unknown key")
        for key, key_check in required.items():
            if key not in value:
                raise _fail(f"{path}.{key}", "is required")
            key_check(value[key], f"{path}.{key}")
        for key, key_check in optional.items():
            if key in value:
                key_check(value[key], f"{path}.{key}")
    return check


# An envelope sealed to parties who stay anonymous: ciphertext, and the content key wrapped to
# each recipient in a sealed box, listed without names so the node cannot learn who they are.
sealed = _struct({"ct": _b64(MAX_SEALED_BYTES), "keys": _list(wrapped_key)})

BODIES: dict[str, Check] = {
    "passport.set": _struct({"field": field_name, "commitment": digest, "blob": digest,
                             "recipients": _map(did, wrapped_key)}),
    "passport.clear": _struct({"field": field_name}),
    "consent.grant": _struct({"grant": token, "grantee": did, "fields": _list(field_name),
                              "purpose": text, "expires": timestamp,
                              "keys": _map(field_name, wrapped_key, min_items=0)}),
    "consent.revoke": _struct({"grant": token}),
    "checkin": _struct({"nonce_hash": digest, "sealed": sealed}),
    "attest": _struct({"subject": subject, "claim": _object}, {"about": digest}),
    "attest.accept": _struct({"attestation": digest}),
    "key.rotate": _struct({"next": did, "next_commitment": digest}),
    "device.add": _struct({"device": did, "label": label}),
    "device.remove": _struct({"device": did}, {"label": label}),
    PROFILE_TYPE: check_profile,  # an organisation's public name (ledger.profiles)
}

RECORD_TYPES = frozenset(BODIES)


def validate_body(record_type: str, body: Any) -> None:
    """Raise ``RecordError`` naming the first problem in ``body`` for ``record_type``."""
    check = BODIES.get(record_type)
    if check is None:
        raise RecordError(f"type: unknown record type {record_type!r}")
    check(body, "body")
    if record_type == "consent.grant":
        extra = set(body["keys"]) - set(body["fields"])
        if extra:
            raise RecordError(f"body.keys: wraps keys for fields not granted: {sorted(extra)}")
