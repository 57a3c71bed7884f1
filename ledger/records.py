"""Records: the signed, canonical JSON objects that make up each party's hash chain.

``parse_record`` turns untrusted bytes into a ``Record`` (or refuses them, naming the problem);
``sign_record`` makes one.  Signature checks against the keys in force live in ``ledger.chain``,
because which keys are in force depends on the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from ledger import keys
from ledger.bodies import DIGEST_RE, validate_body
from ledger.encoding import (
    DIGEST_PREFIX,
    b64url_decode,
    b64url_encode,
    canonical,
    parse_canonical,
    parse_checked,
    sha256_name,
)
from ledger.errors import ClockSkewError, EncodingError, KeyFormatError, RecordError
from ledger.fastparse import MAX_SEQ, parse_fast
from ledger.times import format_ts, now_ms, parse_ts

RECORD_VERSION = 1
RECORD_KEYS = frozenset({"v", "author", "seq", "prev", "ts", "type", "body", "sig"})
MAX_CLOCK_SKEW_S = 300


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed record; ``raw`` is its canonical bytes, exactly as signed, hashed and stored."""

    raw: bytes
    id: str
    author: str
    seq: int
    prev: str | None
    ts: str
    ts_ms: int
    type: str
    sig: bytes
    # Parsed on first use when the record came back from a verify worker (see ledger.parallel):
    # most records are stored without their body ever being looked at again.
    parsed_body: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def body(self) -> dict[str, Any]:
        if self.parsed_body is None:
            body: dict[str, Any] = parse_checked(self.raw)["body"]
            object.__setattr__(self, "parsed_body", body)
            return body
        return self.parsed_body

    @property
    def digest(self) -> bytes:
        # ``id`` is only ever made here, from the bytes' own hash: no need to check its form.
        return bytes.fromhex(self.id[len(DIGEST_PREFIX):])

    def signing_payload(self) -> bytes:
        return signing_payload(self.raw)


# The body member whose digest the store indexes, by type; each sorts first in its body.
_NAMED = {"passport.set": b'"blob":"', "checkin": b'"nonce_hash":"'}
_BODY_START = len('{"author":"') + len('","body":{')


def named_digest(record: Record) -> bytes:
    """The blob a ``passport.set`` names, or the nonce hash a ``checkin`` answers.

    Read off the canonical bytes without parsing the body: its keys are sorted, so ``blob``
    (or ``nonce_hash``) is the body's first member, right after the author, and the body
    check made it a ``sha256:<hex>`` name.  Falls back to the parsed body if the bytes do
    not read so (they always should).
    """
    key = _NAMED[record.type]
    at = _BODY_START + len(record.author)
    raw = record.raw
    if raw.startswith(key, at):
        start = at + len(key) + len(DIGEST_PREFIX)
        if raw[start + 64:start + 65] == b'"':
            return bytes.fromhex(raw[start:start + 64].decode("ascii"))
    name: str = record.body[key[1:-3].decode("ascii")]
    return bytes.fromhex(name[len(DIGEST_PREFIX):])


def record_id(raw: bytes) -> str:
    return sha256_name(raw)


def signing_payload(raw: bytes) -> bytes:
    """The canonical record without ``sig``, cut from the canonical bytes.

    In canonical form the top-level keys are sorted (…"seq", "sig", "ts", "type", "v"), and
    nothing after "sig" can contain the text ``,"sig":"`` (ts and type are validated), so the
    last occurrence is the member itself.  Equal to ``canonical(obj without sig)``; tested so.
    """
    start = raw.rfind(b',"sig":"')
    end = raw.index(b'"', start + 8)
    return raw[:start] + raw[end + 1:]


def parse_record(raw: bytes, *, now: int | None = None,
                 max_skew_s: int = MAX_CLOCK_SKEW_S) -> Record:
    """Parse and check everything about a record that does not depend on its chain.

    ``now`` (ms) enables the future-timestamp check; audits of old records pass ``None``.
    The common record is checked in one C pass (``ledger.fastparse``, which may only be
    stricter); anything it declines is checked here, field by field, and refused with the name
    of its first problem.  The body of a fast-parsed record is parsed again on first use.
    """
    fast = parse_fast(raw, now, max_skew_s)
    if fast is not None:
        author, seq, prev, ts, ts_ms, rtype, sig = fast
        return Record(raw=raw, id=record_id(raw), author=author, seq=seq, prev=prev, ts=ts,
                      ts_ms=ts_ms, type=rtype, sig=sig)
    return _parse_slow(raw, now, max_skew_s)


def _parse_slow(raw: bytes, now: int | None, max_skew_s: int) -> Record:
    obj = parse_canonical(raw)
    keys_present = set(obj)
    if keys_present != RECORD_KEYS:
        unknown = sorted(keys_present - RECORD_KEYS)
        missing = sorted(RECORD_KEYS - keys_present)
        raise RecordError(f"record has unknown keys {unknown}" if unknown
                          else f"record is missing {missing}")
    if obj["v"] != RECORD_VERSION or isinstance(obj["v"], bool):
        raise RecordError(f"v: unsupported record version {obj['v']!r}; this node speaks 1")
    author = obj["author"]
    try:
        keys.public_key_from_did(author)
    except KeyFormatError as e:
        raise RecordError(f"author: {e}") from e
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        raise RecordError("seq: must be a whole number from 1")
    prev = obj["prev"]
    if seq == 1:
        if prev is not None:
            raise RecordError("prev: must be null for seq 1")
    elif not isinstance(prev, str) or not DIGEST_RE.fullmatch(prev):
        raise RecordError("prev: must be the id ('sha256:<hex>') of the author's previous record")
    ts = obj["ts"]
    if not isinstance(ts, str):
        raise RecordError("ts: must be an RFC 3339 UTC time")
    try:
        ts_ms = parse_ts(ts)
    except RecordError as e:
        raise RecordError(f"ts: {e}") from e
    if now is not None and ts_ms > now + max_skew_s * 1000:
        raise ClockSkewError(f"ts: {ts} is more than {max_skew_s} s ahead of the node's clock")
    rtype = obj["type"]
    if not isinstance(rtype, str):
        raise RecordError("type: must be a string")
    validate_body(rtype, obj["body"])
    try:
        sig = b64url_decode(obj["sig"], what="sig")
    except EncodingError as e:
        raise RecordError(f"sig: {e}") from e
    if len(sig) != keys.SIGNATURE_BYTES:
        raise RecordError("sig: an Ed25519 signature is 64 bytes")
    return Record(raw=raw, id=record_id(raw), author=author, seq=seq, prev=prev, ts=ts,
                  ts_ms=ts_ms, type=rtype, sig=sig, parsed_body=obj["body"])


def signer_of(record: Record, candidates: Iterable[bytes]) -> bytes | None:
    """The first candidate public key under which the record's signature verifies."""
    payload = record.signing_payload()
    for key in candidates:
        if keys.verify(key, keys.RECORD_DOMAIN, payload, record.sig):
            return key
    return None


def sign_record(signing_key: nacl.signing.SigningKey, *, author: str, seq: int,
                prev: str | None, record_type: str, body: dict[str, Any],
                ts: str | None = None) -> Record:
    """Build, sign and re-parse a record (so a signer can never emit one the node refuses)."""
    unsigned = {"v": RECORD_VERSION, "author": author, "seq": seq, "prev": prev,
                "ts": ts or format_ts(now_ms()), "type": record_type, "body": body}
    payload = canonical(unsigned)
    sig = keys.sign(signing_key, keys.RECORD_DOMAIN, payload)
    return parse_record(canonical({**unsigned, "sig": b64url_encode(sig)}))
