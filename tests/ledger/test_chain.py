"""ledger.chain: seq and prev links, keys in force (rotation, pre-rotation, devices), rivals."""

from __future__ import annotations

import itertools

import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author, ChainState, KeyEpoch, advance, check_equivocation, validate_chain
from ledger.encoding import b64url_encode
from ledger.errors import ChainError, EquivocationError, RecordError, SignatureError
from ledger.records import Record, parse_record, sign_record
from tests.ledger.support import (
    DEVICE,
    DEVICE_DID,
    DID,
    DIGEST_A,
    KEY,
    OTHER,
    OTHER_DID,
    TS,
    pub,
    raw_record,
    seeded,
    valid_bodies,
)

BODIES = valid_bodies()
NEW, NEWER, STRANGER = seeded(20), seeded(21), seeded(22)
CLEAR = {"field": "email"}


def commitment(key: nacl.signing.SigningKey) -> str:
    return keys.key_commitment(pub(key))


def forge(key: nacl.signing.SigningKey, seq: int, prev: str | None,
          record_type: str = "passport.clear", body: dict[str, object] | None = None,
          author: str = DID) -> Record:
    """A record for ``author`` signed by whatever ``key`` is given."""
    return sign_record(key, author=author, seq=seq, prev=prev, record_type=record_type,
                       body=CLEAR if body is None else body, ts=TS)


def chain(*types: str) -> tuple[Author, list[Record]]:
    author = Author(KEY)
    return author, [author.next(t, BODIES[t], ts=TS) for t in types]


# --- the links -------------------------------------------------------------------------------


def test_valid_chain_validates() -> None:
    _, records = chain("passport.set", "passport.clear", "consent.grant", "consent.revoke",
                       "checkin", "attest", "attest.accept")
    state = validate_chain(records)
    assert (state.author, state.seq, state.head) == (DID, 7, records[-1].id)
    assert state == ChainState(author=DID, seq=7, head=records[-1].id,
                               epochs=(KeyEpoch(pub(KEY), "main", 1),))
    assert [r.seq for r in records] == list(range(1, 8))
    assert all(r.prev == p.id for p, r in itertools.pairwise(records))
    assert records[0].prev is None


def test_empty_chain_is_refused() -> None:
    with pytest.raises(ChainError, match="the chain is empty"):
        validate_chain([])


def test_seq_gap_repeat_and_late_start() -> None:
    _, (r1, r2, r3) = chain("passport.clear", "passport.clear", "passport.clear")
    with pytest.raises(ChainError, match=r"seq: 3 skips ahead of the chain of .* next seq is 2"):
        validate_chain([r1, r3])
    with pytest.raises(ChainError, match=r"seq: 2 repeats the chain of .* next seq is 3"):
        validate_chain([r1, r2, r2])
    with pytest.raises(ChainError, match=r"seq: 2 skips ahead .* next seq is 1"):
        validate_chain([r2, r3])


def test_wrong_prev() -> None:
    _, (r1,) = chain("passport.clear")
    bad = forge(KEY, 2, DIGEST_A)
    with pytest.raises(ChainError, match=f"prev: {DIGEST_A} is not the id of seq 1 \\({r1.id}\\)"):
        validate_chain([r1, bad])


def test_wrong_author() -> None:
    _, (r1,) = chain("passport.clear")
    theirs = forge(OTHER, 2, r1.id, author=OTHER_DID)
    with pytest.raises(ChainError, match=f"belongs to {OTHER_DID}, not {DID}"):
        validate_chain([r1, theirs])


@pytest.mark.parametrize("seq", [1, 2])
def test_signature_by_another_key(seq: int) -> None:
    _, (r1,) = chain("passport.clear")
    records = [forge(OTHER, 1, None)] if seq == 1 else [r1, forge(OTHER, 2, r1.id)]
    with pytest.raises(SignatureError, match=f"seq {seq}: signature does not verify under any "
                                             f"key in force for {DID}"):
        validate_chain(records)


def test_signature_of_another_record_is_refused() -> None:
    _, (r1, r2) = chain("passport.clear", "passport.set")
    base = forge(KEY, 2, r1.id)
    wrong = parse_record(base.raw.replace(b64url_encode(base.sig).encode(),
                                          b64url_encode(r2.sig).encode()))
    with pytest.raises(SignatureError):
        validate_chain([r1, wrong])
    badsig = parse_record(raw_record(seq=2, prev=r1.id, sig=b64url_encode(bytes(64))))
    with pytest.raises(SignatureError):
        validate_chain([r1, badsig])


def test_signer_hint_is_checked_when_not_in_force() -> None:
    _, (r1, r2) = chain("passport.clear", "passport.clear")
    state = advance(ChainState.genesis(DID), r1)
    assert advance(state, r2, signer=pub(OTHER)).seq == 2  # hint not in force: verified again
    with pytest.raises(SignatureError):
        advance(state, forge(OTHER, 2, r1.id), signer=pub(OTHER))


# --- key rotation and pre-rotation -----------------------------------------------------------


def test_rotation_moves_signing_to_the_new_key() -> None:
    author, records = chain("passport.clear")
    records.append(author.rotate(NEW, commitment(NEWER), ts=TS))
    records.append(author.next("passport.clear", CLEAR, ts=TS))
    assert {r.author for r in records} == {DID}  # the identifier survives rotation
    state = validate_chain(records)
    assert state.main_key == pub(NEW)
    assert state.next_commitment == commitment(NEWER)
    assert [state.keys_at(s) for s in (1, 2, 3, 4)] == [[pub(KEY)], [pub(KEY)], [pub(NEW)],
                                                        [pub(NEW)]]
    with pytest.raises(SignatureError, match="seq 3"):
        validate_chain([*records[:2], forge(KEY, 3, records[1].id)])
    with pytest.raises(SignatureError, match=r"seq 2: .* under the main key"):
        validate_chain([records[0], forge(NEW, 2, records[0].id, "key.rotate",
                                          {"next": keys.did_of(NEW),
                                           "next_commitment": commitment(NEWER)})])


def test_commit_only_rotation_then_rotation_to_the_committed_key() -> None:
    author = Author(KEY)
    records = [author.rotate(KEY, commitment(NEW), ts=TS)]  # commit only: key unchanged
    state = validate_chain(records)
    assert state.main_key == pub(KEY) and state.next_commitment == commitment(NEW)
    assert state.epochs == ChainState.genesis(DID).epochs
    records.append(author.next("passport.clear", CLEAR, ts=TS))  # still signed by KEY
    records.append(author.rotate(NEW, commitment(NEWER), ts=TS))
    records.append(author.rotate(NEWER, commitment(STRANGER), ts=TS))
    state = validate_chain(records)
    assert state.main_key == pub(NEWER) and state.next_commitment == commitment(STRANGER)


def test_rotation_must_match_the_commitment() -> None:
    author = Author(KEY)
    records = [author.rotate(KEY, commitment(NEW), ts=TS)]
    # a thief holding only KEY cannot rotate to a key of their own
    thief = forge(KEY, 2, records[0].id, "key.rotate",
                  {"next": keys.did_of(STRANGER), "next_commitment": commitment(STRANGER)})
    with pytest.raises(ChainError, match=r"body.next: key does not match the pre-rotation"):
        validate_chain([*records, thief])
    # nor make a fresh commitment in place of the first
    recommit = forge(KEY, 2, records[0].id, "key.rotate",
                     {"next": DID, "next_commitment": commitment(STRANGER)})
    with pytest.raises(ChainError, match="does not match the pre-rotation commitment"):
        validate_chain([*records, recommit])


def test_commit_only_is_allowed_only_before_the_first_commitment() -> None:
    author = Author(KEY)
    first = author.rotate(KEY, commitment(KEY), ts=TS)  # commits to the current key itself
    second = author.rotate(KEY, commitment(NEW), ts=TS)
    assert validate_chain([first]).next_commitment == commitment(KEY)
    with pytest.raises(ChainError, match="allowed only to make the first pre-rotation"):
        validate_chain([first, second])


def test_a_later_rotation_must_match_the_commitment_of_an_earlier_one() -> None:
    author = Author(KEY)
    records = [author.rotate(NEW, commitment(NEWER), ts=TS)]  # no earlier commitment: allowed
    bad = forge(NEW, 2, records[0].id, "key.rotate",
                {"next": keys.did_of(STRANGER), "next_commitment": commitment(STRANGER)})
    with pytest.raises(ChainError, match=f"commitment made earlier \\({commitment(NEWER)}\\)"):
        validate_chain([*records, bad])
    records.append(author.rotate(NEWER, commitment(STRANGER), ts=TS))
    assert validate_chain(records).main_key == pub(NEWER)


# --- device keys -----------------------------------------------------------------------------


def test_device_add_and_remove() -> None:
    author = Author(KEY)
    records = [author.next("device.add", {"device": DEVICE_DID, "label": "phone"}, ts=TS),
               author.next("passport.clear", CLEAR, ts=TS, signing_key=DEVICE)]
    state = validate_chain(records)
    assert state.keys_at(2) == [pub(KEY), pub(DEVICE)]  # the main key first
    assert state.keys_at(1) == [pub(KEY)]
    records.append(author.next("device.remove", {"device": DEVICE_DID}, ts=TS))
    after = records[-1].id
    with pytest.raises(SignatureError, match="seq 4"):
        validate_chain([*records, forge(DEVICE, 4, after)])
    assert validate_chain([*records, forge(KEY, 4, after)]).keys_at(4) == [pub(KEY)]
    # the device's old records still verify in an audit of the whole chain
    assert validate_chain(records).keys_at(2) == [pub(KEY), pub(DEVICE)]
    # and it can be added again
    records.append(author.next("device.add", {"device": DEVICE_DID, "label": "phone"}, ts=TS))
    records.append(author.next("passport.clear", CLEAR, ts=TS, signing_key=DEVICE))
    assert validate_chain(records).seq == 5


def test_device_cannot_sign_before_it_is_added() -> None:
    with pytest.raises(SignatureError, match="seq 1"):
        validate_chain([forge(DEVICE, 1, None)])


@pytest.mark.parametrize(("record_type", "body"), [
    ("device.add", {"device": keys.did_of(STRANGER), "label": "x"}),
    ("device.remove", {"device": DEVICE_DID}),
    ("key.rotate", {"next": keys.did_of(STRANGER), "next_commitment": DIGEST_A}),
])
def test_main_only_types_refuse_device_signatures(record_type: str,
                                                   body: dict[str, object]) -> None:
    author = Author(KEY)
    r1 = author.next("device.add", {"device": DEVICE_DID, "label": "phone"}, ts=TS)
    by_device = forge(DEVICE, 2, r1.id, record_type, body)
    with pytest.raises(SignatureError, match="seq 2: signature does not verify under the main"):
        validate_chain([r1, by_device])
    assert validate_chain([r1, forge(KEY, 2, r1.id, record_type, body)]).seq == 2


@pytest.mark.parametrize(("record_type", "device", "problem"), [
    ("device.add", DID, "already in force"),
    ("device.add", DEVICE_DID, "already in force"),
    ("device.remove", OTHER_DID, "no device with that key is in force"),
    ("device.remove", DID, "no device with that key is in force"),
])
def test_device_changes_that_make_no_sense(record_type: str, device: str, problem: str) -> None:
    author = Author(KEY)
    r1 = author.next("device.add", {"device": DEVICE_DID, "label": "phone"}, ts=TS)
    body = {"device": device, "label": "x"} if record_type == "device.add" else {"device": device}
    with pytest.raises(ChainError, match=f"body.device: .*{problem}"):
        validate_chain([r1, forge(KEY, 2, r1.id, record_type, body)])


# --- equivocation ----------------------------------------------------------------------------


def test_validly_signed_rival_is_equivocation() -> None:
    _, records = chain("passport.clear", "passport.set", "passport.clear")
    state = validate_chain(records)
    rival = forge(KEY, 2, records[0].id, "passport.clear", {"field": "phone"})
    with pytest.raises(EquivocationError) as caught:
        check_equivocation(state, records[1].id, rival)
    e = caught.value
    assert (e.existing_id, e.conflicting_id, e.author, e.seq) == (records[1].id, rival.id, DID, 2)
    assert records[1].id in str(e) and rival.id in str(e)
    assert isinstance(e, ChainError) and e.code == "equivocation"


def test_identical_record_is_not_equivocation() -> None:
    _, records = chain("passport.clear", "passport.set")
    state = validate_chain(records)
    assert check_equivocation(state, records[1].id, records[1]) is None


def test_rival_not_signed_by_a_key_in_force_is_only_a_bad_signature() -> None:
    _, records = chain("passport.clear", "passport.set")
    state = validate_chain(records)
    for rival in (forge(OTHER, 2, records[0].id),
                  parse_record(raw_record(seq=2, prev=records[0].id,
                                          sig=b64url_encode(bytes(64))))):
        with pytest.raises(SignatureError) as caught:
            check_equivocation(state, records[1].id, rival)
        assert not isinstance(caught.value, EquivocationError)


def test_equivocation_uses_the_keys_in_force_at_that_seq() -> None:
    author = Author(KEY)
    records = [author.next("device.add", {"device": DEVICE_DID, "label": "phone"}, ts=TS),
               author.next("passport.clear", CLEAR, ts=TS, signing_key=DEVICE),
               author.rotate(NEW, commitment(NEWER), ts=TS),
               author.next("passport.clear", CLEAR, ts=TS)]
    state = validate_chain(records)
    with pytest.raises(EquivocationError):  # the device was in force at seq 2
        check_equivocation(state, records[1].id, forge(DEVICE, 2, records[0].id, body={
            "field": "other"}))
    with pytest.raises(SignatureError):  # ...but not at seq 1
        check_equivocation(state, records[0].id, forge(DEVICE, 1, None))
    with pytest.raises(EquivocationError):  # the old main key signed seq 1
        check_equivocation(state, records[0].id, forge(KEY, 1, None))
    with pytest.raises(SignatureError):  # the new key was not in force at seq 1
        check_equivocation(state, records[0].id, forge(NEW, 1, None))
    with pytest.raises(EquivocationError):
        check_equivocation(state, records[3].id, forge(NEW, 4, records[2].id, body={
            "field": "other"}))


def test_errors_are_record_errors() -> None:
    for error in (ChainError, SignatureError, EquivocationError):
        assert issubclass(error, RecordError)
