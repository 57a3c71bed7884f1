"""The matcher's embeddings on disk, so a restart does not embed every profile again.

Embedding 120,000 members takes 10-15 minutes of CPU (docs/benchmarks.md "Matching"); a
restarted matcher reads its members again from the node under the grants in force then, and
each text it gets back whose vector is in this file is not embedded again.  One SQLite file
beside the state file (``matcher-state.vectors.sqlite`` for ``matcher-state.sqlite``: ``beside``;
mode 0600, WAL): the vector of a text,
keyed by the hash of the text (``matching.embed.text_key``), never the text or the member.

Consent: the file holds the vectors of texts the matcher holds now, and no others.  After a
change (a revoke, an edit, a member who left, an endorsement withdrawn) ``Matcher`` calls
``keep_only`` with the keys still held, which deletes the rest in one transaction; a vector
is written only when the text is embedded for a member's granted field or an accepted
endorsement, never for a question.  Vectors are float32, exactly what the model gave, so an
answer after a restart equals the answer before it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from matching.embed import DIM, text_key, use_encoder
from matching.state_store import StateError, private_file, wipe

_SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)"
_ROW_BYTES = DIM * 4
PAGE_SIZE = 16_384  # at 4 KiB a page holds one 2 KiB vector: the file would be twice the data


def beside(state: Path) -> Path:
    """The vector file of the matcher whose state file is ``state``."""
    return state.with_suffix(".vectors.sqlite")


class VectorStore:
    """Vectors by text hash; one connection under its own lock."""

    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self.db = db
        self.where = where
        self.lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> VectorStore:
        """Open (or create, 0600) the file; ``StateError`` with one line if it is not one."""
        try:
            private_file(path)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=10)
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file only: 7 rows a page
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost last write is only embedded again
            db.execute("PRAGMA secure_delete=ON")  # a deleted vector is zeroed in the file
            tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master "
                                                "WHERE type = 'table'")}
            if tables - {"vectors"}:
                raise sqlite3.DatabaseError("it holds other tables")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"the matcher's vector file {path} cannot be used ({e}); move it "
                             f"aside to embed afresh") from None
        return cls(db, str(path))

    @classmethod
    def memory(cls) -> VectorStore:
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        db.execute(_SCHEMA)
        return cls(db, ":memory:")

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors of these keys (absent keys are left out)."""
        out: dict[bytes, np.ndarray] = {}
        with self.lock:
            for key in keys:
                row = self.db.execute("SELECT vec FROM vectors WHERE key = ?", (key,)).fetchone()
                if row is not None and len(row[0]) == _ROW_BYTES:
                    out[key] = np.frombuffer(row[0], dtype=np.float32)
        return out

    def put(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items]
        if rows:
            with self.lock:
                self._tx(lambda: self.db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows))

    def stored(self) -> set[bytes]:
        """The keys of every vector in the file."""
        with self.lock:
            return {bytes(k) for (k,) in self.db.execute("SELECT key FROM vectors")}

    def delete(self, keys: Iterable[bytes]) -> None:
        gone = [(k,) for k in keys]
        if gone:
            with self.lock:
                self._tx(lambda: self.db.executemany("DELETE FROM vectors WHERE key = ?", gone))

    def keep_only(self, held: set[bytes]) -> int:
        """Delete every vector whose text the matcher no longer holds; how many went."""
        with self.lock:
            gone = [(k,) for (k,) in self.db.execute("SELECT key FROM vectors")
                    if bytes(k) not in held]
            if gone:
                self._tx(lambda: self.db.executemany("DELETE FROM vectors WHERE key = ?", gone))
        return len(gone)

    def checkpoint(self) -> None:
        """The log copied into the file and emptied: deleted vectors leave the ``-wal`` too."""
        wipe(self.db, self.lock)

    def _tx(self, body: Callable[[], object]) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            body()
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StateError(f"cannot write the matcher's vector file {self.where} ({e})"
                             ) from None

    def close(self) -> None:
        with self.lock:
            self.db.close()


class StoredEncoder:
    """The model behind the file: a text whose vector is stored is read, not embedded; the
    others are embedded by ``base`` and written."""

    def __init__(self, store: VectorStore,
                 base: Callable[[Sequence[str]], np.ndarray] = use_encoder) -> None:
        self.store = store
        self.base = base
        self.embedded = 0  # texts that went to the model
        self.read = 0  # texts read from the file

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        known = self.store.get(keys)
        todo = [i for i, k in enumerate(keys) if k not in known]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if todo:
            made = self.base([texts[i] for i in todo])
            self.store.put((keys[i], v) for i, v in zip(todo, made, strict=True))
            for i, v in zip(todo, made, strict=True):
                out[i] = v
        for i, k in enumerate(keys):
            if k in known:
                out[i] = known[k]
        self.embedded += len(todo)
        self.read += len(texts) - len(todo)
        return out
