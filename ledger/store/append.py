"""The append path: one transaction per batch, holding the log's write lock.

Everything is checked before anything is written; a batch is stored whole or not at all.  The
lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``SELECT ... FOR UPDATE`` on the one log_state
row) makes appenders in several processes take turns, so the tree never forks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from ledger import merkle
from ledger.chain import ChainState, advance, check_equivocation
from ledger.encoding import DIGEST_PREFIX, digest_name, parse_digest_name, sha256_name
from ledger.errors import (
    BlobError,
    EquivocationError,
    LedgerError,
    RecordError,
)
from ledger.parallel import Checked, Outcome
from ledger.records import Record, named_digest
from ledger.store import bulk, derived, evidence, tiles
from ledger.store import schema as t
from ledger.store.tiles import load_frontier

MAX_BATCH_RECORDS = 10_000
MAX_BLOB_BYTES = 1024 * 1024
_IN_CHUNK = 500  # bound on parameters per IN (...) query


@dataclass
class Batch:
    """What a batch will write, gathered while checking."""

    size: int
    states: dict[str, ChainState] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # authors with a row in chains
    records: list[Record] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)  # Merkle leaf hash of each of records
    positions: list[int] = field(default_factory=list)  # log index per input record
    by_seq: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    duplicates: int = 0
    resent_blobs: set[bytes] = field(default_factory=set)  # named by duplicates: already stored
    evidence: list[tuple[str, Record]] = field(default_factory=list)  # (stored id, rival)


def check_blobs(blobs: Mapping[str, bytes]) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for name, data in blobs.items():
        if len(data) > MAX_BLOB_BYTES:
            raise BlobError(f"blob {name} is {len(data)} bytes; the limit is {MAX_BLOB_BYTES}")
        if sha256_name(data) != name:
            raise BlobError(f"blob {name[:80]}: its bytes hash to {sha256_name(data)}")
        out[parse_digest_name(name, what="blob name")] = data
    return out


def keep_evidence(conn: sa.Connection, evidence_: Sequence[tuple[str, Record]], now: int,
                  sign: evidence.Signer) -> None:
    """Store rival records as proof of equivocation (each once), chained as evidence."""
    for stored_id, rival in evidence_:
        seen = conn.execute(sa.select(t.equivocations.c.id)
                            .where(t.equivocations.c.conflicting_rid == rival.digest)).first()
        if seen is None:
            result = conn.execute(t.equivocations.insert().values(
                author=rival.author, seq=rival.seq, existing_rid=parse_digest_name(stored_id),
                conflicting_rid=rival.digest, conflicting_raw=rival.raw, detected_ms=now))
            key = result.inserted_primary_key
            assert key is not None
            evidence.record(conn, t.equivocations, {"id": int(key[0])}, sign)


def lock_log(conn: sa.Connection) -> int:
    size = conn.execute(sa.select(t.log_state.c.size).where(t.log_state.c.id == 1)
                        .with_for_update()).scalar_one_or_none()
    if size is None:
        raise LedgerError("the ledger has no log yet: open it once with the node's log key")
    return int(size)


def _load_states(conn: sa.Connection, batch: Batch, authors: dict[str, bytes | None]) -> None:
    """Chain states of ``authors`` (each with the key a worker decoded from its did, if any)."""
    todo = sorted(authors.keys() - batch.states.keys())
    rows = bulk.select_in(conn, t.chains, ("author", "seq", "head", "key_history"), "author",
                          todo, chunk=_IN_CHUNK)
    for author, seq, head, keys_json in rows:
        batch.states[author] = derived.restore_state(author, int(seq), bytes(head), keys_json,
                                                     authors[author])
        batch.known.add(author)
    for author in todo:
        if author not in batch.states:
            batch.states[author] = ChainState.genesis(author, authors[author])


def _stored_at(conn: sa.Connection, batch: Batch, author: str, seq: int) -> tuple[str, int]:
    if (author, seq) in batch.by_seq:
        return batch.by_seq[(author, seq)]
    row = conn.execute(sa.select(t.records.c.rid, t.records.c.idx)
                       .where(t.records.c.author == author, t.records.c.seq == seq)).one()
    return digest_name(bytes(row.rid)), int(row.idx)


def check_batch(conn: sa.Connection, outcomes: Sequence[Outcome], batch: Batch) -> None:
    """Check the outcomes of the stateless checks against the chains, in order."""
    # A worker's signer is the author's own did key (ledger.parallel): the genesis key.
    authors: dict[str, bytes | None] = {}
    for o in outcomes:
        if isinstance(o, Checked) and authors.get(o.record.author) is None:
            authors[o.record.author] = o.signer
    _load_states(conn, batch, authors)
    for offset, outcome in enumerate(outcomes):
        where = f"record {offset} of the batch"
        if isinstance(outcome, RecordError):
            raise outcome.at(where)
        rec = outcome.record
        state = batch.states[rec.author]
        if rec.seq <= state.seq:
            stored_id, stored_idx = _stored_at(conn, batch, rec.author, rec.seq)
            if stored_id == rec.id:
                batch.duplicates += 1
                batch.positions.append(stored_idx)
                if rec.type == "passport.set":
                    batch.resent_blobs.add(named_digest(rec))
                continue
            try:
                check_equivocation(state, stored_id, rec)
            except EquivocationError as e:
                batch.evidence.append((stored_id, rec))
                raise e.at(where) from None
        try:
            batch.states[rec.author] = advance(state, rec, outcome.signer)
        except LedgerError as e:
            raise e.at(f"{where} ({rec.id})") from None
        index = batch.size + len(batch.records)
        batch.by_seq[(rec.author, rec.seq)] = (rec.id, index)
        batch.records.append(rec)
        batch.leaves.append(outcome.leaf)
        batch.positions.append(index)


def check_size(raws: Sequence[bytes]) -> None:
    if not raws:
        raise RecordError("the batch is empty")
    if len(raws) > MAX_BATCH_RECORDS:
        raise RecordError(f"a batch holds at most {MAX_BATCH_RECORDS} records, got {len(raws)}")


def write_blobs(conn: sa.Connection, batch: Batch, blobs: dict[bytes, bytes],
                now: int, erased: frozenset[bytes] = frozenset()) -> list[tuple[bytes, str]]:
    """Store the blobs the batch's new ``passport.set`` records name; refuse any other.

    Blobs of resent (duplicate) records are accepted and ignored, so a retried batch succeeds,
    and an erased value is never brought back by a retry.  ``erased`` names values a peer node
    already erased: replicated, they are stored as erased (the record without its value).
    Returns (digest, author) of those, whose orders the caller keeps.
    """
    named = {named_digest(r): r.author
             for r in batch.records if r.type == "passport.set"}
    stray = blobs.keys() - named.keys() - batch.resent_blobs
    if stray:
        raise BlobError(f"blob sha256:{min(stray).hex()} is not named by a passport.set "
                        "record of this batch")
    # Only names without their bytes here are looked up; uploaded bytes are inserted unless
    # already stored (a retry, or the same value named twice): a stored row, even an erased
    # one, is never overwritten, so a retry cannot bring an erased value back.
    absent = sorted(d for d in named if d not in blobs)
    existing = {bytes(d) for (d,) in bulk.select_in(conn, t.blobs, ("digest",), "digest",
                                                     absent, chunk=_IN_CHUNK)}
    missing = [d for d in absent if d not in existing and d not in erased]
    if missing:
        raise BlobError(f"blob sha256:{missing[0].hex()} is named by a record but was not "
                        "uploaded with it")
    bulk.insert_rows(conn, t.blobs, ("digest", "author", "size", "data", "created_ms"),
                     [(d, named[d], len(data), data, now)
                      for d, data in blobs.items() if d in named], skip_existing=True)
    gone = [d for d in absent if d in erased and d not in existing]
    if gone:
        bulk.insert_rows(conn, t.blobs, ("digest", "author", "size", "data", "created_ms",
                                         "erased_ms"),
                         [(d, named[d], 0, None, now, now) for d in gone])
    return [(d, named[d]) for d in gone]


def write_records(conn: sa.Connection, batch: Batch) -> list[bytes]:
    """Insert the records, their Merkle nodes and chain states; return the new frontier."""
    if not batch.records:
        return load_frontier(conn, batch.size)
    frontier = load_frontier(conn, batch.size)
    frontier, nodes = merkle.append_leaves(frontier, batch.size, batch.leaves)
    bulk.insert_rows(conn, t.records, ("idx", "rid", "author", "seq", "type", "ts_ms", "raw"),
                     [(batch.size + i, r.digest, r.author, r.seq, r.type, r.ts_ms, r.raw)
                      for i, r in enumerate(batch.records)])
    tiles.write_nodes(conn, nodes)
    touched = [batch.states[a] for a in {r.author for r in batch.records}]
    bulk.update_rows(conn, t.chains, ("seq", "head", "key_history"), "author",
                     [(s.seq, _head(s), s.keys_json(), s.author)
                      for s in touched if s.author in batch.known])
    bulk.insert_rows(conn, t.chains, ("author", "seq", "head", "key_history"),
                     [(s.author, s.seq, _head(s), s.keys_json())
                      for s in touched if s.author not in batch.known])
    new_size = batch.size + len(batch.records)
    conn.execute(t.log_state.update().where(t.log_state.c.id == 1).values(size=new_size))
    return frontier


def _head(state: ChainState) -> bytes:
    assert state.head is not None  # a record id made by ledger.records: no need to check it
    return bytes.fromhex(state.head[len(DIGEST_PREFIX):])
