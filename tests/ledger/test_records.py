"""ledger.records and ledger.bodies: signing, strict parsing, refusals that name the field."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.bodies import MAX_LIST_ITEMS, RECORD_TYPES, validate_body
from ledger.encoding import MAX_RECORD_BYTES, b64url_encode, canonical, parse_canonical
from ledger.errors import ClockSkewError, EncodingError, RecordError, RecordTooLargeError
from ledger.records import parse_record, sign_record, signer_of, signing_payload
from ledger.times import format_ts, parse_ts
from tests.ledger.support import (
    DID,
    DIGEST_A,
    KEY,
    OMIT,
    OTHER,
    OTHER_DID,
    TS,
    WRAPPED,
    pub,
    raw_record,
    valid_bodies,
)

BODIES = valid_bodies()
X25519_DID = "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"


def sign(record_type: str, body: Any, **kw: Any) -> Any:
    return sign_record(KEY, author=DID, seq=kw.pop("seq", 1), prev=kw.pop("prev", None),
                       record_type=record_type, body=body, ts=kw.pop("ts", TS))


# --- every type signs and parses -------------------------------------------------------------


def test_every_type_has_a_valid_body() -> None:
    assert set(BODIES) == RECORD_TYPES


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_valid_body_signs_and_parses(record_type: str) -> None:
    record = sign(record_type, BODIES[record_type])
    assert record.type == record_type and record.body == BODIES[record_type]
    assert record.id == "sha256:" + hashlib.sha256(record.raw).hexdigest()
    assert record.digest == hashlib.sha256(record.raw).digest()
    assert parse_record(record.raw) == record
    assert parse_canonical(record.raw)["sig"] == b64url_encode(record.sig)
    assert signer_of(record, [pub(OTHER), pub(KEY)]) == pub(KEY)
    assert signer_of(record, [pub(OTHER)]) is None
    assert (record.author, record.seq, record.prev, record.ts) == (DID, 1, None, TS)
    assert record.ts_ms == parse_ts(TS)


@pytest.mark.parametrize(("record_type", "body"), [
    ("attest", {"subject": "sha256:" + "f" * 64, "claim": {}}),  # blinded subject, no about
    ("device.remove", {"device": OTHER_DID, "label": "old phone"}),
    ("consent.grant", {**BODIES["consent.grant"], "keys": {}}),
    ("consent.grant", {**BODIES["consent.grant"], "fields": [f"f{i}" for i in range(64)],
                      "keys": {"f63": WRAPPED}}),
    ("passport.set", {**BODIES["passport.set"], "field": "a" + "_" * 63}),
    ("attest", {"subject": DID, "claim": {"nested": [1, 1.5, None, "é", {"sig": "x"}]}}),
])
def test_other_valid_bodies(record_type: str, body: dict[str, Any]) -> None:
    validate_body(record_type, body)
    assert sign(record_type, body).body == body


# --- bad bodies, each refused with the path of the problem -----------------------------------


def changed(record_type: str, **changes: Any) -> dict[str, Any]:
    body = {**BODIES[record_type], **changes}
    return {k: v for k, v in body.items() if v is not OMIT}


SET, GRANT, CHECKIN = "passport.set", "consent.grant", "checkin"
SEALED = BODIES[CHECKIN]["sealed"]

BAD_BODIES: list[tuple[str, Any, str]] = [
    # passport.set
    (SET, changed(SET, extra=1), "body.extra: unknown key"),
    (SET, changed(SET, blob=OMIT), "body.blob: is required"),
    (SET, changed(SET, field="Email"), "body.field: must be a field name"),
    (SET, changed(SET, field="1st"), "body.field"),
    (SET, changed(SET, field="a" * 65), "body.field"),
    (SET, changed(SET, field=5), "body.field"),
    (SET, changed(SET, commitment="sha256:" + "A" * 64), "body.commitment: must be 'sha256:'"),
    (SET, changed(SET, commitment="sha256:" + "a" * 63), "body.commitment"),
    (SET, changed(SET, blob="sha1:" + "a" * 40), "body.blob"),
    (SET, changed(SET, blob=None), "body.blob"),
    (SET, changed(SET, recipients={}), "body.recipients: must be an object of 1 to 64"),
    (SET, changed(SET, recipients=[WRAPPED]), "body.recipients: must be an object"),
    (SET, changed(SET, recipients={"bob": WRAPPED}), "body.recipients key 'bob'"),
    (SET, changed(SET, recipients={X25519_DID: WRAPPED}), "multicodec 0xed01"),
    (SET, changed(SET, recipients={DID: "AA=="}), f"body.recipients.{DID}: must be base64url"),
    (SET, changed(SET, recipients={DID: ""}), f"body.recipients.{DID}: must decode to 1 to 256"),
    (SET, changed(SET, recipients={DID: b64url_encode(bytes(257))}),
     f"body.recipients.{DID}: must decode to 1 to 256"),
    (SET, changed(SET, recipients={DID: 7}), f"body.recipients.{DID}"),
    (SET, changed(SET, recipients={f"did:key:z{i}": WRAPPED for i in range(65)}),
     "body.recipients: must be an object of 1 to 64"),
    (SET, [], "body: must be a JSON object"),
    # passport.clear, consent.revoke, attest.accept
    ("passport.clear", {}, "body.field: is required"),
    ("passport.clear", {"field": "email", "value": "x"}, "body.value: unknown key"),
    ("consent.revoke", {"grant": "short"}, "body.grant: must be 8-64 characters"),
    ("consent.revoke", {"grant": "has space in it"}, "body.grant"),
    ("consent.revoke", {"grant": "x" * 65}, "body.grant"),
    ("attest.accept", {"attestation": OTHER_DID}, "body.attestation: must be 'sha256:'"),
    ("attest.accept", None, "body: must be a JSON object"),
    # consent.grant
    (GRANT, changed(GRANT, grantee="did:web:example.com"), "body.grantee: identifier is not"),
    (GRANT, changed(GRANT, grantee=X25519_DID), "body.grantee: did:key does not hold"),
    (GRANT, changed(GRANT, grantee=[OTHER_DID]), "body.grantee"),
    (GRANT, changed(GRANT, fields=[]), "body.fields: must be a list of 1 to 64"),
    (GRANT, changed(GRANT, fields="email"), "body.fields: must be a list"),
    (GRANT, changed(GRANT, fields=["email", "email"]), "body.fields: must not repeat an item"),
    (GRANT, changed(GRANT, fields=["email", "Name"]), "body.fields[1]: must be a field name"),
    (GRANT, changed(GRANT, fields=[f"f{i}" for i in range(MAX_LIST_ITEMS + 1)]), "body.fields"),
    (GRANT, changed(GRANT, purpose=""), "body.purpose: must be a string of 1 to 500"),
    (GRANT, changed(GRANT, purpose="x" * 501), "body.purpose"),
    (GRANT, changed(GRANT, expires="2027-01-01"), "body.expires: time '2027-01-01'"),
    (GRANT, changed(GRANT, expires="2027-02-29T00:00:00Z"), "body.expires: time"),
    (GRANT, changed(GRANT, expires=1798761600), "body.expires: must be an RFC 3339"),
    (GRANT, changed(GRANT, keys=OMIT), "body.keys: is required"),
    (GRANT, changed(GRANT, keys={"phone": WRAPPED}), "body.keys: wraps keys for fields not"),
    (GRANT, changed(GRANT, keys={"Email": WRAPPED}), "body.keys key 'Email'"),
    (GRANT, changed(GRANT, keys={"email": "!"}), "body.keys.email: must be base64url"),
    # checkin
    (CHECKIN, changed(CHECKIN, nonce_hash="sha256:xyz"), "body.nonce_hash"),
    (CHECKIN, changed(CHECKIN, sealed={"keys": SEALED["keys"]}), "body.sealed.ct: is required"),
    (CHECKIN, changed(CHECKIN, sealed={**SEALED, "to": DID}), "body.sealed.to: unknown key"),
    (CHECKIN, changed(CHECKIN, sealed={**SEALED, "keys": [WRAPPED, WRAPPED]}),
     "body.sealed.keys: must not repeat"),
    (CHECKIN, changed(CHECKIN, sealed={**SEALED, "keys": ["AA="]}), "body.sealed.keys[0]"),
    (CHECKIN, changed(CHECKIN, sealed={**SEALED, "keys": []}), "body.sealed.keys"),
    (CHECKIN, changed(CHECKIN, sealed={**SEALED, "ct": b64url_encode(bytes(16 * 1024 + 1))}),
     "body.sealed.ct: must decode to 1 to 16384"),
    (CHECKIN, changed(CHECKIN, sealed="ct"), "body.sealed: must be a JSON object"),
    # attest
    ("attest", changed("attest", subject="sha256:xyz"), "body.subject: must be 'sha256:'"),
    ("attest", changed("attest", subject="alice"), "body.subject: identifier is not a did"),
    ("attest", changed("attest", subject=["a"]), "body.subject"),
    ("attest", changed("attest", claim=["present"]), "body.claim: must be a JSON object"),
    ("attest", changed("attest", claim=OMIT), "body.claim: is required"),
    ("attest", changed("attest", about="record 3"), "body.about"),
    ("attest", changed("attest", about=None), "body.about"),
    # key.rotate, device.add, device.remove
    ("key.rotate", changed("key.rotate", next="did:key:zzz"), "body.next"),
    ("key.rotate", changed("key.rotate", next_commitment=OMIT), "body.next_commitment"),
    ("key.rotate", changed("key.rotate", next_commitment=OTHER_DID), "body.next_commitment"),
    ("device.add", changed("device.add", label=""), "body.label: must be a string of 1 to 64"),
    ("device.add", changed("device.add", label="x" * 65), "body.label"),
    ("device.add", changed("device.add", device=OMIT), "body.device: is required"),
    ("device.add", changed("device.add", device=["not", "hashable"]), "body.device"),
    ("device.add", changed("device.add", device={"k": 1}), "body.device"),
    ("device.remove", {"device": OTHER_DID, "label": ""}, "body.label"),
    ("device.remove", {"device": OTHER_DID, "reason": "lost"}, "body.reason: unknown key"),
    ("profile", changed("profile", kind="member"), "body.kind: must be one of"),
    ("profile", changed("profile", name=OMIT), "body.name: is required"),
    ("profile", changed("profile", v=2), "body.v: unsupported profile version 2"),
]


@pytest.mark.parametrize(("record_type", "body", "problem"), BAD_BODIES)
def test_bad_body_is_refused_naming_the_path(record_type: str, body: Any, problem: str) -> None:
    with pytest.raises(RecordError) as caught:
        validate_body(record_type, body)
    assert problem in str(caught.value)
    with pytest.raises(RecordError) as again:  # and nothing can be signed with it
        sign(record_type, body)
    assert problem in str(again.value)


def test_bad_bodies_cover_every_type() -> None:
    assert {t for t, _, _ in BAD_BODIES} == RECORD_TYPES


# --- record-level refusals -------------------------------------------------------------------

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(("overrides", "error", "problem"), [
    ({"type": "passport.delete"}, RecordError, "type: unknown record type 'passport.delete'"),
    ({"type": 5}, RecordError, "type: must be a string"),
    ({"extra": 1}, RecordError, r"unknown keys ['extra']"),
    ({"ts": OMIT}, RecordError, r"missing ['ts']"),
    ({"body": OMIT}, RecordError, r"missing ['body']"),
    ({"sig": OMIT}, RecordError, r"missing ['sig']"),
    ({"v": 2}, RecordError, "v: unsupported record version 2"),
    ({"v": True}, RecordError, "v: unsupported record version True"),
    ({"v": "1"}, RecordError, "v: unsupported"),
    ({"author": "did:web:example.com"}, RecordError, "author: identifier is not a did:key"),
    ({"author": X25519_DID}, RecordError, "author: did:key does not hold an Ed25519 key"),
    ({"author": [DID]}, RecordError, "author:"),
    ({"seq": 0}, RecordError, "seq: must be a whole number"),
    ({"seq": -1}, RecordError, "seq: must be a whole number"),
    ({"seq": True}, RecordError, "seq: must be a whole number"),
    ({"seq": 1.5}, RecordError, "seq: must be a whole number"),
    ({"seq": "1"}, RecordError, "seq: must be a whole number"),
    ({"prev": DIGEST}, RecordError, "prev: must be null for seq 1"),
    ({"seq": 2, "prev": None}, RecordError, "prev: must be the id"),
    ({"seq": 2, "prev": "sha256:" + "C" * 64}, RecordError, "prev: must be the id"),
    ({"seq": 2, "prev": 5}, RecordError, "prev: must be the id"),
    ({"ts": "2026-01-31 09:30:00Z"}, RecordError, "is not RFC 3339 UTC"),
    ({"ts": "2026-01-31T09:30:00+00:00"}, RecordError, "is not RFC 3339 UTC"),
    ({"ts": "2026-01-31T09:30:00z"}, RecordError, "is not RFC 3339 UTC"),
    ({"ts": "2026-01-31T09:30:00.1234567Z"}, RecordError, "is not RFC 3339 UTC"),
    ({"ts": "٢٠٢٦-01-31T09:30:00Z"}, RecordError, "is not RFC 3339 UTC"),  # Arabic-Indic digits
    ({"ts": "2026-13-01T00:00:00Z"}, RecordError, "is not a valid date and time"),
    ({"ts": "2026-02-29T00:00:00Z"}, RecordError, "is not a valid date and time"),
    ({"ts": "2026-01-31T24:00:00Z"}, RecordError, "is not a valid date and time"),
    ({"ts": "2026-01-31T23:59:60Z"}, RecordError, "is not a valid date and time"),
    ({"ts": "0000-01-01T00:00:00Z"}, RecordError, "is not a valid date and time"),
    ({"ts": 1769851800}, RecordError, "ts: must be an RFC 3339 UTC time"),
    ({"sig": b64url_encode(bytes(63))}, RecordError, "sig: an Ed25519 signature is 64 bytes"),
    ({"sig": b64url_encode(bytes(65))}, RecordError, "sig: an Ed25519 signature is 64 bytes"),
    ({"sig": b64url_encode(bytes(64)) + "=="}, RecordError, "sig: sig is not base64url"),
    ({"sig": "A" * 85 + "+"}, RecordError, "sig: sig is not base64url"),
    ({"sig": "A" * 85 + "B"}, RecordError, "sig: sig is not in canonical base64url"),
    ({"sig": 5}, RecordError, "sig: sig is not base64url"),
    ({"body": {"field": "Email"}}, RecordError, "body.field"),
])
def test_record_refusals(overrides: dict[str, Any], error: type[Exception], problem: str) -> None:
    sig = overrides.pop("sig", None)
    with pytest.raises(error) as caught:
        parse_record(raw_record(sig=sig, **overrides))
    assert problem in str(caught.value)


def test_seq_bounds() -> None:
    top = 2**53 - 1
    assert parse_record(raw_record(seq=top, prev=DIGEST)).seq == top
    raw = raw_record(seq=top, prev=DIGEST).replace(b'"seq":9007199254740991',
                                                  b'"seq":9007199254740992')
    with pytest.raises(EncodingError, match="outside the I-JSON range"):
        parse_record(raw)


def test_non_canonical_record_bytes_are_refused() -> None:
    raw = raw_record()
    assert parse_record(raw).raw == raw
    with pytest.raises(EncodingError, match="not canonical JSON"):
        parse_record(raw.replace(b'"seq":1,', b'"seq": 1,'))
    with pytest.raises(EncodingError, match="duplicate key 'seq'"):
        parse_record(raw.replace(b'"seq":1,', b'"seq":1,"seq":1,'))


def test_future_timestamp() -> None:
    now = parse_ts(TS)
    for ahead_ms, refused in ((0, False), (300_000, False), (300_001, True), (10**9, True)):
        raw = raw_record(ts=format_ts(now + ahead_ms))
        assert parse_record(raw).ts_ms == now + ahead_ms  # audits (now=None) accept it
        if refused:
            with pytest.raises(ClockSkewError, match=r"ts: .* ahead of the node's clock"):
                parse_record(raw, now=now)
        else:
            assert parse_record(raw, now=now).ts_ms == now + ahead_ms
    with pytest.raises(ClockSkewError):
        parse_record(raw_record(ts="2026-01-31T09:30:11Z"), now=now, max_skew_s=10)
    assert issubclass(ClockSkewError, RecordError)


def test_size_limit() -> None:
    def attest(pad: int) -> bytes:
        return raw_record(type="attest", body={"subject": OTHER_DID, "claim": {"n": "x" * pad}})

    pad = MAX_RECORD_BYTES - len(attest(0))
    assert len(attest(pad)) == MAX_RECORD_BYTES
    assert parse_record(attest(pad)).type == "attest"
    with pytest.raises(RecordTooLargeError, match="65536 bytes; the limit is 65535"):
        parse_record(attest(pad + 1))
    with pytest.raises(RecordTooLargeError):  # a signer cannot emit one either
        sign("attest", {"subject": OTHER_DID, "claim": {"n": "x" * (pad + 1)}})


# --- signing payload and tamper evidence -----------------------------------------------------

JSON_LEAVES = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
               | st.floats(-1e15, 1e15) | st.text(max_size=20)
               | st.sampled_from([',"sig":"', '"sig"', "\\", '\\"']))
CLAIMS = st.dictionaries(st.text(max_size=6) | st.just("sig"), st.recursive(
    JSON_LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                    max_size=3),
    max_leaves=8), max_size=4)


@st.composite
def records(draw: st.DrawFn) -> Any:
    record_type = draw(st.sampled_from(sorted(RECORD_TYPES)))
    body = BODIES[record_type]
    if record_type == "attest":
        body = {"subject": OTHER_DID, "claim": draw(CLAIMS)}
    elif record_type == "passport.clear":
        body = {"field": draw(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True))}
    seq = draw(st.integers(1, 2**53 - 1))
    prev = None if seq == 1 else "sha256:" + draw(st.binary(min_size=32, max_size=32)).hex()
    ts = draw(st.sampled_from([TS, "2030-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.5Z"]))
    return sign_record(KEY, author=DID, seq=seq, prev=prev, record_type=record_type,
                       body=body, ts=ts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_signing_payload_is_canonical_without_sig(record: Any) -> None:
    obj = parse_canonical(record.raw)
    del obj["sig"]
    assert signing_payload(record.raw) == canonical(obj) == record.signing_payload()
    assert keys.verify(pub(KEY), keys.RECORD_DOMAIN, canonical(obj), record.sig)


TAMPER_BASE = sign("attest", {"subject": OTHER_DID, "claim": {"sig": ',"sig":"x', "n": 1}},
                   seq=7, prev=DIGEST_A)


def _check_tampered(raw: bytes) -> int:
    """A changed record is refused, or parses but no longer verifies, under any key."""
    try:
        parsed = parse_record(raw)
    except RecordError:
        return 0
    assert parsed.id != TAMPER_BASE.id
    candidates = [pub(KEY), keys.public_key_from_did(parsed.author)]
    assert signer_of(parsed, candidates) is None
    return 1


def test_every_single_byte_change_is_refused_or_unverifiable() -> None:
    raw = TAMPER_BASE.raw
    parsed = 0
    for i in range(len(raw)):
        for c in b"01abAB_-z6":  # characters that keep most of the syntax intact
            if c != raw[i]:
                parsed += _check_tampered(raw[:i] + bytes([c]) + raw[i + 1:])
    assert parsed > 100  # many changes still parse; the signature is what refuses them


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_byte_change_never_verifies(data: Any) -> None:
    raw = TAMPER_BASE.raw
    i = data.draw(st.integers(0, len(raw) - 1))
    c = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]))
    _check_tampered(raw[:i] + bytes([c]) + raw[i + 1:])


def test_tampering_is_seen_even_where_it_still_parses() -> None:
    # A same-length change inside the claim still parses: only the signature catches it.
    raw = TAMPER_BASE.raw.replace(b'"n":1', b'"n":2')
    parsed = parse_record(raw)
    assert parsed.body["claim"]["n"] == 2
    assert signer_of(parsed, [pub(KEY)]) is None
    # and a signature moved onto another record does not verify there either
    other = sign("attest", {"subject": OTHER_DID, "claim": {"n": 2}}, seq=7, prev=DIGEST_A)
    moved = parse_record(other.raw.replace(b64url_encode(other.sig).encode(),
                                           b64url_encode(TAMPER_BASE.sig).encode()))
    assert signer_of(moved, [pub(KEY)]) is None
