"""The audit finds tampering: changed bytes, deleted rows, swapped leaves, forged heads."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledger import keys, merkle
from ledger.checkpoint import TreeHead, sign_tree_head
from ledger.errors import InclusionProofError, RangeError
from ledger.parallel import Verifier
from ledger.records import parse_record
from ledger.store import schema as t
from ledger.store.audit import AuditReport, audit
from ledger.store.db import current_revision, head_revision
from ledger.store.ledger import Ledger
from passport_api.erasure import sign_order
from tests.store.support import member, members_batch, set_update

N = 24


@pytest.fixture
def full(ledger: Ledger) -> Ledger:
    """A ledger of N records in three batches (so three signed heads besides the empty one)."""
    raws, blobs = members_batch(8, per_member=3)
    for start in range(0, N, 8):
        part = raws[start:start + 8]
        named = {parse_record(r).body["blob"] for r in part}
        ledger.append_batch(part, {k: blobs[k] for k in named})
    return ledger


def run(ledger: Ledger, **kwargs: object) -> AuditReport:
    return audit(ledger.engine, verifier=Verifier(0), **kwargs)  # type: ignore[arg-type]


def checks(report: AuditReport) -> set[tuple[str, int | None]]:
    return {(p.check, p.index) for p in report.problems}


def tamper(ledger: Ledger, statement: sa.Executable) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(statement)


def test_a_clean_ledger_passes_with_counts(full: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    report = audit(full.engine, verifier=Verifier(0), public_key=full.public_key,
                   progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.problems
    assert (report.records, report.size, report.chains, report.blobs) == (N, N, 8, N)
    assert report.tree_heads == 4
    assert seen[-1] == (N, N)


def test_a_changed_byte_in_a_record_is_named(full: Ledger) -> None:
    raw = full.record_at(5).raw
    changed = raw.replace(b'"passport.set"', b'"passport.sex"')
    tamper(full, t.records.update().where(t.records.c.idx == 5).values(raw=changed))
    report = run(full)
    assert ("record-id", 5) in checks(report)
    assert ("record", 5) in checks(report)
    assert ("merkle", 5) in checks(report)
    assert any("unknown record type" in p.message for p in report.problems)


def test_a_changed_byte_with_a_matching_row_id_still_fails_the_tree(full: Ledger) -> None:
    raw = full.record_at(9).raw
    i = raw.index(b'"sig":"') + 7
    changed = raw[:i] + (b"B" if raw[i:i + 1] != b"B" else b"C") + raw[i + 1:]
    digest = parse_record(changed).digest
    tamper(full, t.records.update().where(t.records.c.idx == 9).values(raw=changed, rid=digest))
    report = run(full)
    assert {("signature", 9), ("merkle", 9)} <= checks(report)
    assert any(p.check == "tree-head" for p in report.problems)


def test_a_deleted_row_is_named(full: Ledger) -> None:
    tamper(full, t.records.delete().where(t.records.c.idx == 11))
    report = run(full)
    assert ("missing-record", 11) in checks(report)
    assert any("records 11 to 11 are missing" in p.message for p in report.problems)


def test_a_deleted_last_row_is_named(full: Ledger) -> None:
    tamper(full, t.records.delete().where(t.records.c.idx == N - 1))
    report = run(full)
    assert ("count", None) in checks(report)
    assert any(p.check == "tree-head" and f"size {N}" in p.message for p in report.problems)


def test_swapped_leaves_are_found(full: Ledger) -> None:
    a, b = full.record_at(2), full.record_at(13)
    ra, rb = parse_record(a.raw), parse_record(b.raw)
    with full.engine.begin() as conn:
        conn.execute(t.records.update().where(t.records.c.idx == 2)
                     .values(rid=b"\0" * 32, raw=b"{}", author="parked", seq=0))
        conn.execute(t.records.update().where(t.records.c.idx == 13)
                     .values(rid=ra.digest, raw=a.raw, author=ra.author, seq=ra.seq))
        conn.execute(t.records.update().where(t.records.c.idx == 2)
                     .values(rid=rb.digest, raw=b.raw, author=rb.author, seq=rb.seq))
    report = run(full)
    assert {("merkle", 2), ("merkle", 13)} <= checks(report)


def test_swapped_merkle_hashes_are_found(full: Ledger) -> None:
    first = (t.merkle_tiles.c.level == 0) & (t.merkle_tiles.c.idx == 0)
    with full.engine.connect() as conn:
        row = bytes(conn.execute(sa.select(t.merkle_tiles.c.hashes).where(first)).scalar_one())
    swapped = row[:96] + row[128:160] + row[96:128] + row[160:]  # leaf hashes 3 and 4
    with full.engine.begin() as conn:
        conn.execute(t.merkle_tiles.update().where(first).values(hashes=swapped))
    report = run(full)
    assert {("merkle", 3), ("merkle", 4)} <= checks(report)
    # and the node serves proofs that fail against the signed head
    head = full.latest_tree_head().head
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(merkle.leaf_hash(full.record_at(2).raw), 2, head.size,
                                full.inclusion_proof(2, head.size), head.root)


def test_a_forged_tree_head_is_found(full: Ledger) -> None:
    forger = keys.generate()
    root = full.root(16)
    note = sign_tree_head(TreeHead(full.origin, 16, root, 1), forger)
    tamper(full, t.tree_heads.update().where(t.tree_heads.c.size == 16).values(note=note))
    report = run(full)
    assert any(p.check == "tree-head" and "size 16" in p.message for p in report.problems)


def test_a_pinned_key_overrides_the_stored_one(full: Ledger) -> None:
    other = bytes(keys.generate().verify_key)
    tamper(full, t.log_state.update().values(public_key=other))
    assert not run(full).ok  # every head now fails under the swapped stored key
    report = run(full, public_key=full.public_key)
    assert [p.check for p in report.problems] == ["log-key"]


def test_blob_tampering_and_loss_are_found(full: Ledger) -> None:
    rec0, rec1 = parse_record(full.record_at(0).raw), parse_record(full.record_at(1).raw)
    d0, d1 = (bytes.fromhex(r.body["blob"][7:]) for r in (rec0, rec1))
    tamper(full, t.blobs.update().where(t.blobs.c.digest == d0).values(data=b"garbage"))
    tamper(full, t.blobs.delete().where(t.blobs.c.digest == d1))
    problems = [p for p in run(full).problems if p.check == "blob"]
    assert len(problems) == 2
    assert rec0.body["blob"] in problems[0].message + problems[1].message
    assert any(p.record_id == rec1.id and "missing" in p.message for p in problems)


def test_erasure_leaves_the_audit_clean(full: Ledger) -> None:
    alice = member()
    raw, blobs = set_update(alice)
    full.append(raw, blobs)
    [name] = blobs
    full.erase_blob(name, alice.did, sign_order(alice.signing_key, name))
    assert run(full).ok, run(full).problems


@pytest.mark.parametrize("change", [{"seq": 1}, {"head": bytes(32)}])
def test_a_tampered_chain_state_is_found(full: Ledger, change: dict[str, object]) -> None:
    author = parse_record(full.record_at(0).raw).author
    tamper(full, t.chains.update().where(t.chains.c.author == author).values(**change))
    report = run(full)
    assert [p.check for p in report.problems] == ["chain-state"]
    assert author in report.problems[0].message


def test_proofs_verify_against_every_signed_head(full: Ledger) -> None:
    sizes = [8, 16, 24]
    for size in sizes:
        head = full.tree_head(size).head
        for index in range(size):
            proof = full.inclusion_proof(index, size)
            merkle.verify_inclusion(merkle.leaf_hash(full.record_at(index).raw), index, size,
                                    proof, head.root)
    for old in sizes:
        for new in sizes:
            if old <= new:
                merkle.verify_consistency(old, new, full.consistency_proof(old, new),
                                          full.tree_head(old).head.root,
                                          full.tree_head(new).head.root)
    with pytest.raises(RangeError):
        full.inclusion_proof(0, N + 1)
    with pytest.raises(RangeError):
        full.consistency_proof(3, N + 1)


def test_concurrent_writers_take_turns(open_ledger: Callable[..., Ledger]) -> None:
    writers = [open_ledger(), open_ledger()]
    errors: list[BaseException] = []

    def write(ledger: Ledger) -> None:
        try:
            for _ in range(10):
                raws, blobs = members_batch(3)
                ledger.append_batch(raws, blobs)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert writers[0].size() == 60
    report = run(writers[0])
    assert report.ok and report.tree_heads == 21, report.problems


def test_schema_is_at_the_newest_migration_and_matches_the_tables(ledger: Ledger) -> None:
    assert current_revision(ledger.engine) == head_revision() is not None
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_single_member_appends_one_by_one_keep_heads_consistent(ledger: Ledger) -> None:
    alice = member()
    heads = []
    for i in range(5):
        raw, blobs = set_update(alice, "today", str(i))
        heads.append(ledger.append(raw, blobs).tree_head.head)
    for old, new in itertools.pairwise(heads):
        merkle.verify_consistency(old.size, new.size,
                                  ledger.consistency_proof(old.size, new.size),
                                  old.root, new.root)
