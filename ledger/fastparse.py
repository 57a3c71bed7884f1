"""The common record in one C pass: msgspec decodes and checks it against typed schemas.

``parse_record`` (ledger.records) tries this first and falls back to its field-by-field checks
whenever this answers None, so those checks alone decide every refusal and its message.  This
path is only allowed to be *stricter*: every schema below is at least as narrow as the
validators of ledger.bodies and ledger.records, and the bytes must equal msgspec's own sorted
re-encoding of what it decoded, which for these values (no floats, safe integers, ASCII keys)
is exactly RFC 8785.  Both properties are tested (tests/ledger/test_fastparse.py).

Types it does not cover (``profile``, rare ones) simply go the slow way.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import msgspec

from ledger import keys
from ledger.bodies import (
    DIGEST_RE,
    MAX_LIST_ITEMS,
    MAX_SEALED_BYTES,
    MAX_TEXT_CHARS,
    MAX_WRAPPED_KEY_BYTES,
)
from ledger.encoding import MAX_RECORD_BYTES, plain_json, too_deep
from ledger.errors import PassportError
from ledger.times import parse_ts

MAX_SEQ = 2**53 - 1  # a record's seq: an I-JSON integer
# The alphabet only: the length and the last character are checked by ``_b64`` (a regex for
# both costs several times more).
_B64_ALPHABET = r"^[A-Za-z0-9_-]+\Z"
# By length % 4, the characters that may end canonical base64url (unused low bits zero).
_B64_LAST = {0: None, 2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _b64_chars(max_bytes: int) -> int:
    """The longest base64url text (no padding) that decodes to at most ``max_bytes``:
    the largest n with n * 3 // 4 <= max_bytes."""
    return (max_bytes * 4 + 3) // 3


# ``\Z``, not ``$``: msgspec searches with Python's re, and ``$`` also matches before a final
# newline, which the slow path's fullmatch refuses.
Digest = Annotated[str, msgspec.Meta(pattern=r"^sha256:[0-9a-f]{64}\Z")]
FieldName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}\Z")]
Token = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{8,64}\Z")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
DidKey = Annotated[str, msgspec.Meta(pattern=r"^did:key:z")]  # then keys.public_key_from_did
WrappedKey = Annotated[str, msgspec.Meta(
    min_length=2, max_length=_b64_chars(MAX_WRAPPED_KEY_BYTES), pattern=_B64_ALPHABET)]
SealedText = Annotated[str, msgspec.Meta(min_length=2, max_length=_b64_chars(MAX_SEALED_BYTES),
                                         pattern=_B64_ALPHABET)]
_SIG_CHARS = _b64_chars(keys.SIGNATURE_BYTES)  # 86: exactly 64 bytes
Sig = Annotated[str, msgspec.Meta(min_length=_SIG_CHARS, max_length=_SIG_CHARS,
                                  pattern=_B64_ALPHABET)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Envelope(_Strict):
    v: Literal[1]
    author: DidKey
    seq: Seq
    prev: Digest | None
    ts: str
    type: str
    body: msgspec.Raw
    sig: Sig


class PassportSet(_Strict):
    field: FieldName
    commitment: Digest
    blob: Digest
    recipients: Annotated[dict[DidKey, WrappedKey],
                          msgspec.Meta(min_length=1, max_length=MAX_LIST_ITEMS)]


class PassportClear(_Strict):
    field: FieldName


class ConsentGrant(_Strict):
    grant: Token
    grantee: DidKey
    fields: Annotated[list[FieldName], msgspec.Meta(min_length=1, max_length=MAX_LIST_ITEMS)]
    purpose: Text
    expires: str
    keys: Annotated[dict[FieldName, WrappedKey], msgspec.Meta(max_length=MAX_LIST_ITEMS)]


class ConsentRevoke(_Strict):
    grant: Token


class Sealed(_Strict):
    ct: SealedText
    keys: Annotated[list[WrappedKey], msgspec.Meta(min_length=1, max_length=MAX_LIST_ITEMS)]


class Checkin(_Strict):
    nonce_hash: Digest
    sealed: Sealed


class Attest(_Strict):
    subject: str
    claim: dict[str, Any]
    about: Digest | msgspec.UnsetType = msgspec.UNSET


class AttestAccept(_Strict):
    attestation: Digest


class KeyRotate(_Strict):
    next: DidKey
    next_commitment: Digest


class DeviceAdd(_Strict):
    device: DidKey
    label: Label


class DeviceRemove(_Strict):
    device: DidKey
    label: Label | msgspec.UnsetType = msgspec.UNSET


_ENVELOPE = msgspec.json.Decoder(Envelope)
_BODIES: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(kind) for name, kind in (
        ("passport.set", PassportSet), ("passport.clear", PassportClear),
        ("consent.grant", ConsentGrant), ("consent.revoke", ConsentRevoke),
        ("checkin", Checkin), ("attest", Attest), ("attest.accept", AttestAccept),
        ("key.rotate", KeyRotate), ("device.add", DeviceAdd), ("device.remove", DeviceRemove))
}
_ENCODE = msgspec.json.Encoder(order="sorted").encode


class _Refused(Exception):
    """Internal: this path declines; the slow path decides (and words any refusal)."""


def _did(value: str) -> None:
    try:
        keys.public_key_from_did(value)
    except PassportError as e:
        raise _Refused from e


def _ts(value: str) -> int:
    try:
        return parse_ts(value)
    except PassportError as e:
        raise _Refused from e


def _b64(text: str) -> None:
    """Canonical base64url (no padding) once the alphabet is known good: no length of 4k+1,
    and the last character carries no stray bits."""
    last = _B64_LAST.get(len(text) % 4, ())
    if last is not None and text[-1] not in last:
        raise _Refused


def _unique(items: list[str]) -> None:
    if len(set(items)) != len(items):
        raise _Refused


def _check_body(rtype: str, body: Any) -> None:
    """What the schemas cannot say: dids that decode, times that exist, sets without repeats."""
    if rtype == "passport.set":
        for did, wrapped in body.recipients.items():
            _did(did)
            _b64(wrapped)
    elif rtype == "checkin":
        _b64(body.sealed.ct)
        for wrapped in body.sealed.keys:
            _b64(wrapped)
        _unique(body.sealed.keys)
    elif rtype == "consent.grant":
        _did(body.grantee)
        _unique(body.fields)
        _ts(body.expires)
        for wrapped in body.keys.values():
            _b64(wrapped)
        if not set(body.keys) <= set(body.fields):
            raise _Refused
    elif rtype == "attest":
        subject = body.subject
        if subject.startswith("sha256:"):
            if not DIGEST_RE.fullmatch(subject):
                raise _Refused
        else:
            _did(subject)
        if not plain_json(body.claim):  # floats, unsafe integers, non-ASCII keys
            raise _Refused
    elif rtype == "key.rotate":
        _did(body.next)
    elif rtype in ("device.add", "device.remove"):
        _did(body.device)


Fields = tuple[str, int, "str | None", str, int, str, bytes]  # author, seq, prev, ts, ts_ms,
# type, sig


def parse_fast(raw: bytes, now: int | None, max_skew_s: int) -> Fields | None:
    """The checked fields of ``raw``, or None when anything is unusual or wrong."""
    if len(raw) > MAX_RECORD_BYTES or too_deep(raw):
        return None
    try:
        env = _ENVELOPE.decode(raw)
        decoder = _BODIES.get(env.type)
        if decoder is None:
            return None
        body = decoder.decode(env.body)
        if _ENCODE(body) != bytes(env.body) or _ENCODE(env) != raw:
            return None  # not canonical (order, spacing, escapes, a repeated key)
        if (env.seq == 1) != (env.prev is None):
            return None
        _did(env.author)
        _b64(env.sig)
        ts_ms = _ts(env.ts)
        if now is not None and ts_ms > now + max_skew_s * 1000:
            return None
        _check_body(env.type, body)
    except (msgspec.DecodeError, msgspec.EncodeError, _Refused, RecursionError):
        return None
    sig = base64.urlsafe_b64decode(env.sig + "==")
    return env.author, env.seq, env.prev, env.ts, ts_ms, env.type, sig
