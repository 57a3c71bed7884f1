"""The tamper suite: every column of every table, edited one at a time, is caught by the audit
or listed below as harmless by construction, with the reason.

The columns come from the schema (SQLAlchemy's metadata), so a new column fails this suite
until the audit covers it or it is listed.  A small ledger with a row in every table is built
once per database; each case edits one column of one row and audits inside one transaction,
then rolls it back.  The audit must name the row (record index or id, chain, blob, receipt...)
and the check, and never raise.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import sqlalchemy as sa

from ledger import keys, seal
from ledger.chain import Author
from ledger.checkpoint import TreeHead, sign_tree_head
from ledger.errors import EquivocationError
from ledger.parallel import Verifier
from ledger.store import evidence
from ledger.store import schema as t
from ledger.store.access import AccessStore
from ledger.store.anchors import AnchorStore
from ledger.store.audit import AuditReport, Problem, audit, audit_connection
from ledger.store.federation import FederationStore
from ledger.store.ledger import Ledger
from ledger.times import format_ts, now_ms
from passport_api import reads
from passport_api.erasure import sign_order
from passport_api.read_cache import ReadCache
from tests.conftest import fresh_db
from wallet.fields import set_field

# (table, column) -> why an edit there cannot change what the node serves or what its evidence
# proves.  Everything else must be caught by the audit.
HARMLESS: dict[tuple[str, str], str] = {
    **{("request_nonces", c): "the replay guard of signed requests, which are only valid for 5 "
       "minutes (signed created/expires): a row matters only inside that window and is "
       "evidence of nothing" for c in ("keyid", "nonce", "expires_ms")},
    **{("leases", c): "a lock that picks which worker runs the anchoring loop; it expires on "
       "its own and decides nothing about the log" for c in ("name", "holder", "expires_ms")},
    **{("challenges", c): "the node's bookkeeping of when and for which desk a challenge may "
       "be answered; what a check-in proves is the member's signed checkin naming the "
       "challenge's hash, and the audit checks answered challenges against it (nonce_hash, "
       "used_rid)" for c in ("space", "created_ms", "expires_ms")},
    ("blobs", "created_ms"): "when the node received the value; nothing reads it (the "
                             "record's signed ts says when it was written)",
    **{("anchor_contracts", c): "which contract the node anchors to; an anchor is evidence "
       "only as the chain's event, which `passport ledger prove` reads from the chain for the "
       "log id, size and root" for c in ("chain_id", "address", "created_ms", "retired_ms")},
    **{("anchors", c): "the node's mirror of an Ethereum transaction; the anchoring loop "
       "reconciles it with the chain, and proofs of anchoring read the chain, never this row"
       for c in ("id", "chain_id", "contract", "sender", "log_id", "tree_size", "root",
                 "status", "nonce", "tx_hash", "raw_tx", "block_number", "block_hash",
                 "created_ms", "updated_ms", "detail")},
    **{("consent_views", c): "a cache of the consent views reads folded: a row is used only "
       "if the node's MAC over its member, seq, head and records holds (keyed from the log "
       "key, which is not in the database) and it is not ahead of the member's chain row; "
       "else the read folds the chain itself (tests/store/test_stored_views.py)"
       for c in ("author", "seq", "head", "records", "mac")},
    **{("peers", c): "a follower's cursor on a peer's log: every record pulled is checked "
       "against its author's chain before it is appended, every head of the peer against the "
       "pinned key and the stored frontier; an edit makes the next pull fail or start over, "
       "never append a record unchecked" for c in (
           "url", "log_key", "origin", "pulled", "frontier", "head_note", "erasures_ms",
           "refused", "last_error", "updated_ms")},
}
# Harmless only for some rows: (table, column) -> (applies to this row?, why).
HARMLESS_ROWS: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("blobs", "size"): (lambda row: row.data is None,
                        "the size of an erased value's bytes, which are gone; nothing serves it"),
}


@dataclass
class Built:
    url: str
    ledger: Ledger


def build(url: str, log_key: nacl.signing.SigningKey) -> Ledger:
    """A ledger with at least one row in every table (answered challenges only)."""
    ledger = Ledger.open(url, log_key=log_key, verify_workers=0)
    access, federation = AccessStore(ledger.engine), FederationStore(ledger.engine)
    alice, bob, carol = (Author(keys.generate()) for _ in range(3))
    service, space = keys.generate(), keys.generate()
    today = set_field(alice, "today", "writing", [])
    rides = keys.did_of(service)
    new_key, after = keys.generate(), keys.generate()
    raws = [today.record.raw,
            alice.next("consent.grant", {
                "grant": "grant-rides-1", "grantee": rides, "fields": ["today"],
                "purpose": "tests", "expires": format_ts(now_ms() + 3600_000),
                "keys": {"today": seal.wrap_key(today.sealed.content_key, rides)}}).raw,
            alice.next("consent.grant", {
                "grant": "grant-rides-2", "grantee": rides, "fields": ["today"],
                "purpose": "tests", "expires": format_ts(now_ms() + 3600_000),
                "keys": {"today": seal.wrap_key(today.sealed.content_key, rides)}}).raw,
            alice.next("consent.revoke", {"grant": "grant-rides-2"}).raw,
            alice.next("key.rotate", {"next": alice.did, "next_commitment":
                                      keys.key_commitment(bytes(new_key.verify_key))}).raw]
    raws.append(alice.rotate(new_key, keys.key_commitment(bytes(after.verify_key))).raw)
    bob_value = set_field(bob, "today", "bob's day", [])
    raws.append(bob_value.record.raw)
    ledger.append_batch(raws, today.blobs | bob_value.blobs)
    nonce, _ = access.issue_challenge(keys.did_of(space), now_ms(), 60_000)
    nonce_hash = hashlib.sha256(nonce.encode()).digest()
    checkin = carol.next("checkin", {"nonce_hash": "sha256:" + nonce_hash.hex(), "sealed": {
        "ct": "c2VhbGVk", "keys": ["a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
                                   "a2V5a2V5a2V5"]}})
    ledger.append(checkin.raw)
    access.use_challenge(nonce_hash, keys.did_of(space), checkin.digest, now_ms())
    rival = Author(bob.signing_key)
    rival_rec = rival.next("passport.clear", {"field": "today"})
    with pytest.raises(EquivocationError):
        ledger.append(rival_rec.raw)
    name = bob_value.sealed.blob_name
    ledger.erase_blob(name, bob.did, sign_order(bob.signing_key, name))
    asyncio.run(reads.commit_read(
        reads.ReceiptWriter(access, ledger.sign_statement),
        reads.prepare_read(ReadCache(ledger), service=rides, member=alice.did,
                           fields=["today"], request={"signature": "sig1=:AA==:"},
                           now_ms=now_ms()),
        (rides, "nonce-read-1", now_ms() + 60_000)))
    access.first_use(rides, "nonce-123456", now_ms() + 60_000, now_ms())
    AnchorStore(ledger.engine).add_contract(31337, "0x" + "11" * 20, now_ms())
    AnchorStore(ledger.engine).add_pending(
        chain_id=31337, contract="0x" + "11" * 20, sender="0x" + "22" * 20, log_id=b"l" * 32,
        tree_size=1, root=b"r" * 32, nonce=0, tx_hash=b"t" * 32, raw_tx=b"raw", now_ms=1)
    AnchorStore(ledger.engine).take_lease("anchoring", "worker-1", now_ms(), 60_000)
    peer_key = keys.generate()
    federation.ensure_peer("http://peer.example", now_ms())
    origin = "peer.example/log"
    notes = [sign_tree_head(TreeHead(origin, 1, bytes([i]) * 32, 1000), peer_key)
             for i in (1, 2)]
    federation.add_fork(log_key=bytes(peer_key.verify_key), origin=origin, note_a=notes[0],
                        note_b=notes[1], reason="two roots at size 1", reported_by="tests",
                        now_ms=now_ms(), sign=ledger.sign_statement)
    return ledger


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Built]:
    url = fresh_db(request.param, request, tmp_path_factory.mktemp("tamper"), "ledger.sqlite")
    ledger = build(url, keys.generate())
    report = audit(ledger.engine, verifier=Verifier(0))
    assert report.ok, report.problems  # clean before any edit
    yield Built(url, ledger)
    ledger.close()


def every_column() -> list[tuple[str, str]]:
    return [(table.name, column.name) for table in t.metadata.sorted_tables
            for column in table.columns]


def changed(value: Any, column: sa.Column[Any], bump: int) -> Any:
    """A value of the column's type that differs from ``value``."""
    if value is None:
        if isinstance(column.type, sa.LargeBinary):
            return b"\x01" * 32
        return 1 if isinstance(column.type, sa.Integer) else "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + bump
    if isinstance(value, bytes | memoryview):
        b = bytes(value) or b"\x00"
        return b[:-1] + bytes([b[-1] ^ (bump % 255 or 1)])  # xor by 1..254: a change
    assert isinstance(value, str)
    return value[:-1] + ("x" if value[-1:] != "x" else "y") if value else "x"


def names_row(problem: Problem, table: str, row: Any, new: Any, column: str) -> bool:
    """Does the problem name this row (by index, record id, key or the edited value)?"""
    text = str(problem)
    pk = [c.name for c in t.metadata.tables[table].primary_key.columns]
    tokens = []
    for c in pk:
        for v in (row._mapping[c], new if c == column else None):
            if isinstance(v, bytes | memoryview):
                tokens.append(bytes(v).hex())
            elif v is not None:
                tokens.append(str(v))
    if table == "records":
        return (problem.index == row.idx
                or problem.record_id == "sha256:" + bytes(row.rid).hex()
                or any(f"index {v}" in text for v in tokens))
    if table in ("log_state", "evidence_head", "merkle_tiles"):
        return problem.check in {"log", "log-key", "tree-head", "count", "evidence", "merkle",
                                 "missing-record"}
    if table == "tree_heads":
        return any(f"size {v}" in text for v in tokens)
    labels = {table, *LABELS.get(table, ())}
    return any(tok in text if len(tok) > 8 else any(f"{lb} {tok}" in text for lb in labels)
               for tok in tokens)


# How the audit's messages call a row of a table with a short (numeric) key.
LABELS = {"receipts": ("receipt",), "equivocations": ("equivocation",),
          "fork_evidence": ("fork evidence",), "evidence": ("evidence entry",)}


def rows_to_edit(conn: sa.Connection, table: sa.Table) -> list[Any]:
    rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
    picks = {0: rows[0], len(rows) - 1: rows[-1]} if rows else {}
    if table.name == "records":  # the consent.revoke row of issue 17
        picks.update({i: r for i, r in enumerate(rows) if r.type == "consent.revoke"})
    return list(picks.values())


def audit_edit(conn: sa.Connection, table: sa.Table, row: Any, column: str,
               new: Any) -> AuditReport | None:
    """Edit one column of one row and audit, inside a savepoint; None if the database refuses
    the value (a constraint: then it cannot be stored, which is its own protection)."""
    where = [table.c[c.name] == row._mapping[c.name] for c in table.primary_key.columns]
    savepoint = conn.begin_nested()
    try:
        conn.execute(table.update().where(*where).values({column: new}))
    except sa.exc.IntegrityError:
        savepoint.rollback()
        return None
    report = audit_connection(conn, verifier=Verifier(0))
    savepoint.rollback()
    return report


def test_every_column_is_audited_or_listed_harmless(built: Built) -> None:
    misses: list[str] = []
    with built.ledger.engine.connect() as conn, conn.begin():
        for table_name, column in every_column():
            table = t.metadata.tables[table_name]
            rows = rows_to_edit(conn, table)
            assert rows, f"the built ledger has no row in {table_name}"
            for row in rows:
                reason = HARMLESS.get((table_name, column))
                when = HARMLESS_ROWS.get((table_name, column))
                if when is not None and when[0](row):
                    reason = when[1]
                for bump in (1, 1_000_003):
                    new = changed(row._mapping[column], table.c[column], bump)
                    report = audit_edit(conn, table, row, column, new)
                    if report is not None:
                        break
                if report is None:
                    continue  # the database itself refused every edit (unique, not null)
                if reason is not None:
                    assert len(reason) > 40
                    continue  # harmless; the audit ran without raising
                if report.ok:
                    misses.append(f"{table_name}.{column} (row {tuple(row)[:2]}): not caught")
                elif not any(names_row(p, table_name, row, new, column)
                             for p in report.problems):
                    misses.append(f"{table_name}.{column}: caught but the row is not named: "
                                  f"{[str(p) for p in report.problems][:3]}")
    assert not misses, "\n".join(misses)


def test_deleting_any_evidence_row_is_caught(built: Built) -> None:
    with built.ledger.engine.connect() as conn, conn.begin():
        for table in [*evidence.KINDS.values(), t.evidence, t.evidence_head]:
            for row in conn.execute(sa.select(table)).all():
                savepoint = conn.begin_nested()
                conn.execute(table.delete().where(*(
                    table.c[c.name] == row._mapping[c.name]
                    for c in table.primary_key.columns)))
                report = audit_connection(conn, verifier=Verifier(0))
                savepoint.rollback()
                assert not report.ok, (table.name, tuple(row))
                assert any(p.check in {"evidence", "erasure"} for p in report.problems)


def test_a_faked_erasure_is_caught(built: Built) -> None:
    """The operator clears a value and sets erased_ms, with no order from its author."""
    with built.ledger.engine.connect() as conn, conn.begin():
        digest = conn.execute(sa.select(t.blobs.c.digest)
                              .where(t.blobs.c.data.is_not(None))).scalars().first()
        conn.execute(t.blobs.update().where(t.blobs.c.digest == digest)
                     .values(data=None, erased_ms=now_ms()))
        report = audit_connection(conn, verifier=Verifier(0))
        conn.rollback()
    [problem] = report.problems
    assert problem.check == "erasure" and bytes(digest).hex() in problem.message
    assert "no order from its author" in problem.message and problem.record_id


def test_an_order_for_another_value_does_not_cover_an_erasure(built: Built) -> None:
    with built.ledger.engine.connect() as conn, conn.begin():
        kept = conn.execute(sa.select(t.erasures)).one()
        digest = conn.execute(sa.select(t.blobs.c.digest)
                              .where(t.blobs.c.data.is_not(None))).scalars().first()
        now = now_ms()
        conn.execute(t.blobs.update().where(t.blobs.c.digest == digest)
                     .values(data=None, erased_ms=now))
        conn.execute(t.erasures.insert().values(digest=digest, author=kept.author,
                                                request=kept.request, received_ms=now))
        report = audit_connection(conn, verifier=Verifier(0))
        conn.rollback()
    assert {p.check for p in report.problems} >= {"erasure", "evidence"}
    assert any("not an erasure of" in p.message or "value is" in p.message
               for p in report.problems if p.check == "erasure")


def test_the_suite_covers_every_table(tmp_path: Path) -> None:
    """New tables need a row in ``build``: the suite would otherwise skip them silently."""
    ledger = build(str(tmp_path / "l.sqlite"), keys.generate())
    try:
        with ledger.engine.connect() as conn:
            empty = [tb.name for tb in t.metadata.sorted_tables
                     if conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar() == 0]
    finally:
        ledger.close()
    assert empty == []


def test_values_of_another_type_or_size_are_named_not_a_crash(built: Built) -> None:
    """SQLite stores any value in any column, PostgreSQL any length in a bytea: the audit names
    each such value (table, row, column) and never raises."""
    sqlite = built.ledger.engine.dialect.name == "sqlite"
    with built.ledger.engine.connect() as conn, conn.begin():
        for table_name, column in every_column():
            if (table_name, column) in HARMLESS:
                continue
            table = t.metadata.tables[table_name]
            col = table.c[column]
            row = rows_to_edit(conn, table)[0]
            values: list[Any] = ([b"\x00" * 31] if getattr(col.type, "length", None) else [])
            if sqlite:
                values += ["garbage", b"\x00", 7]
            for bad in values:
                savepoint = conn.begin_nested()
                where = [table.c[c.name] == row._mapping[c.name]
                         for c in table.primary_key.columns]
                try:
                    conn.execute(table.update().where(*where).values({column: literal(bad)}))
                except (sa.exc.IntegrityError, sa.exc.StatementError):
                    savepoint.rollback()
                    continue
                after = [table.c[c.name] == (literal(bad) if c.name == column
                                             else row._mapping[c.name])
                         for c in table.primary_key.columns]
                stored = conn.execute(sa.select(col).where(*after)).scalar()  # after affinity
                report = audit_connection(conn, verifier=Verifier(0))
                savepoint.rollback()
                if fits(stored, col):
                    continue  # a value of the right kind: the suite above covers such edits
                assert any(p.check == "column-type" and f"{table_name} (" in p.message
                           and f"column {column} " in p.message for p in report.problems), (
                    table_name, column, bad, [str(p) for p in report.problems][:3])


def fits(value: Any, column: sa.Column[Any]) -> bool:
    """Is ``value`` of the column's type (and, for a sized binary, of its size)?"""
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        length = getattr(kind, "length", None)
        return isinstance(value, bytes) and (length is None or len(value) == length)
    if isinstance(kind, sa.Integer):
        return isinstance(value, int)
    return isinstance(value, str)


def literal(value: Any) -> sa.ColumnElement[Any]:
    """``value`` bound as its own type, whatever the column's (SQLite stores it so)."""
    kind = (sa.LargeBinary() if isinstance(value, bytes)
            else sa.Integer() if isinstance(value, int) else sa.Text())
    return sa.literal(value, kind)
