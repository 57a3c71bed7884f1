"""The ledgers a run reads from, built in process with the ledger's batch append.

The read ledger (``--read-size`` workload records) is built once per database and kept for
later runs: a SQLite file, or a PostgreSQL database of its own, each with a node home holding
its log key.  Reads add receipts, and store the consent views they fold
(``ledger.store.view_states``), which later runs' first reads of a member take instead of
the chain; ``forget_views`` (``bench.node --fresh-views``) deletes them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import nacl.signing
import psycopg

from bench import ledger as ledger_bench
from bench.workload import Entry
from ledger.store.ledger import Ledger


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def inprocess_rate(url: str, entries: Sequence[Entry], batch: int, workers: int,
                   log_key: nacl.signing.SigningKey | None = None) -> float:
    """``bench.ledger.build`` on ``url``: the ledger core's streaming batch append rate.

    ``build`` makes its own log key; to serve the ledger afterwards, ``log_key`` is handed to
    it in place of the one it would generate, so the node can open the file as its own.
    """
    if log_key is None:
        return ledger_bench.build(url, entries, batch, workers)[0]
    with mock.patch.object(nacl.signing.SigningKey, "generate", return_value=log_key):
        rate, _, public, _ = ledger_bench.build(url, entries, batch, workers)
    assert public == bytes(log_key.verify_key)
    return rate


def unlink_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def write_log_key(home: Path, key: nacl.signing.SigningKey) -> None:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / "log.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")


def read_ledger(entries: Sequence[Entry], out_dir: Path, batch: int, workers: int
                ) -> tuple[Path, Path, float | None]:
    """The SQLite read ledger of ``entries`` and its node home: (file, home, build rate, or
    None when an earlier run's ledger was reused)."""
    n = len(entries)
    db, home = out_dir / f"node-reads-{n}.sqlite", out_dir / f"node-reads-{n}"
    done = out_dir / f"node-reads-{n}.done"
    if done.exists() and db.exists() and (home / "log.key").exists():
        return db, home, None
    done.unlink(missing_ok=True)
    unlink_sqlite(db)
    key = nacl.signing.SigningKey.generate()
    _say(f"building the {n:,}-record read ledger in-process ({db}; reused by later runs)")
    rate = inprocess_rate(f"sqlite:///{db}", entries, batch, workers, log_key=key)
    write_log_key(home, key)
    done.write_text(f"{n}\n")
    return db, home, rate


def pg_read_ledger(entries: Sequence[Entry], out_dir: Path, batch: int, workers: int,
                   admin_url: str, name: str) -> tuple[str, Path, float | None]:
    """The same read ledger in a PostgreSQL database of its own, ``<name>_reads_<n>``, built
    in process like the SQLite one and kept for later runs: (URL, node home, build rate or
    None when reused).  A database without this run's marker is dropped and built again."""
    n = len(entries)
    database = f"{name}_reads_{n}"
    url = _pg_url(admin_url, database)
    home, done = out_dir / f"node-pg-reads-{n}", out_dir / f"node-pg-reads-{n}.done"
    if done.exists() and (home / "log.key").exists() and _pg_exists(admin_url, database):
        return url, home, None
    done.unlink(missing_ok=True)
    reset_pg(admin_url, database)
    key = nacl.signing.SigningKey.generate()
    _say(f"building the {n:,}-record read ledger in-process on PostgreSQL ({database}; reused "
         "by later runs)")
    rate = inprocess_rate(url, entries, batch, workers, log_key=key)
    write_log_key(home, key)
    done.write_text(f"{database}\n")
    return url, home, rate


def _pg_url(admin_url: str, database: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


def _pg_exists(admin_url: str, database: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (database,)).fetchone() is not None


@contextmanager
def pg_database(admin_url: str, name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the run, dropped afterwards whatever happens."""
    reset_pg(admin_url, name)
    try:
        yield _pg_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_pg(admin_url: str, name: str) -> None:
    """Drop and create database ``name`` (empty)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def forget_views(db: str) -> int:
    """Delete the consent views earlier reads stored (``ledger.store.view_states``), so the
    reads that follow fold every member's chain as on a ledger nobody has read yet; the rows
    deleted."""
    ledger = Ledger.open(db, verify_workers=0)
    try:
        return ledger.forget_stored_views()
    finally:
        ledger.close()


# The tables a read run rewrites: each run spends and purges some 10,000 request nonces.
_CHURNED = "request_nonces, evidence_head, log_state, consent_views, receipts, evidence"


def vacuum_pg(url: str) -> None:
    """VACUUM the tables earlier runs' reads churned, on a PostgreSQL read ledger.  The node
    counts on autovacuum, which this machine's server runs without (``autovacuum = off``):
    after some twenty runs ``request_nonces`` held 21,451 live rows and 292,644 dead ones,
    and each run's reads were slower than the last's."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                         autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {_CHURNED}")
