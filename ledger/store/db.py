"""Engines and migrations: SQLite tuned for durable single-writer appends, PostgreSQL as is."""

from __future__ import annotations

import select
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ledger.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 256 * 1024
# As much of the file as SQLite maps (its build caps it at 2 GiB - 64 KiB): pages read
# through the map are shared by every connection and worker, not copied into each
# connection's own cache (a 1M-record ledger is a 1.4 GB file).  For a batch job (an audit,
# a build, the CLI): ``bench.ledger`` at 100k, main-process CPU per record without the map:
# append 141 against 120 µs, audit 73 against 62 µs (docs/benchmarks.md, issue 18).
SQLITE_MMAP_BYTES = (1 << 31) - (1 << 16)
# A serving node maps nothing (``open_engine(..., mapped=False)``).  In WAL mode a connection
# drops its map whenever the WAL has changed since its last read transaction, and every
# group commit of read receipts changes it: each read after a commit unmapped and mapped the
# whole file again (about 30 times a second in each worker, seen with strace), and munmap
# plus the page faults after it took about 9% of a node worker's CPU under 100 reading
# clients (perf).  Read through the OS page cache instead, a read costs 6-7% less CPU.
# Checkpoint when the WAL holds this many pages (SQLite's default: 1,000).  A batch of 2,000
# records dirties ~3,500 pages at 100k records and ~8,200 at 1M (measured; four structures take
# random keys: docs/benchmarks.md, issue 18), so with the default every commit also copied its
# pages into the database file and synced it.  At 64 MiB a checkpoint comes every few
# batches and writes a page rewritten by several of them once (on a 1M log: main-process CPU
# per appended record 6-9% lower).  Every commit still syncs the WAL before it returns
# (synchronous=FULL): durability is unchanged.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 16_384
# Connections each process keeps open, all of them: with SQLAlchemy's default (5 kept, 10 more
# opened on demand and closed on return) a busy node opened and closed a connection per
# request beyond the fifth (its PRAGMAs on SQLite, a new server process on PostgreSQL).
POOL_CONNECTIONS = 15


# The database driver's failures (lost connection, disk full, ...), for the HTTP layer to map
# to one problem type without importing SQLAlchemy itself.
DatabaseError = sa.exc.DBAPIError


def normalise_url(url: str) -> str:
    """Accept a bare file path for SQLite and plain postgresql:// for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_engine(url: str, *, create: bool = True, mapped: bool = True) -> sa.Engine:
    """An engine on ``url`` with the schema at the newest migration.

    ``create=False`` refuses a database that does not hold a ledger yet (audits must not
    create one by accident on a mistyped path).  ``mapped=False``: SQLite reads without a
    memory map (a node serving reads while it commits: see ``SQLITE_MMAP_BYTES``).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        if path and path != ":memory:" and not create and not Path(path).exists():
            raise StoreError(f"no ledger database at {path}")
        memory = path in (None, "", ":memory:")
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                  **({} if memory else _fixed_pool()))
        _tune_sqlite(engine, SQLITE_MMAP_BYTES if mapped else 0)
    else:
        engine = sa.create_engine(url, **_fixed_pool())
        _drop_dead_on_checkout(engine)
    try:
        if create:
            migrate(engine)
        elif current_revision(engine) is None:
            raise StoreError("the database holds no Passport ledger (no schema version)")
    except sa.exc.DBAPIError as e:
        engine.dispose()
        raise StoreError(f"cannot open the ledger database {_shown(url)}: {_first_line(e)}"
                         ) from e
    return engine


def _fixed_pool() -> dict[str, int]:
    return {"pool_size": POOL_CONNECTIONS, "max_overflow": 0}


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _first_line(e: BaseException) -> str:
    return str(getattr(e, "orig", e)).strip().splitlines()[0]


def _drop_dead_on_checkout(engine: sa.Engine) -> None:
    """Replace, at checkout, a pooled PostgreSQL connection the server has dropped.

    SQLAlchemy's ``pool_pre_ping`` did this with a ``SELECT 1``: a round trip per checkout,
    a third of a scoped read's.  Without any check, the first request on each worker after a
    server restart failed with "terminating connection" instead of being served or refused
    for what it is (tests/faults/test_crash.py::test_a_read_only_postgres_refuses_cleanly).
    Here the check costs no round trip: an idle connection receives nothing unasked (no
    LISTEN), so a socket with something to read holds the server's goodbye (its FATAL
    "terminating connection" and end of stream, sent on a restart, a crash or
    ``pg_terminate_backend``).  A false alarm costs one reconnect.  A server lost without a
    word (its host gone) is not seen here: that read fails, or ``hotpath`` retries it.
    """
    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if _dropped(dbapi_conn):  # the pool reconnects this record, then hands it out
            raise sa.exc.DisconnectionError("the server dropped this pooled connection")


def _dropped(dbapi_conn: Any) -> bool:
    """Whether the server has closed (or written unasked to) this idle psycopg connection."""
    if dbapi_conn.closed:
        return True
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN)
    return bool(poll.poll(0))


def _tune_sqlite(engine: sa.Engine, mmap_bytes: int) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not just a crash
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # The record-id and chain indexes take random keys: keep their pages in memory.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA mmap_size={mmap_bytes}")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the lock at BEGIN, so two appenders never both read the same tree size.
        write = conn.get_execution_options().get("passport_write", False)
        if write:
            begin_immediate(conn)
        else:
            begin_deferred(conn)


def begin_deferred(conn: sa.Connection) -> None:
    """``BEGIN`` sent to the driver itself.  Every SQLite read runs in a transaction (one
    snapshot), and through SQLAlchemy's statement machinery this one statement took 3.7% of
    a node worker's interpreter time under 100 reading clients (docs/benchmarks.md, issue 18).
    An error is raised as any statement's, by sending it that way once more."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    try:
        dbapi.execute("BEGIN")
    except sqlite3.Error:
        conn.exec_driver_sql("BEGIN")


# Pauses between a writer's tries while another holds SQLite's write lock: short, because a
# commit holds it for about one fsync (4 ms on this project's machines).
WRITER_PAUSES_S = (0.00005, 0.0001, 0.0002, 0.0005, 0.001)


def begin_immediate(conn: sa.Connection, *, timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> None:
    """``BEGIN IMMEDIATE``, tried again at least every millisecond while another writer holds
    the lock, for up to ``timeout_s`` (then SQLite's "database is locked").

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries, so a
    writer queued behind a commit of a few milliseconds woke up tens of milliseconds late, and
    meanwhile the writer that had just committed took the lock again: with two node workers,
    group commits waited up to a second for the lock (docs/benchmarks.md, issue 18)."""
    dbapi = conn.connection.dbapi_connection  # the tries go to the driver: no wrapping each
    assert dbapi is not None
    dbapi.execute("PRAGMA busy_timeout=0")
    try:
        deadline = clock() + timeout_s
        tries = 0
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or clock() >= deadline:
                    break
            sleep(WRITER_PAUSES_S[min(tries, len(WRITER_PAUSES_S) - 1)])
            tries += 1
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # once more: its error raised as any statement's
    finally:
        dbapi.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction.  On SQLite it takes the write lock at BEGIN (BEGIN IMMEDIATE), so
    SQLite's busy handler waits for a concurrent writer; a deferred transaction that reads and
    then writes would instead fail at once with SQLITE_BUSY ("database is locked")."""
    with engine.connect().execution_options(passport_write=True) as conn:
        _ping(engine, conn)
        with conn.begin():
            yield conn


def _ping(engine: sa.Engine, conn: sa.Connection) -> None:
    """On PostgreSQL, a round trip that proves the connection alive before a write begins.

    Reads skip it (the check at checkout, then one retry in ``hotpath``), but a write is
    never retried once begun (a lost ``COMMIT`` has an unknown outcome), and the check at
    checkout can miss a server that is just now closing the connection.  One round trip per
    write transaction (a group commit serves many reads) keeps that window closed: a
    connection found dead here is replaced before anything is sent."""
    if engine.dialect.name != "postgresql":
        return
    dbapi = engine.dialect.loaded_dbapi
    try:
        engine.dialect.do_ping(conn.connection.dbapi_connection)  # type: ignore[arg-type]
    except dbapi.Error as e:
        if not engine.dialect.is_disconnect(e, conn.connection.dbapi_connection, None):
            raise sa.exc.DBAPIError.instance("SELECT 1", [], e, dbapi.Error,
                                             dialect=engine.dialect) from e
        conn.invalidate(e)  # conn.begin() checks out a fresh one


def _alembic_config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(engine: sa.Engine) -> None:
    with engine.connect().execution_options(passport_write=True) as conn:
        command.upgrade(_alembic_config(conn), "head")
        conn.commit()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()
