"""Appending: records, batches, duplicates, refusals that store nothing, equivocation evidence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from ledger import keys, merkle
from ledger.chain import Author
from ledger.encoding import b64url_encode, canonical, parse_canonical
from ledger.errors import (
    BlobError,
    ChainError,
    ClockSkewError,
    EncodingError,
    EquivocationError,
    RecordError,
    SignatureError,
    StoreError,
)
from ledger.records import parse_record
from ledger.store import schema as t
from ledger.store.ledger import Ledger
from ledger.times import format_ts, now_ms
from passport_api.erasure import sign_order
from tests.store.support import member, members_batch, set_update


def counts(ledger: Ledger) -> dict[str, int]:
    with ledger.engine.connect() as conn:
        return {table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table))
                                .scalar_one())
                for table in (t.records, t.merkle_tiles, t.chains, t.tree_heads, t.blobs)}


def test_a_new_log_starts_with_a_signed_empty_head(ledger: Ledger) -> None:
    head = ledger.latest_tree_head().head
    assert (head.size, head.root, head.origin) == (0, merkle.EMPTY_ROOT, ledger.origin)
    assert ledger.size() == 0


def test_append_stores_record_blob_chain_and_signs_a_head(ledger: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice)
    result = ledger.append(raw, blobs)
    rec = parse_record(raw)
    assert result.indexes == [0] and result.ids == [rec.id] and result.duplicates == 0
    assert result.tree_head.head.size == 1
    assert result.tree_head.head.root == merkle.leaf_hash(raw)
    assert ledger.record(rec.id).raw == raw and ledger.record_at(0).raw == raw
    assert [s.raw for s in ledger.chain(alice.did)] == [raw]
    state = ledger.chain_state(alice.did)
    assert state is not None and (state.seq, state.head) == (1, rec.id)
    [(name, data)] = blobs.items()
    assert ledger.blob(name) == data and ledger.blob_author(name) == alice.did


def test_batch_builds_the_same_tree_as_the_reference(ledger: Ledger) -> None:
    raws, blobs = members_batch(20, per_member=3)
    first = ledger.append_batch(raws[:7], {k: v for k, v in blobs.items()
                                           if k in _named(raws[:7])})
    rest = ledger.append_batch(raws[7:], {k: v for k, v in blobs.items()
                                          if k in _named(raws[7:])})
    assert first.indexes == list(range(7)) and rest.indexes == list(range(7, 60))
    reference = merkle.MemoryTree()
    for raw in raws:
        reference.append(raw)
    assert rest.tree_head.head.root == reference.root() == ledger.root(60)
    assert ledger.root(7) == reference.root(7) == ledger.tree_head(7).head.root
    assert [r.raw for r in ledger.records_range(10, 13)] == raws[10:13]


def _named(raws: list[bytes]) -> set[str]:
    return {parse_record(r).body["blob"] for r in raws}


def test_resending_records_is_idempotent(ledger: Ledger) -> None:
    raws, blobs = members_batch(5, per_member=2)
    ledger.append_batch(raws, blobs)
    before = counts(ledger)
    again = ledger.append_batch(raws[3:6], {k: blobs[k] for k in _named(raws[3:6])})
    assert again.indexes == [3, 4, 5] and again.duplicates == 3
    assert again.tree_head.head.size == 10
    assert counts(ledger) == before


def test_chain_pages(ledger: Ledger) -> None:
    alice = member()
    raws = [set_update(alice, "today", str(i)) for i in range(7)]
    for raw, blobs in raws:
        ledger.append(raw, blobs)
    page = ledger.chain(alice.did, after_seq=2, limit=3)
    assert [parse_record(s.raw).seq for s in page] == [3, 4, 5]
    assert ledger.chain(member().did) == []


def _resign(author: Author, raw: bytes, **changes: object) -> bytes:
    """The record with fields changed and signed again by ``author``'s key (valid signature)."""
    obj = parse_canonical(raw)
    obj.update(changes)
    del obj["sig"]
    sig = keys.sign(author.signing_key, keys.RECORD_DOMAIN, canonical(obj))
    return canonical({**obj, "sig": b64url_encode(sig)})


def _flip_sig(raw: bytes) -> bytes:
    i = raw.index(b'"sig":"') + 7
    return raw[:i] + (b"B" if raw[i:i + 1] != b"B" else b"C") + raw[i + 1:]


def bad_inputs() -> list[tuple[str, Callable[[Author, bytes], bytes], type[Exception], str]]:
    far = format_ts(now_ms() + 3600_000)
    return [
        ("bad signature", lambda a, raw: _flip_sig(raw), SignatureError,
         "signature does not verify"),
        ("other key", lambda a, raw: _resign(Author(keys.generate()), raw), SignatureError,
         "signature does not verify"),
        ("wrong prev", lambda a, raw: _resign(a, raw, prev="sha256:" + "ab" * 32), ChainError,
         "prev"),
        ("seq gap", lambda a, raw: _resign(a, raw, seq=5), ChainError, "skips ahead"),
        ("unknown type", lambda a, raw: _resign(a, raw, type="passport.burn"), RecordError,
         "unknown record type"),
        ("unknown body key", lambda a, raw: _resign(
            a, raw, body={**parse_canonical(raw)["body"], "colour": "red"}), RecordError,
         "body.colour: unknown key"),
        ("non-canonical", lambda a, raw: raw.replace(b'{"author"', b'{ "author"', 1),
         EncodingError, "canonical"),
        ("duplicate key", lambda a, raw: raw.replace(b'{"author"', b'{"author":"x","author"', 1),
         EncodingError, "duplicate"),
        ("far future", lambda a, raw: _resign(a, raw, ts=far), ClockSkewError, "ahead"),
        ("too large", lambda a, raw: _resign(
            a, raw, body={"subject": a.did, "claim": {"x": "y" * 70_000}}, type="attest"),
         RecordError, "the limit is 65535"),
    ]


@pytest.mark.parametrize(("name", "mutate", "error", "words"), bad_inputs(),
                         ids=[b[0] for b in bad_inputs()])
def test_bad_record_in_a_batch_stores_nothing(
        ledger: Ledger, name: str, mutate: Callable[[Author, bytes], bytes],
        error: type[Exception], words: str) -> None:
    ok_raws, ok_blobs = members_batch(4)
    alice = member()
    first_raw, first_blobs = set_update(alice)
    ledger.append_batch([ok_raws[0], first_raw],
                        first_blobs | {k: ok_blobs[k] for k in _named(ok_raws[:1])})
    before = counts(ledger)
    seq2_raw, seq2_blobs = set_update(alice)  # alice's second record, to be corrupted
    bad = mutate(alice, seq2_raw)
    batch = [*ok_raws[1:3], bad, ok_raws[3]]
    blobs = {k: ok_blobs[k] for k in _named(ok_raws[1:])}
    with pytest.raises(error) as info:
        ledger.append_batch(batch, blobs | seq2_blobs)
    message = str(info.value)
    assert message.startswith("record 2 of the batch"), message
    assert words in message
    assert counts(ledger) == before
    assert ledger.equivocations() == []


def test_equivocation_is_refused_and_both_records_kept(ledger: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice, "today", "one thing")
    ledger.append(raw, blobs)
    rival = Author(alice.signing_key)
    rival_raw, rival_blobs = set_update(rival, "today", "another thing")
    before = counts(ledger)
    with pytest.raises(EquivocationError) as info:
        ledger.append(rival_raw, rival_blobs)
    assert info.value.existing_id == parse_record(raw).id
    assert info.value.conflicting_id == parse_record(rival_raw).id
    assert counts(ledger) == before
    [(author, stored, conflicting)] = ledger.equivocations(alice.did)
    assert (author, stored.raw, conflicting) == (alice.did, raw, rival_raw)
    with pytest.raises(EquivocationError):
        ledger.append(rival_raw, rival_blobs)
    assert len(ledger.equivocations()) == 1


def test_a_badly_signed_rival_is_no_evidence(ledger: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice)
    ledger.append(raw, blobs)
    forged_raw, forged_blobs = set_update(Author(keys.generate(), did=alice.did))
    with pytest.raises(SignatureError):
        ledger.append(forged_raw, forged_blobs)
    assert ledger.equivocations() == []


def test_blob_rules(ledger: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice)
    [(name, data)] = blobs.items()
    with pytest.raises(BlobError, match="not uploaded"):
        ledger.append(raw)
    with pytest.raises(BlobError, match="hash to"):
        ledger.append(raw, {name: data + b"x"})
    stray = set_update(member())[1]
    with pytest.raises(BlobError, match="not named"):
        ledger.append(raw, blobs | stray)
    assert ledger.size() == 0
    ledger.append(raw, blobs)
    assert ledger.blob(name) == data


def test_erasure_removes_the_value_and_keeps_the_chain(ledger: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice)
    ledger.append(raw, blobs)
    [name] = blobs
    with pytest.raises(BlobError, match="another member"):
        ledger.erase_blob(name, member().did, b"{}")
    ledger.erase_blob(name, alice.did, sign_order(alice.signing_key, name))
    with pytest.raises(BlobError, match="erased"):
        ledger.blob(name)
    again = ledger.append(raw, blobs)  # a retry must not bring the value back
    assert again.duplicates == 1
    with pytest.raises(BlobError, match="erased"):
        ledger.blob(name)
    raw2, blobs2 = set_update(alice, "today", "next value")
    ledger.append(raw2, blobs2)
    state = ledger.chain_state(alice.did)
    assert state is not None and state.seq == 2


def test_key_rotation_and_devices_persist_across_opens(
        open_ledger: Callable[..., Ledger]) -> None:
    ledger = open_ledger()
    alice, device = member(), keys.generate()
    alice_key = alice.signing_key
    new_key, after = keys.generate(), keys.generate()
    records = [
        alice.next("key.rotate", {"next": alice.did, "next_commitment":
                                  keys.key_commitment(bytes(new_key.verify_key))}),
        alice.next("device.add", {"device": keys.did_of(device), "label": "phone"}),
    ]
    ledger.append_batch([r.raw for r in records])
    reopened = open_ledger()
    by_device = alice.next("passport.clear", {"field": "today"}, signing_key=device)
    rotate = alice.rotate(new_key, keys.key_commitment(bytes(after.verify_key)))
    reopened.append_batch([by_device.raw, rotate.raw])
    old_key = Author(alice_key, did=alice.did, seq=alice.seq, head=alice.head)
    old_key_record = old_key.next("passport.clear", {"field": "x"}).raw
    with pytest.raises(SignatureError):
        reopened.append(old_key_record)
    state = reopened.chain_state(alice.did)
    assert state is not None and state.main_key == bytes(new_key.verify_key)


def test_parallel_verification_path_names_the_bad_record(
        open_ledger: Callable[..., Ledger]) -> None:
    ledger = open_ledger(verify_workers=2)
    raws, blobs = members_batch(300, per_member=2)
    bad = raws[550].replace(b'"type":"passport.set"', b'"type":"passport.sex"')
    with pytest.raises(RecordError, match=r"^record 550 of the batch"):
        ledger.append_batch([*raws[:550], bad, *raws[551:]], blobs)
    assert ledger.size() == 0
    result = ledger.append_batch(raws, blobs)
    assert result.indexes == list(range(600)) and ledger.size() == 600


def test_read_only_and_wrong_key(open_ledger: Callable[..., Ledger]) -> None:
    writer = open_ledger()
    raw, blobs = set_update(member())
    writer.append(raw, blobs)
    reader = open_ledger(log_key=None)
    assert reader.size() == 1 and reader.origin == writer.origin
    with pytest.raises(StoreError, match="read-only"):
        reader.append(raw, blobs)
    with pytest.raises(StoreError, match="another key"):
        open_ledger(log_key=keys.generate())
