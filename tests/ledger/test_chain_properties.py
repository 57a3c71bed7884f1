"""ledger.chain properties: generated chains validate, survive a state round trip, and no single
mutation of one (drop, swap, duplicate, re-sign, relink, renumber, splice, flip a byte) passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nacl.signing
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.chain import Author, ChainState, advance, validate_chain
from ledger.errors import RecordError
from ledger.records import Record, parse_record, sign_record
from tests.ledger.support import TS, pub, seeded, valid_bodies

MAIN_KEYS = [seeded(100 + i) for i in range(14)]
DEVICE_KEYS = [seeded(130 + i) for i in range(14)]
STRANGER = seeded(160)
PLAIN_TYPES = ["passport.set", "passport.clear", "consent.grant", "consent.revoke", "checkin",
               "attest", "attest.accept"]
OPS = [*PLAIN_TYPES, "key.rotate", "device.add", "device.remove"]
SLOW = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Built:
    records: list[Record]
    signers: list[nacl.signing.SigningKey]  # the key that signed each record
    main: nacl.signing.SigningKey  # the main key at the end


def _other_chain() -> list[Record]:
    """A fixed valid chain of someone else, to splice records from."""
    author = Author(STRANGER)
    return [author.next("passport.clear", {"field": "email"}, ts=TS) for _ in range(14)]


OTHER_CHAIN = _other_chain()


@st.composite
def chains(draw: st.DrawFn, max_size: int = 12) -> Built:
    ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=max_size))
    author = Author(MAIN_KEYS[0])
    bodies = valid_bodies(peer=keys.did_of(STRANGER))
    rotations = 0
    added = 0
    live: list[nacl.signing.SigningKey] = []
    built = Built([], [], MAIN_KEYS[0])
    for op in ops:
        signer = author.signing_key
        if op == "key.rotate":
            # the first rotation has no commitment to meet; each one commits to the next key
            record = author.rotate(MAIN_KEYS[rotations + 1],
                                   keys.key_commitment(pub(MAIN_KEYS[rotations + 2])), ts=TS)
            rotations += 1
        elif op == "device.add":
            device = DEVICE_KEYS[added]
            added += 1
            record = author.next("device.add", {"device": keys.did_of(device),
                                                "label": f"device {added}"}, ts=TS)
            live.append(device)
        elif op == "device.remove" and live:
            device = live.pop(draw(st.integers(0, len(live) - 1)))
            record = author.next("device.remove", {"device": keys.did_of(device)}, ts=TS)
        else:
            record_type = op if op in PLAIN_TYPES else "passport.clear"
            if live and draw(st.booleans()):
                signer = draw(st.sampled_from(live))
            record = author.next(record_type, bodies[record_type], ts=TS, signing_key=signer)
        built.records.append(record)
        built.signers.append(signer)
    built.main = author.signing_key
    return built


@SLOW
@given(chains())
def test_generated_chains_validate(built: Built) -> None:
    state = validate_chain(built.records)
    assert state.seq == len(built.records)
    assert state.head == built.records[-1].id
    assert state.main_key == pub(built.main)
    assert state.author == keys.did_of(MAIN_KEYS[0])
    types = {r.type for r in built.records}
    event(f"rotated: {'key.rotate' in types}; device signed: "
          f"{any(k in DEVICE_KEYS for k in built.signers)}")


@SLOW
@given(chains(), st.data())
def test_state_json_round_trip(built: Built, data: Any) -> None:
    final = validate_chain(built.records)
    assert ChainState.from_json(final.to_json()) == final
    cut = data.draw(st.integers(1, len(built.records)))
    state = validate_chain(built.records[:cut])
    restored = ChainState.from_json(state.to_json())
    assert restored == state
    for record in built.records[cut:]:  # a restored state checks the rest of the chain alike
        restored = advance(restored, record)
    assert restored == final
    genesis = ChainState.genesis(final.author)
    assert ChainState.from_json(genesis.to_json()) == genesis


def _resign(record: Record, key: nacl.signing.SigningKey, **changes: Any) -> Record:
    fields: dict[str, Any] = {"author": record.author, "seq": record.seq, "prev": record.prev,
                              "record_type": record.type, "body": record.body, "ts": record.ts}
    fields.update(changes)
    return sign_record(key, **fields)


MUTATIONS = ["drop", "swap", "duplicate", "stranger_key", "prev", "seq", "splice", "flip"]


def _mutate(built: Built, kind: str, data: Any) -> list[Record]:
    """The chain with one mutation; parse_record or sign_record may refuse it on the way."""
    records = list(built.records)
    n = len(records)
    index = st.integers(0, n - 1)
    if kind == "drop":  # dropping the last record leaves a valid prefix, so never that one
        del records[data.draw(st.integers(0, max(n - 2, 0)))]
    elif kind == "swap":
        i, j = sorted(data.draw(st.lists(index, min_size=2, max_size=2, unique=True)))
        records[i], records[j] = records[j], records[i]
    elif kind == "duplicate":
        i = data.draw(index)
        records.insert(i + 1, records[i])
    elif kind == "stranger_key":
        i = data.draw(index)
        records[i] = _resign(records[i], STRANGER)
    elif kind == "prev":
        i = data.draw(index)
        new_prev = data.draw(st.none() | st.binary(min_size=32, max_size=32).map(
            lambda b: "sha256:" + b.hex()) | st.sampled_from([r.id for r in records]))
        if new_prev == records[i].prev:
            new_prev = "sha256:" + "0" * 64
        records[i] = _resign(records[i], built.signers[i], prev=new_prev)
    elif kind == "seq":
        i = data.draw(index)
        new_seq = data.draw(st.integers(1, n + 3).filter(lambda s: s != i + 1))
        records[i] = _resign(records[i], built.signers[i], seq=new_seq)
    elif kind == "splice":  # a record of another author, at the same seq (or one past the end)
        i = data.draw(index) if n > 1 else 1
        records[i:i + 1] = [OTHER_CHAIN[i]]
    else:  # flip one byte of one record's raw bytes, then parse it again
        i = data.draw(index)
        raw = records[i].raw
        at = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.sampled_from(b"0123456789abcdefABCDEFz_-\"{}:,").filter(
            lambda c: c != raw[at]) | st.integers(0, 255).filter(lambda c: c != raw[at]))
        records[i] = parse_record(raw[:at] + bytes([byte]) + raw[at + 1:])
    return records


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chains(), st.sampled_from(MUTATIONS), st.data())
def test_no_single_mutation_is_accepted(built: Built, kind: str, data: Any) -> None:
    if kind in ("swap",) and len(built.records) < 2:
        kind = "duplicate"
    with pytest.raises(RecordError) as caught:
        validate_chain(_mutate(built, kind, data))
    event(f"{kind}: {type(caught.value).__name__}")
