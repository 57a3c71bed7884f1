"""The ledger as stored: append, read, prove.  One object per process, shared by its threads.

Appends go through ``append_batch`` (a single record is a batch of one); reads and proofs come
from stored node hashes in one query each, so they cost O(log n) whatever the ledger's size.
It is the store's one facade (about 400 lines); the work behind it lives in ``append``,
``chains_read``, ``attest_scan``, ``tiles`` and ``hotpath``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import nacl.signing
import sqlalchemy as sa

from ledger import keys, merkle
from ledger.chain import ChainState
from ledger.checkpoint import TreeHead, parse_checkpoint, sign_tree_head
from ledger.encoding import digest_name, is_digest_name, parse_digest_name
from ledger.errors import (
    EquivocationError,
    NotFoundError,
    RangeError,
    StoreError,
)
from ledger.parallel import Checked, Pending, Verifier
from ledger.store import append as ap
from ledger.store import attest_scan, chains_read, derived, tiles, view_states
from ledger.store import evidence as ev
from ledger.store import schema as t
from ledger.store.blobs import Blobs, digest_of, in_order
from ledger.store.chains_read import StoredRecord
from ledger.store.db import open_engine
from ledger.times import now_ms


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    note: bytes  # the C2SP checkpoint, as signed


@dataclass(frozen=True)
class PreparedBatch:
    blobs: dict[bytes, bytes]
    now: int
    pending: Pending
    # values erased elsewhere before they came here: digest -> their author's order
    erased: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class AppendResult:
    indexes: list[int]  # log index of each input record (the earlier one for a duplicate)
    ids: list[str]
    duplicates: int
    tree_head: SignedTreeHead


def default_origin(public_key: bytes) -> str:
    return "passport.local/log/" + hashlib.sha256(public_key).hexdigest()[:16]


class Ledger(Blobs):
    """The node's log over one database.  Without ``log_key`` it can read and prove, not append."""

    def __init__(self, engine: sa.Engine, *, log_key: nacl.signing.SigningKey | None = None,
                 origin: str | None = None, verifier: Verifier | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.engine = engine
        self._log_key = log_key
        self._verifier = verifier or Verifier()
        self._clock = clock
        self._proof_nodes = tiles.ProofNodes()
        self.origin, self.public_key = self._init_log(origin)

    @classmethod
    def open(cls, url: str, *, log_key: nacl.signing.SigningKey | None = None,
             origin: str | None = None, create: bool = True,
             verify_workers: int | None = None, mapped: bool = True) -> Ledger:
        """``mapped=False`` for a node serving reads (``db.open_engine``)."""
        engine = open_engine(url, create=create, mapped=mapped)
        return cls(engine, log_key=log_key, origin=origin, verifier=Verifier(verify_workers))

    def close(self) -> None:
        self._verifier.close()
        self.engine.dispose()

    def pool_capacity(self) -> int | None:
        """How many connections the engine's pool lends at once (None: no fixed bound)."""
        pool = self.engine.pool
        if isinstance(pool, sa.pool.QueuePool):
            return pool.size() + max(pool._max_overflow, 0)
        return None

    def _write(self) -> sa.Connection:
        return self.engine.connect().execution_options(passport_write=True)

    def _init_log(self, origin: str | None) -> tuple[str, bytes]:
        with self._write() as conn, conn.begin():
            row = conn.execute(sa.select(t.log_state)).one_or_none()
            if row is not None:
                stored = bytes(row.public_key)
                if self._log_key is not None and bytes(self._log_key.verify_key) != stored:
                    raise StoreError(f"this database holds log {row.origin}, signed by another "
                                     "key than the one given")
                if origin is not None and origin != row.origin:
                    raise StoreError(f"this database holds log {row.origin}, not {origin}")
                if self._log_key is not None:
                    ev.sign_head_if_missing(conn, self.sign_statement)
                return str(row.origin), stored
            if self._log_key is None:
                raise StoreError("the database holds no log yet; open it with a log key")
            public = bytes(self._log_key.verify_key)
            origin = origin or default_origin(public)
            conn.execute(t.log_state.insert().values(id=1, origin=origin, public_key=public,
                                                     size=0))
            self._sign_head(conn, origin, 0, merkle.EMPTY_ROOT)
            ev.sign_head_if_missing(conn, self.sign_statement)
            return origin, public

    def _sign_head(self, conn: sa.Connection, origin: str, size: int,
                   root: bytes) -> SignedTreeHead:
        assert self._log_key is not None
        head = TreeHead(origin=origin, size=size, root=root, timestamp_ms=self._clock())
        note = sign_tree_head(head, self._log_key)
        conn.execute(t.tree_heads.insert().values(size=size, root=root,
                                                  timestamp_ms=head.timestamp_ms, note=note))
        return SignedTreeHead(head, note)

    # --- appends ---------------------------------------------------------------------------

    def append(self, raw: bytes, blobs: Mapping[str, bytes] | None = None) -> AppendResult:
        return self.append_batch([raw], blobs)

    def append_batch(self, raws: Sequence[bytes],
                     blobs: Mapping[str, bytes] | None = None, *,
                     erased: Mapping[str, bytes] | None = None) -> AppendResult:
        """Check and store ``raws`` (with the blobs their records name) as one transaction.

        Raises a ``LedgerError`` naming the record and the problem; then nothing is stored,
        except the evidence of an equivocation, which is kept on purpose.  ``erased`` maps the
        names of values erased elsewhere (a peer, the member's old node) to their authors'
        orders, checked by the caller (``passport_api.erasure.accepted``): they are stored
        erased, with the order.
        """
        return self.append_prepared(self.prepare(raws, blobs, erased=erased))

    def prepare(self, raws: Sequence[bytes], blobs: Mapping[str, bytes] | None = None, *,
                erased: Mapping[str, bytes] | None = None) -> PreparedBatch:
        """Start the stateless checks (parsing, signatures) on the verify workers.

        A caller streaming many batches prepares the next one before appending the current
        one, so the workers check while this process writes.  Batches are appended in the
        order ``append_prepared`` is called.
        """
        if self._log_key is None:
            raise StoreError("this ledger was opened read-only (no log key)")
        ap.check_size(raws)
        blob_map = ap.check_blobs(blobs or {})
        now = self._clock()
        gone = {digest_of(name): order for name, order in (erased or {}).items()}
        return PreparedBatch(blob_map, now, self._verifier.submit(raws, now), gone)

    def append_prepared(self, prepared: PreparedBatch) -> AppendResult:
        """Append a prepared batch: chain checks and writes, under the write lock."""
        # The stateless checks ran before the write lock is taken, so other appenders kept
        # writing meanwhile.
        outcomes = prepared.pending.result()
        blob_map, now = prepared.blobs, prepared.now
        batch = ap.Batch(size=0)
        try:
            with self._write() as conn, conn.begin():
                batch.size = size = ap.lock_log(conn)
                ap.check_batch(conn, outcomes, batch)
                gone = ap.write_blobs(conn, batch, blob_map, now, frozenset(prepared.erased))
                for digest, author in gone:
                    self._keep_order(conn, digest, author, prepared.erased[digest], now)
                frontier = ap.write_records(conn, batch)
                if batch.records:
                    sth = self._sign_head(conn, self.origin, size + len(batch.records),
                                          merkle.root_from_frontier(frontier))
                else:
                    sth = self._latest(conn)
        except EquivocationError:
            with self._write() as conn, conn.begin():
                ap.keep_evidence(conn, batch.evidence, now, self.sign_statement)
            raise
        except sa.exc.IntegrityError as e:
            raise StoreError("another writer stored a conflicting record at the same time; "
                             "retry the batch") from e
        except sa.exc.OperationalError as e:
            raise StoreError(f"the database refused the write: {_first_line(e)}") from e
        return AppendResult(indexes=batch.positions,
                            ids=[o.record.id for o in outcomes if isinstance(o, Checked)],
                            duplicates=batch.duplicates, tree_head=sth)

    # --- tree heads and proofs ---------------------------------------------------------------

    def _latest(self, conn: sa.Connection) -> SignedTreeHead:
        row = conn.execute(sa.select(t.tree_heads).order_by(t.tree_heads.c.size.desc())
                           .limit(1)).one()
        return self._parse_head(bytes(row.note))

    def _parse_head(self, note: bytes) -> SignedTreeHead:
        head = parse_checkpoint(note, nacl.signing.VerifyKey(self.public_key), self.origin)
        return SignedTreeHead(head, note)

    def latest_tree_head(self) -> SignedTreeHead:
        with self.engine.connect() as conn:
            return self._latest(conn)

    def tree_head(self, size: int) -> SignedTreeHead:
        with self.engine.connect() as conn:
            note = conn.execute(sa.select(t.tree_heads.c.note)
                                .where(t.tree_heads.c.size == size)).scalar_one_or_none()
        if note is None:
            raise NotFoundError(f"no signed tree head at size {size}")
        return self._parse_head(bytes(note))

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(t.log_state.c.size)).scalar_one())

    def _proof(self, groups: list[list[merkle.NodeId]]) -> list[bytes]:
        with self.engine.connect() as conn:
            found = tiles.fetch_nodes(conn, merkle.needed_nodes(groups))
        return merkle.assemble(groups, found)

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """One connection for several reads (a scoped read's): one checkout instead of one per
        query.  On PostgreSQL it runs in autocommit: under READ COMMITTED each statement sees
        its own snapshot inside a transaction too, so the only change is two round trips
        saved (the BEGIN sent before the first query, the ROLLBACK at check-in).  On SQLite
        the transaction is kept: there it gives the read one snapshot."""
        return _read_connection(self.engine)

    def inclusion_proofs(self, indexes: Sequence[int], size: int,
                         conn: sa.Connection | None = None,
                         read: tiles.RowReader | None = None) -> list[list[bytes]]:
        """Inclusion proofs of several leaves in the tree of ``size`` (a size some signed head
        holds, so within the log), from the worker's kept rows and nodes
        (``tiles.ProofNodes``); misses in one query, with ``read`` if given (the scoped
        read's driver cursor), else on ``conn`` or a connection of our own."""
        groups = [merkle.inclusion_proof_nodes(i, size) for i in indexes]

        def on_connection(keys: set[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
            with _using(self.engine, conn) as c:
                return tiles.read_rows(c, keys)

        found = self._proof_nodes.get(merkle.needed_nodes(g for gs in groups for g in gs),
                                      read or on_connection)
        return [merkle.assemble(gs, found) for gs in groups]

    def view_state_key(self) -> bytes | None:
        """The key that seals consent views kept in the database (``view_states``), derived
        from the log key; None without it (a ledger that cannot sign cannot seal)."""
        return None if self._log_key is None else view_states.mac_key(bytes(self._log_key))

    def forget_stored_views(self) -> int:
        """Delete every stored consent view (a cache: reads fold the chains again and store
        them anew); the rows deleted."""
        with self.engine.begin() as conn:
            return int(conn.execute(t.consent_views.delete()).rowcount)

    def warm_proofs(self) -> int:
        """Load the tree's rows that proofs read into this worker's memory, within its budget
        (``tiles.ProofNodes.warm``); the rows now kept."""
        with _read_connection(self.engine) as conn:
            size = int(conn.execute(sa.select(t.log_state.c.size)).scalar_one())
            return self._proof_nodes.warm(conn, size)

    def read_marks(self, author: str, conn: sa.Connection | None = None) -> tuple[int, int]:
        """(log size, ``author``'s chain seq, 0 if none) in one query: what tells a worker's
        caches (signed head, consent views) that they are stale.  Any append grows the log;
        any record by ``author`` moves their seq, in the same transaction."""
        with _using(self.engine, conn) as c:
            size, found = c.execute(_READ_MARKS, {"author": author}).one()
        return int(size), int(found or 0)

    def blobs(self, names: Sequence[str], conn: sa.Connection | None = None) -> list[bytes]:
        """``blob`` of each name, over one connection (a scoped read's values)."""
        if not names:
            return []
        digests = [digest_of(name) for name in names]
        with _using(self.engine, conn) as c:  # one query for all of them
            found = {bytes(row.digest): row.data
                     for row in c.execute(_BLOBS, {"digests": sorted(set(digests))})}
        return in_order(names, digests, found)

    def _check_size(self, size: int) -> None:
        current = self.size()
        if not 0 <= size <= current:
            raise RangeError(f"tree size {size} is outside the log (0 to {current})")

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return self._proof(merkle.inclusion_proof_nodes(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        return self._proof(merkle.consistency_proof_nodes(old_size, new_size))

    def root(self, size: int) -> bytes:
        self._check_size(size)
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.fold(self._proof([merkle.root_nodes(size)]))

    # --- records -----------------------------------------------------------------------------

    def record(self, record_id_: str) -> StoredRecord:
        if not is_digest_name(record_id_):
            raise NotFoundError(f"{record_id_[:80]!r} is not a record id (sha256:<64 hex>)")
        digest = parse_digest_name(record_id_)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.records.c.idx, t.records.c.raw)
                               .where(t.records.c.rid == digest)).one_or_none()
        if row is None:
            raise NotFoundError(f"no record {record_id_}")
        return StoredRecord(int(row.idx), bytes(row.raw))

    def record_at(self, index: int) -> StoredRecord:
        rows = self.records_range(index, index + 1)
        if not rows:
            raise NotFoundError(f"no record at index {index}")
        return rows[0]

    def records_range(self, start: int, end: int) -> list[StoredRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.records.c.idx, t.records.c.raw)
                                .where(t.records.c.idx >= start, t.records.c.idx < end)
                                .order_by(t.records.c.idx))
            return [StoredRecord(int(i), bytes(r)) for i, r in rows]

    def chain(self, author: str, *, after_seq: int = 0, limit: int = 100) -> list[StoredRecord]:
        """A page of ``author``'s chain, each row checked against its bytes (author, seq) and
        the page checked for gaps, so a moved or relabelled row is never served as the chain."""
        c = t.records.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.idx, c.seq, c.raw)
                                .where(c.author == author, c.seq > after_seq)
                                .order_by(c.seq).limit(limit)).all()
            last = None
            if len(rows) < limit:
                last = conn.execute(sa.select(t.chains.c.seq)
                                    .where(t.chains.c.author == author)).scalar_one_or_none()
        for row in rows:
            column = derived.disagrees(author, int(row.seq), bytes(row.raw))
            if column is not None:
                raise derived.corrupt(author, int(row.seq), column)
        derived.check_contiguous(author, after_seq, [int(r.seq) for r in rows],
                                 None if last is None else int(last))
        return [StoredRecord(int(r.idx), bytes(r.raw)) for r in rows]

    def records_of(self, author: str, types: Iterable[str],
                   conn: sa.Connection | None = None) -> list[StoredRecord]:
        """The author's records of ``types``, in seq order (the consent view of a passport),
        their index columns checked against their bytes (``chains_read.read_types``)."""
        with _using(self.engine, conn) as used:
            return chains_read.read_types(used, author, frozenset(types)).records

    def sign_statement(self, domain: bytes, payload: bytes) -> bytes:
        """The node's signature over a domain-tagged statement (access receipts).

        The tag ends in NUL, which no checkpoint text can contain, so such a signature can
        never pass for a signed tree head.
        """
        if self._log_key is None or not domain.endswith(b"\0"):
            raise StoreError("statements need the log key and a NUL-terminated domain tag")
        return keys.sign(self._log_key, domain, payload)

    def chain_state(self, author: str, conn: sa.Connection | None = None) -> ChainState | None:
        with _using(self.engine, conn) as c:
            row = c.execute(_CHAIN_STATE, {"author": author}).one_or_none()
        if row is None:
            return None
        return derived.restore_state(author, int(row.seq), bytes(row.head), row.key_history)

    def keys_in_force(self, author: str, conn: sa.Connection | None = None) -> list[bytes]:
        """The keys that may sign for ``author`` now: the did's own key until its chain says
        otherwise (rotation, devices).  ``KeyFormatError`` if ``author`` is not a did:key.
        Read from the database every call (never cached): a removed key is refused at once."""
        state = self.chain_state(author, conn)
        if state is None:
            return [keys.public_key_from_did(author)]
        return state.keys_at(state.seq + 1)

    def equivocations(self, author: str | None = None) -> list[tuple[str, StoredRecord, bytes]]:
        """(author, the stored record, the rival's raw bytes) for every equivocation seen."""
        q = sa.select(t.equivocations).order_by(t.equivocations.c.id)
        if author is not None:
            q = q.where(t.equivocations.c.author == author)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [(row.author, self.record(digest_name(bytes(row.existing_rid))),
                 bytes(row.conflicting_raw)) for row in rows]

    def attestations_about(self, subject: str, *, after_index: int = -1,
                           limit: int = 100) -> list[StoredRecord]:
        """Up to ``limit`` ``attest`` records about ``subject`` in log order after
        ``after_index`` (a scan: ``ledger.store.attest_scan``)."""
        return attest_scan.attestations_about(self.engine, subject, after_index=after_index,
                                              limit=limit)


# Built once: the read path executes them with parameters, skipping statement construction.
_READ_MARKS = sa.select(t.log_state.c.size,
                        sa.select(t.chains.c.seq)
                        .where(t.chains.c.author == sa.bindparam("author")).scalar_subquery())
_CHAIN_STATE = sa.select(t.chains.c.seq, t.chains.c.head, t.chains.c.key_history).where(
    t.chains.c.author == sa.bindparam("author"))
_BLOBS = sa.select(t.blobs.c.digest, t.blobs.c.data).where(
    t.blobs.c.digest.in_(sa.bindparam("digests", expanding=True)))


def _read_connection(engine: sa.Engine) -> sa.Connection:
    """A connection for reads only (see ``Ledger.reading``): autocommit on PostgreSQL."""
    conn = engine.connect()
    if engine.dialect.name != "sqlite":
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


@contextmanager
def _using(engine: sa.Engine, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    """``conn`` if the caller holds one, else a connection of our own for this block."""
    if conn is not None:
        yield conn
        return
    with _read_connection(engine) as own:
        yield own


def _first_line(e: BaseException) -> str:
    return str(getattr(e, "orig", e)).strip().splitlines()[0]
