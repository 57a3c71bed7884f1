"""The scoped read's statements, run on the database driver's own cursor.

Every scoped read runs the same few statements (the read marks with the signer's keys, the
values) and every group of reads one write (nonces, receipts, evidence).  Through SQLAlchemy
Core each statement cost three to four times its own execution (the compiled-statement cache
lookup, parameter processing, result objects, events), which made them a large share of a
read's CPU.  Here the SQL text is written once per dialect and row count, and run on the
pooled connection's driver cursor, inside a connection and transaction that SQLAlchemy still
manages: the pool's check for dropped connections (``db``), SQLite's PRAGMAs and
``BEGIN``/``BEGIN IMMEDIATE``, PostgreSQL's autocommit for reads, the commit or rollback at the
end.  A driver error comes out as SQLAlchemy's ``DBAPIError`` like any other statement's (the
HTTP layer answers ``store-error``), and a connection the driver reports lost is dropped from
the pool.

Lost connections.  The pool no longer pings at checkout (a round trip of a read's three on
PostgreSQL); it drops connections the server has visibly closed.  One lost in between (the
server went away after the checkout, or without a word) fails its statement.  A read's
statement is then run again, once, on a fresh connection: on PostgreSQL a read runs in
autocommit, so each statement is its own snapshot and writes nothing, and running it again
is as if it had run a moment later.  A write transaction's statements are never run again:
the transaction is gone with its connection, and a failed ``COMMIT`` leaves its outcome
unknown.  Re-running a group commit whose first commit did land would find its nonces spent
and answer every read of the group as a replay, though their receipts are stored: the
nonces make a blind retry safe from double receipts, not right.  So a lost write is a
``store-error`` and the client, which saw no answer, asks again with a new nonce.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ledger import keys
from ledger.encoding import digest_name
from ledger.store import chains_read, derived
from ledger.store import evidence as ev
from ledger.store import schema as t
from ledger.store.db import writing
from ledger.store.view_states import ViewState

ROWS_PER_STATEMENT = 200  # multi-row VALUES: far under SQLite's 32,766 variables
# One indexed query: the log size, the member's chain seq (what tells a worker's caches they
# are stale) and the signer's chain row (its keys in force).
_MARKS = ("SELECT l.size, (SELECT seq FROM chains WHERE author = ?), c.seq, c.head, "
          "c.key_history FROM log_state l LEFT JOIN chains c ON c.author = ?")
# The cold read's marks: as ``_MARKS``, with the member's chain head and stored consent view.
_MARKS_VIEW = ("SELECT l.size, m.seq, m.head, c.seq, c.head, c.key_history, v.seq, v.head, "
               "v.records, v.mac FROM log_state l LEFT JOIN chains m ON m.author = ? "
               "LEFT JOIN consent_views v ON v.author = ? LEFT JOIN chains c ON c.author = ?")
# A stored view replaced only by one read at a later seq (two workers may fold one member).
_SAVE_VIEW_TAIL = (" ON CONFLICT (author) DO UPDATE SET seq = excluded.seq, head = excluded.head, "
                   "records = excluded.records, mac = excluded.mac "
                   "WHERE consent_views.seq < excluded.seq")
_RECEIPT_INTO = "INSERT INTO receipts (member, service, served_ms, receipt, node_sig)"
_RECEIPT_ORDERED = ("INSERT INTO receipts (member, service, served_ms, receipt, node_sig) "
                    "SELECT p0, p1, p2, p3, p4 FROM (")  # PostgreSQL: in the given order
_LOCK_HEAD = "SELECT n, link FROM evidence_head WHERE id = 1"
_AUTOCOMMIT = "AUTOCOMMIT"
_SET_HEAD = "UPDATE evidence_head SET n = ?, link = ?, sig = ? WHERE id = 1"
# An expired nonce found again is taken over (as if purged).  RETURNING, not rowcount.
_TAKE_OVER = ("UPDATE request_nonces SET expires_ms = ? WHERE keyid = ? AND nonce = ? "
              "AND expires_ms < ? RETURNING keyid")


class Cursor:
    """A read's or a write's driver cursor, replaced if a read finds its connection lost."""

    __slots__ = ("driver", "retry")

    def __init__(self, driver: Any, retry: bool) -> None:
        self.driver = driver
        self.retry = retry


class HotPath:
    """The read path's SQL for one engine (its dialect's parameter style)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._p = "?" if self.sqlite else "%s"
        self._marks = self._q(_MARKS)
        self._marks_view = self._q(_MARKS_VIEW)
        self._lock_head = _LOCK_HEAD if self.sqlite else _LOCK_HEAD + " FOR UPDATE"
        self._set_head = self._q(_SET_HEAD)
        self._take_over = self._q(_TAKE_OVER)

    def _q(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this driver's parameter style."""
        return sql if self.sqlite else sql.replace("?", "%s")

    # --- connections ------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[tuple[sa.Connection, Cursor]]:
        """A read connection and a driver cursor on it: on SQLite inside one transaction (one
        snapshot for every statement), on PostgreSQL in autocommit (see ``Ledger.reading``),
        where a statement that finds the connection lost is run again on a fresh one."""
        conn = self.engine.connect()
        if not self.sqlite:
            conn = conn.execution_options(isolation_level=_AUTOCOMMIT)
        with conn:
            if self.sqlite:
                conn.begin()  # BEGIN now: the driver cursor's statements are SQLAlchemy's unseen
            with self._cursor(conn, retry=not self.sqlite) as cur:
                yield conn, cur

    @contextmanager
    def writing(self) -> Iterator[tuple[sa.Connection, Cursor]]:
        """A write transaction (``db.writing``: the write lock at BEGIN on SQLite) and a driver
        cursor on it; never retried (see the module's docstring)."""
        with writing(self.engine) as conn, self._cursor(conn, retry=False) as cur:
            yield conn, cur

    @contextmanager
    def _cursor(self, conn: sa.Connection, *, retry: bool) -> Iterator[Cursor]:
        cur = Cursor(conn.connection.driver_connection.cursor(), retry)  # type: ignore[union-attr]
        try:
            yield cur
        finally:
            self._close(cur)

    def _close(self, cur: Cursor) -> None:
        with contextlib.suppress(self._error):  # a connection dropped as lost is closed
            cur.driver.close()

    def run(self, conn: sa.Connection, cur: Cursor, sql: str, params: Sequence[Any] = (), *,
            rows: bool = True) -> list[Any]:
        """The statement's rows; a driver error as SQLAlchemy's ``DBAPIError``.  ``rows=False``
        for a statement that answers none: nothing is waited for inside ``pipelined``."""
        try:
            return _execute(cur.driver, sql, params, rows)
        except self._error as e:
            lost = self.engine.dialect.is_disconnect(
                e, conn.connection.dbapi_connection, cur.driver)  # type: ignore[arg-type]
            if lost:
                again = cur.retry and not conn.in_transaction()  # asked before invalidate
                conn.invalidate(e)
                if again:
                    return self._again(conn, cur, sql, params)
            raise self._wrapped(e, sql, params, lost) from e

    def _wrapped(self, e: Exception, sql: str, params: Sequence[Any], lost: bool
                 ) -> sa.exc.DBAPIError:
        wrapped = sa.exc.DBAPIError.instance(sql, list(params), e, self._error,
                                             dialect=self.engine.dialect,
                                             connection_invalidated=lost)
        assert isinstance(wrapped, sa.exc.DBAPIError)  # a driver error: always one
        return wrapped

    @contextmanager
    def pipelined(self, conn: sa.Connection) -> Iterator[None]:
        """On PostgreSQL, statements sent without waiting for each one's answer (psycopg's
        pipeline mode): a statement whose rows are fetched waits only for those sent before
        it, all in one round trip, and the rest are sent together at the end.  On SQLite,
        nothing (its statements wait on no network)."""
        if self.sqlite:
            yield
            return
        driver = conn.connection.driver_connection
        try:
            with driver.pipeline():  # type: ignore[union-attr]
                yield
        except self._error as e:  # raised at the closing sync: the statements unnamed
            lost = self.engine.dialect.is_disconnect(
                e, conn.connection.dbapi_connection, None)  # type: ignore[arg-type]
            if lost:
                conn.invalidate(e)
            raise self._wrapped(e, "(pipelined statements)", (), lost) from e

    def _again(self, conn: sa.Connection, cur: Cursor, sql: str, params: Sequence[Any]
               ) -> list[Any]:
        """A read statement run once more, on the fresh connection the invalidated ``conn``
        checks out (autocommit set again: it is the new connection's setting); the cursor
        is swapped in place, so the read's later statements use it too."""
        cur.retry = False  # once per read: a second loss is an answer, not bad luck
        self._close(cur)
        conn.execution_options(isolation_level=_AUTOCOMMIT)
        cur.driver = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return self.run(conn, cur, sql, params)

    # --- reads ------------------------------------------------------------------------------

    def marks_and_keys(self, conn: sa.Connection, cur: Cursor, member: str, signer: str
                       ) -> tuple[int, int, list[bytes]]:
        """(log size, ``member``'s chain seq or 0, the keys that may sign for ``signer`` now),
        read every call: a removed or rotated-away key is refused on the very next read."""
        ((size, seq, signer_seq, head, history),) = self.run(conn, cur, self._marks,
                                                             (member, signer))
        return int(size), int(seq or 0), _in_force(signer, signer_seq, head, history)

    def marks_statement(self, member: str, signer: str, *, view: bool
                        ) -> tuple[str, tuple[str, ...]]:
        """The SQL and parameters of ``marks_and_keys`` (``view``: of ``marks_keys_and_view``),
        for a caller that runs them on a connection of its own (``passport_api.reads_async``);
        ``marks_row`` reads their one row."""
        if view:
            return self._marks_view, (member, member, signer)
        return self._marks, (member, signer)

    @staticmethod
    def marks_row(row: Sequence[Any], signer: str
                  ) -> tuple[int, int, list[bytes],
                             tuple[int, str, bytes, bytes, str | None] | None]:
        """The row of ``marks_statement(..., view=True)`` or ``(..., view=False)``, as
        ``marks_keys_and_view`` answers (the stored view None for the latter)."""
        if len(row) == 5:
            size, seq, signer_seq, head, history = row
            return int(size), int(seq or 0), _in_force(signer, signer_seq, head, history), None
        size, seq, chain_head, signer_seq, head, history, v_seq, v_head, v_records, v_mac = row
        found = None if v_seq is None else (
            int(v_seq), str(v_head), bytes(v_records), bytes(v_mac),
            None if chain_head is None else digest_name(bytes(chain_head)))
        return int(size), int(seq or 0), _in_force(signer, signer_seq, head, history), found

    def marks_keys_and_view(self, conn: sa.Connection, cur: Cursor, member: str, signer: str
                            ) -> tuple[int, int, list[bytes],
                                       tuple[int, str, bytes, bytes, str | None] | None]:
        """``marks_and_keys`` and ``member``'s stored consent view (``view_states``), if any:
        (seq, head, records, mac, the head of the member's chain row), unchecked."""
        (row,) = self.run(conn, cur, self._marks_view, (member, member, signer))
        return self.marks_row(row, signer)

    def marks_keys_and_chain(self, conn: sa.Connection, cur: Cursor, member: str, signer: str,
                             types: frozenset[str]) -> tuple[int, int, list[bytes], list[Any]]:
        """``marks_and_keys`` and ``chain`` in one statement (a read with no consent view of
        the member cached): the chain's rows come from the same snapshot as the seq."""
        sql = chains_read.whole_chain_sql(self.engine.dialect.name, types, marks=True)
        rows = self.run(conn, cur, sql, (member, signer))
        size, signer_seq, head, history = rows[0][:4]
        chain = [row[4:] for row in rows]
        return (int(size), int(chain[0][0] or 0), _in_force(signer, signer_seq, head, history),
                chain)

    def chain(self, conn: sa.Connection, cur: Cursor, author: str, types: frozenset[str]
              ) -> list[Any]:
        """``chains_read.whole_chain_sql``'s rows for ``author``: what a cold consent view
        is folded from (``chains_read.from_chain_rows`` checks them)."""
        sql = chains_read.whole_chain_sql(self.engine.dialect.name, types)
        return self.run(conn, cur, sql, (author,))

    def blobs(self, conn: sa.Connection, cur: Cursor, digests: Sequence[bytes]
              ) -> dict[bytes, bytes | None]:
        """digest -> data (None if erased) of those of ``digests`` stored, in one query."""
        sql, wanted = self.blobs_statement(digests)
        return self.blobs_found(self.run(conn, cur, sql, wanted))

    def blobs_statement(self, digests: Sequence[bytes]) -> tuple[str, list[bytes]]:
        """The SQL and parameters of ``blobs``; ``blobs_found`` reads their rows."""
        wanted = sorted(set(digests))
        return _blobs_sql(self._p, len(wanted)), wanted

    @staticmethod
    def blobs_found(rows: Sequence[Sequence[Any]]) -> dict[bytes, bytes | None]:
        return {bytes(d): None if data is None else bytes(data) for d, data in rows}

    def tile_rows(self, conn: sa.Connection, cur: Cursor, keys: set[tuple[int, int]]
                  ) -> dict[tuple[int, int], bytes]:
        """``tiles.read_rows`` on the driver cursor: the rows a proof misses, in one query."""
        wanted = sorted(keys)
        out: dict[tuple[int, int], bytes] = {}
        for chunk in _chunks(wanted):
            rows = self.run(conn, cur, _tiles_sql(self._p, len(chunk)),
                            [v for key in chunk for v in key])
            out.update({(int(lv), int(i)): bytes(h) for lv, i, h in rows})
        return out

    # --- the group commit of receipts ---------------------------------------------------------

    def spend(self, conn: sa.Connection, cur: Cursor, nonces: Sequence[tuple[str, str, int]]
              ) -> set[tuple[str, str]]:
        """Insert each (keyid, nonce, expires_ms) not seen before; the (keyid, nonce) inserted."""
        done: set[tuple[str, str]] = set()
        for rows in _chunks(nonces):
            sql = _values_sql(self._p, "INSERT INTO request_nonces (keyid, nonce, expires_ms)",
                              3, len(rows), " ON CONFLICT DO NOTHING RETURNING keyid, nonce")
            done.update((str(k), str(n))
                        for k, n in self.run(conn, cur, sql, [v for r in rows for v in r]))
        return done

    def take_over(self, conn: sa.Connection, cur: Cursor, nonce: tuple[str, str], *,
                  now_ms: int, expires_ms: int) -> bool:
        """Whether a (keyid, nonce) seen before had expired, and is now spent again until
        ``expires_ms``."""
        return bool(self.run(conn, cur, self._take_over, (expires_ms, *nonce, now_ms)))

    def insert_receipts(self, conn: sa.Connection, cur: Cursor,
                        rows: Sequence[tuple[str, str, int, bytes, bytes]]) -> list[int]:
        """Insert (member, service, served_ms, receipt, node_sig) rows; their ids, in order.

        The ids come from the integer key, assigned row after row in the order the rows are
        inserted (SQLite's rowid, PostgreSQL's sequence, which ``ORDER BY`` makes follow the
        given order, as SQLAlchemy's own ordered multi-row insert relies on), so the sorted
        ids match the rows given."""
        ids: list[int] = []
        for chunk in _chunks(rows):
            if self.sqlite:
                sql = _values_sql(self._p, _RECEIPT_INTO, 5, len(chunk), " RETURNING id")
                params = [v for r in chunk for v in r]
            else:
                sql = _values_sql(self._p, _RECEIPT_ORDERED,
                                  6, len(chunk), ") AS v (p0, p1, p2, p3, p4, n) ORDER BY n "
                                                 "RETURNING id")
                params = [v for n, r in enumerate(chunk) for v in (*r, n)]
            ids.extend(sorted(int(i) for (i,) in self.run(conn, cur, sql, params)))
        return ids

    def save_views(self, conn: sa.Connection, cur: Cursor,
                   states: Sequence[ViewState]) -> None:
        """Store the consent views cold reads folded (each member's latest seq only)."""
        latest: dict[str, ViewState] = {}
        for state in states:
            if state.author not in latest or latest[state.author].seq < state.seq:
                latest[state.author] = state
        for chunk in _chunks(sorted(latest.values(), key=lambda v: v.author)):
            self.run(conn, cur, _values_sql(self._p, "INSERT INTO consent_views (author, seq, "
                                            "head, records, mac)", 5, len(chunk),
                                            _SAVE_VIEW_TAIL),
                     [v for st in chunk for v in (st.author, st.seq, st.head, st.records,
                                                  st.mac)], rows=False)

    def evidence_head(self, conn: sa.Connection, cur: Cursor) -> tuple[int, bytes] | None:
        """The evidence chain's head row, locked until the transaction ends (PostgreSQL:
        ``FOR UPDATE``; SQLite's write transaction holds the lock already); None if none."""
        found = self.run(conn, cur, self._lock_head)
        return None if not found else (int(found[0][0]), bytes(found[0][1]))

    def chain_receipts(self, conn: sa.Connection, cur: Cursor,
                       rows: Sequence[tuple[int, str, str, int, bytes, bytes]],
                       sign: ev.Signer, head: tuple[int, bytes] | None) -> None:
        """``evidence.record_many`` for receipts just inserted, from the values in hand (the
        same digests: the rows are these values), in id order, one signature over the last;
        ``head`` is the locked head row (``evidence_head``)."""
        if not rows:
            return
        if head is None:  # no head yet (a ledger opened without its key): the general path
            ev.record_many(conn, t.receipts, [{"id": r[0]} for r in sorted(rows)], sign)
            return
        n, previous = head
        entries: list[Any] = []
        for rid, member, service, served_ms, receipt, node_sig in sorted(rows):
            digest = ev.row_digest(t.receipts, {
                "id": rid, "member": member, "service": service, "served_ms": served_ms,
                "receipt": receipt, "node_sig": node_sig})
            n += 1
            previous = ev.link(previous, n, "receipts", str(rid), digest)
            entries.append((n, "receipts", str(rid), digest, previous))
        for chunk in _chunks(entries):
            self.run(conn, cur, _values_sql(self._p, "INSERT INTO evidence (n, kind, ref, "
                                            "digest, link)", 5, len(chunk), ""),
                     [v for e in chunk for v in e], rows=False)
        self.run(conn, cur, self._set_head,
                 (n, previous, sign(ev.DOMAIN, ev.head_payload(n, previous))), rows=False)


def _execute(cur: Any, sql: str, params: Sequence[Any], rows: bool) -> list[Any]:
    cur.execute(sql, params)
    return cur.fetchall() if rows else []


def _in_force(signer: str, seq: Any, head: Any, history: str | None) -> list[bytes]:
    """The keys that may sign for ``signer`` given its chain row's columns (None: no chain)."""
    if seq is None:
        return [keys.public_key_from_did(signer)]
    return list(_keys_in_force(signer, int(seq), bytes(head), history))


@functools.lru_cache(maxsize=4096)
def _keys_in_force(author: str, seq: int, head: bytes, history: str | None
                   ) -> tuple[bytes, ...]:
    """The keys a stored chain row allows to sign its next record: a pure function of the
    row, so kept (the row is read on every call)."""
    return tuple(derived.restore_state(author, seq, head, history).keys_at(seq + 1))


@functools.lru_cache(maxsize=256)
def _blobs_sql(p: str, count: int) -> str:
    marks = ", ".join([p] * count)  # placeholders only: the values go as parameters
    return f"SELECT digest, data FROM blobs WHERE digest IN ({marks})"  # noqa: S608


@functools.lru_cache(maxsize=256)
def _tiles_sql(p: str, count: int) -> str:
    where = " OR ".join([f"(level = {p} AND idx = {p})"] * count)
    return f"SELECT level, idx, hashes FROM merkle_tiles WHERE {where}"  # noqa: S608


@functools.lru_cache(maxsize=1024)
def _values_sql(p: str, head: str, width: int, count: int, tail: str) -> str:
    row = "(" + ", ".join([p] * width) + ")"
    return f"{head} VALUES " + ", ".join([row] * count) + tail


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[i:i + ROWS_PER_STATEMENT]
