"""The full audit: re-check every stored byte against what was signed.

Recomputes, from the raw records alone, every record id, signature, chain link, Merkle node and
tree-head root, and every blob hash, and compares them with what the database claims.  It names
each problem (which record or index, which check) and carries on, up to a limit, so one audit
shows the extent of the damage.  Nothing here writes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import nacl.signing
import sqlalchemy as sa

from ledger import merkle, tiles
from ledger.chain import KEY_TYPES, ChainState, advance
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import DIGEST_PREFIX, digest_name
from ledger.errors import LedgerError, RecordError, StoreError
from ledger.parallel import Checked, Outcome, Verifier
from ledger.records import Record, named_digest
from ledger.store import derived
from ledger.store import schema as t
from ledger.store import tiles as stored_tiles
from ledger.store.audit_columns import bad_storage
from ledger.store.audit_evidence import EvidenceAudit

PAGE_ROWS = 4096
MAX_PROBLEMS = 100

Progress = Callable[[int, int], None]
_NEW: tuple[int, str | None] = (0, None)  # a chain not seen yet
Head = tuple[int, bytes, bytes, int]  # size, root, note, timestamp_ms


@dataclass(frozen=True)
class Problem:
    check: str  # record-id, record, signature, chain, missing-record, merkle, tree-head, blob...
    message: str
    index: int | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        where = "" if self.index is None else f"index {self.index}: "
        return f"[{self.check}] {where}{self.message}"


@dataclass
class AuditReport:
    origin: str = ""
    size: int = 0
    records: int = 0
    tree_heads: int = 0
    blobs: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.truncated = True


class _Audit:
    def __init__(self, conn: sa.Connection, verifier: Verifier,
                 pinned_key: bytes | None, progress: Progress | None) -> None:
        self.conn = conn
        self.verifier = verifier
        self.progress = progress
        self.report = AuditReport()
        # Chains that only ever had their genesis key are kept as (seq, head): plain tuples
        # the garbage collector stops tracking, which on a million records saves a quarter
        # of the audit's time.  The rest stay ChainStates.
        self.heads: dict[str, tuple[int, str | None]] = {}
        self.states: dict[str, ChainState] = {}
        self.named_blobs: dict[bytes, str] = {}
        self.blob_authors: dict[bytes, str] = {}
        self.erased: dict[bytes, int] = {}  # erased blob -> erased_ms
        # nonce hash -> id (digest) of the check-in answering it: bytes, not the Record (a
        # million-record log holds ~180k check-ins; Records are objects the collector walks)
        self.checkins: dict[bytes, bytes] = {}
        self.pinned_key = pinned_key

    def run(self) -> AuditReport:
        r = self.report
        row = self.conn.execute(sa.select(t.log_state)).one_or_none()
        if row is None:
            r.add(Problem("log", "the database holds no log (log_state is empty)"))
            return r
        if bad_storage(self.conn, self.problem, MAX_PROBLEMS):
            return r  # values of the wrong type or size: named; the checks below need the rest
        r.origin, r.size, key = str(row.origin), int(row.size), bytes(row.public_key)
        if self.pinned_key is not None and not hmac.compare_digest(self.pinned_key, key):
            r.add(Problem("log-key", "the log's public key in the database is not the key you "
                                     "pinned; every tree head is checked against the pinned key"))
            key = self.pinned_key
        self.verify_key = nacl.signing.VerifyKey(key)
        self._scan_records()
        if int(row.id) != 1:
            r.add(Problem("log", f"log_state's row is {row.id}, not 1 (appends lock row 1)"))
        self._check_chains()
        self._check_blobs()
        EvidenceAudit(self).run()
        return r

    def problem(self, check: str, message: str, index: int | None = None,
                record_id: str | None = None) -> None:
        self.report.add(Problem(check, message, index, record_id))

    # records, Merkle nodes and tree heads, in one pass in log order
    def _scan_records(self) -> None:
        r = self.report
        heads = self._heads()
        next_head = next(heads, None)
        if next_head is not None and next_head[0] == 0:
            self._check_head(next_head, merkle.EMPTY_ROOT)
            next_head = next(heads, None)
        frontier: list[bytes] = []
        size = 0
        pages = self._pages()
        rows = next(pages, [])
        pending = self.verifier.submit([bytes(row.raw) for row in rows], None)
        while rows:
            # The next page is read and checked by the workers while this one is walked.
            next_rows = next(pages, [])
            next_pending = self.verifier.submit([bytes(row.raw) for row in next_rows], None)
            leaves: list[bytes] = []
            for row, outcome in zip(rows, pending.result(), strict=True):
                index = size + len(leaves)
                if int(row.idx) != index:
                    r.add(Problem("missing-record", f"records {index} to {int(row.idx) - 1} "
                                  "are missing", index=index))
                    return
                raw = bytes(row.raw)
                self._check_record(index, row, raw, outcome)
                leaves.append(outcome.leaf if isinstance(outcome, Checked)
                              else merkle.leaf_hash(raw))
            frontier, next_head = self._check_nodes(frontier, size, leaves, heads, next_head)
            size += len(leaves)
            r.records = size
            if self.progress:
                self.progress(size, r.size)
            rows, pending = next_rows, next_pending
        if size != r.size:
            r.add(Problem("count", f"log_state says {r.size} records; {size} are stored"))
        while next_head is not None:
            r.add(Problem("tree-head", f"a signed tree head claims size {next_head[0]}, beyond "
                          f"the {size} records stored"))
            next_head = next(heads, None)

    def _pages(self) -> Iterator[Sequence[Any]]:
        after = -1
        while True:
            rows = self.conn.execute(
                sa.select(t.records.c.idx, t.records.c.rid, t.records.c.author, t.records.c.seq,
                          t.records.c.type, t.records.c.ts_ms, t.records.c.raw)
                .where(t.records.c.idx > after).order_by(t.records.c.idx).limit(PAGE_ROWS)).all()
            if not rows:
                return
            yield rows
            after = int(rows[-1].idx)

    def _heads(self) -> Iterator[Head]:
        last = -1
        while True:
            rows = self.conn.execute(
                sa.select(t.tree_heads.c.size, t.tree_heads.c.root, t.tree_heads.c.note,
                          t.tree_heads.c.timestamp_ms)
                .where(t.tree_heads.c.size > last).order_by(t.tree_heads.c.size)
                .limit(PAGE_ROWS)).all()
            if not rows:
                return
            for size, root, note, ts in rows:
                yield int(size), bytes(root), bytes(note), int(ts)
            last = int(rows[-1].size)

    def _check_record(self, index: int, row: Any, raw: bytes, outcome: Outcome) -> None:
        r = self.report
        rid = bytes(row.rid)
        digest = (outcome.record.digest if isinstance(outcome, Checked)
                  else hashlib.sha256(raw).digest())
        rec_id = digest_name(digest)
        if digest != rid:
            r.add(Problem("record-id", f"stored bytes hash to {rec_id}, but the row says "
                          f"sha256:{rid.hex()} (the record was changed)", index, rec_id))
        if isinstance(outcome, RecordError):
            r.add(Problem("record", f"the stored record is not valid: {outcome}", index, rec_id))
            return
        assert isinstance(outcome, Checked)
        rec = outcome.record
        # The index columns the node selects by must say what the signed bytes say.
        if (row.author, row.seq, row.type, row.ts_ms) != (rec.author, rec.seq, rec.type,
                                                          rec.ts_ms):
            for column, signed in (("author", rec.author), ("seq", rec.seq),
                                   ("type", rec.type), ("ts_ms", rec.ts_ms)):
                stored = getattr(row, column)
                if stored != signed:
                    r.add(Problem("index-column", f"column {column} says {stored!r}, the "
                                  f"signed record says {signed!r}", index, rec.id))
        if rec.type == "passport.set":
            blob = named_digest(rec)
            self.named_blobs[blob] = rec.id
            self.blob_authors[blob] = rec.author
        elif rec.type == "checkin":
            self.checkins[named_digest(rec)] = rec.digest
        plain = self.heads.get(rec.author, _NEW) if rec.author not in self.states else None
        if (plain is not None and outcome.signer is not None and rec.seq == plain[0] + 1
                and rec.prev == plain[1] and rec.type not in KEY_TYPES):
            # What ``advance`` decides for a chain still on its genesis key, signed by it
            # (a worker's signer is the author's did key), without building states.
            self.heads[rec.author] = (rec.seq, rec.id)
            return
        state = self._state(rec.author, outcome.signer)
        try:
            self._keep(advance(state, rec, outcome.signer))
        except LedgerError as e:
            check = "signature" if e.code == "bad-signature" else "chain"
            r.add(Problem(check, str(e), index, rec.id))
            self._keep(_skip(state, rec))

    def _state(self, author: str, key: bytes | None = None) -> ChainState:
        """``key``: the author's did key as a verify worker decoded it, if it did."""
        state = self.states.get(author)
        if state is not None:
            return state
        seq, head = self.heads.get(author, (0, None))
        return ChainState.restore(author, seq, head, None, key)

    def _keep(self, state: ChainState) -> None:
        if state.keys_json() is None and state.author not in self.states:
            self.heads[state.author] = (state.seq, state.head)
        else:
            self.heads.pop(state.author, None)
            self.states[state.author] = state

    def _check_nodes(self, frontier: list[bytes], size: int, leaves: list[bytes],
                     heads: Iterator[Head],
                     next_head: Head | None,
                     ) -> tuple[list[bytes], Head | None]:
        stored = stored_tiles.read_rows(self.conn, tiles.keys_between(size, size + len(leaves)))
        for level, index, length, want in tiles.misfit_rows(stored, size, size + len(leaves),
                                                            self.report.size):
            self.report.add(Problem("merkle", f"stored tile {index} at level {level} is {length} "
                                    f"bytes; the log's size gives it {want}",
                                    index=index << (tiles.TILE_HEIGHT * (level + 1))))
        # Walk in segments that end where tree heads were signed, so each head's root is known.
        cur, end = size, size + len(leaves)
        while cur < end:
            stop = end if next_head is None or next_head[0] > end else next_head[0]
            frontier, nodes = merkle.append_leaves(frontier, cur, leaves[cur - size:stop - size])
            for level, index, h in nodes:
                tile_level, tile_index, r, position = tiles.in_row((level, index))
                got = tiles.node_in_row(stored.get((tile_level, tile_index), b""), r, position)
                if got is None or not hmac.compare_digest(got, h):
                    what = "leaf hash" if level == 0 else f"node ({level}, {index})"
                    self.report.add(Problem("merkle", f"stored {what} does not match the "
                                            "records (swapped, changed or deleted)",
                                            index=((index + 1) << level) - 1))
            cur = stop
            while next_head is not None and next_head[0] <= cur:
                if next_head[0] == cur:
                    self._check_head(next_head, merkle.root_from_frontier(frontier))
                next_head = next(heads, None)
        return frontier, next_head

    def _check_head(self, head: Head, root: bytes) -> None:
        size, stored_root, note, stored_ts = head
        self.report.tree_heads += 1
        try:
            parsed = parse_checkpoint(note, self.verify_key, self.report.origin)
        except LedgerError as e:
            self.report.add(Problem("tree-head", f"tree head at size {size}: {e}"))
            return
        if (parsed.size != size or not hmac.compare_digest(parsed.root, stored_root)
                or parsed.timestamp_ms != stored_ts):
            self.report.add(Problem("tree-head", f"tree head row at size {size} does not match "
                                    "its signed note"))
        if not hmac.compare_digest(parsed.root, root):
            self.report.add(Problem("tree-head", f"signed root at size {size} is "
                                    f"{parsed.root.hex()}, the records give {root.hex()}"))

    def _check_chains(self) -> None:
        c = t.chains.c
        stored: dict[str, ChainState] = {}
        self.report.chains = len(self.states) + len(self.heads)
        plain = dict(self.heads)
        for author, seq, head, keys_json in self.conn.execute(
                sa.select(c.author, c.seq, c.head, c.key_history)):
            ours = plain.pop(author, None)
            if (ours is not None and keys_json is None and ours[0] == seq and ours[1] is not None
                    and bytes(head).hex() == ours[1][len(DIGEST_PREFIX):]):
                continue  # a never-rotated chain, stored as its records say: nothing to build
            if ours is not None:
                plain[author] = ours  # compared in full below
            try:
                stored[author] = derived.restore_state(author, int(seq), bytes(head), keys_json)
            except StoreError:
                stored[author] = None  # type: ignore[assignment]
                self.report.add(Problem("chain-state", f"stored key history of {author} is "
                                        "not valid JSON of key epochs"))
        for author in [*plain, *self.states]:
            state = self._state(author)
            if author in stored and stored[author] is None:
                stored.pop(author)
                continue
            got = stored.pop(author, None)
            if got != state:
                self.report.add(Problem("chain-state", f"stored head of {author} does not match "
                                        f"its records (seq {state.seq}, {state.head}, "
                                        f"{len(state.epochs)} key epoch(s))"))
        for author in stored:
            self.report.add(Problem("chain-state", f"chain of {author} has a stored head but no "
                                    "records"))

    def _check_blobs(self) -> None:
        seen: set[bytes] = set()
        last = b""
        while True:
            rows = self.conn.execute(
                sa.select(t.blobs.c.digest, t.blobs.c.author, t.blobs.c.size, t.blobs.c.data,
                          t.blobs.c.erased_ms)
                .where(t.blobs.c.digest > last).order_by(t.blobs.c.digest)
                .limit(PAGE_ROWS)).all()
            if not rows:
                break
            for digest_, author, size, data, erased_ms in rows:
                digest = bytes(digest_)
                seen.add(digest)
                self.report.blobs += 1
                name = f"blob sha256:{digest.hex()}"
                rec_id = self.named_blobs.get(digest)
                if data is not None and (hashlib.sha256(data).digest() != digest
                                         or len(data) != size):
                    self.report.add(Problem("blob", f"{name}: its bytes do not hash to its "
                                            "name", record_id=rec_id))
                if rec_id is not None and author != self.blob_authors[digest]:
                    self.report.add(Problem("blob", f"{name}: column author says {author!r}, "
                                            f"the record naming it is by "
                                            f"{self.blob_authors[digest]}", record_id=rec_id))
                if rec_id is None:
                    self.report.add(Problem("blob", f"{name} is named by no record"))
                if (data is None) != (erased_ms is not None):
                    self.report.add(Problem("erasure", f"{name}: its bytes are "
                                            f"{'gone' if data is None else 'here'} but "
                                            f"erased_ms is {erased_ms!r}", record_id=rec_id))
                elif data is None:
                    self.erased[digest] = int(erased_ms)
            last = bytes(rows[-1].digest)
        for digest, rec_id in self.named_blobs.items():
            if digest not in seen:
                self.report.add(Problem("blob", f"blob sha256:{digest.hex()} named by {rec_id} "
                                        "is missing (not even marked erased)", record_id=rec_id))


def _skip(state: ChainState, rec: Record) -> ChainState:
    """Carry on past a bad record so one fault is reported once, not for every later seq."""
    return replace(state, seq=max(state.seq, rec.seq), head=rec.id)


def audit(engine: sa.Engine, *, verifier: Verifier | None = None,
          public_key: bytes | None = None, progress: Progress | None = None) -> AuditReport:
    """Audit the ledger in ``engine``; ``public_key`` pins the log key tree heads must carry."""
    with engine.connect() as conn, conn.begin():
        return audit_connection(conn, verifier=verifier, public_key=public_key,
                                progress=progress)


def audit_connection(conn: sa.Connection, *, verifier: Verifier | None = None,
                     public_key: bytes | None = None, progress: Progress | None = None
                     ) -> AuditReport:
    """The audit on an open connection (and so inside its transaction: the tamper tests edit
    and audit in one transaction, then roll it back)."""
    own = verifier is None
    verifier = verifier or Verifier()
    try:
        return _Audit(conn, verifier, public_key, progress).run()
    finally:
        if own:
            verifier.close()
