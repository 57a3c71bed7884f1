"""SQLite checkpoints its write-ahead log every few large batches, not after every commit
(``db.SQLITE_WAL_AUTOCHECKPOINT_PAGES``; docs/benchmarks.md, issue 18), and every commit is
still synced before it returns (``synchronous=FULL``).  SQLite only: PostgreSQL has no such
setting (its checkpoints are the server's)."""

from __future__ import annotations

from pathlib import Path

from ledger import keys
from ledger.store.db import SQLITE_WAL_AUTOCHECKPOINT_PAGES
from ledger.store.ledger import Ledger
from tests.store.support import members_batch

SQLITE_DEFAULT_AUTOCHECKPOINT = 1000  # pages
WAL_HEADER, FRAME_HEADER = 32, 24


def test_batches_past_the_default_threshold_stay_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(str(path), log_key=keys.generate(), verify_workers=0)
    try:
        for _ in range(3):
            raws, blobs = members_batch(1200)
            ledger.append_batch(raws, blobs)
        with ledger.engine.connect() as conn:
            page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            synchronous = int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
            wal_frames = (Path(f"{path}-wal").stat().st_size - WAL_HEADER) // (FRAME_HEADER + page)
            assert synchronous == 2  # FULL: each commit synced before it is acknowledged
            # Past SQLite's default threshold, below ours: with the default, the commit that
            # crossed it would have copied every page into the database file.
            assert SQLITE_DEFAULT_AUTOCHECKPOINT < wal_frames < SQLITE_WAL_AUTOCHECKPOINT_PAGES
            assert path.stat().st_size < pages * page  # the new pages are in the WAL only
        assert ledger.size() == 3600
    finally:
        ledger.close()
    reopened = Ledger.open(str(path), verify_workers=0)  # closing checkpointed: all there
    try:
        assert reopened.size() == 3600
        assert path.stat().st_size == pages * page
    finally:
        reopened.close()
