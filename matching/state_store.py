"""The matcher's own durable state: one SQLite file (stdlib ``sqlite3``, WAL) beside its key.

What members did through the matcher lives here, so a restart loses none of it: questions and
whom each was routed to, answers and their helpful marks, endorsements waiting for their
subject's accept and those already fed to helpful memory, whom it matched with whom,
introductions, ride offers, the space directory and content, who met whom, who is watched and
the consent feed's cursor.  What members granted (their field values, the ``Profile`` and every
index built from it) is never written here: it is read again from the node under the grants in
force when the matcher starts (``Matcher.restore``).

Every change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): after a crash, even
``kill -9``, the file holds each change whole or not at all.  A file that is not a matcher's
state, belongs to another matcher, or cannot be read is a ``StateError`` with one line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import PassportError
from matching.index import Content, Endorsement
from matching.loops import Intro, Pending, Reply, Topic
from matching.model import Space
from matching.rides import Offer

SCHEMA_VERSION = "1"
FILE_NAME = "matcher-state.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watched (did TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS topics (id TEXT PRIMARY KEY, kind TEXT NOT NULL, asker TEXT NOT NULL,
    text TEXT NOT NULL, routed TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replies (id TEXT PRIMARY KEY, topic TEXT NOT NULL, author TEXT NOT NULL,
    text TEXT NOT NULL, at_ms INTEGER NOT NULL, helpful TEXT NOT NULL, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS matched (a TEXT NOT NULL, b TEXT NOT NULL, context TEXT NOT NULL,
    PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS pending (attestation TEXT PRIMARY KEY, kind TEXT NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS endorsed (kind TEXT NOT NULL, did TEXT NOT NULL, text TEXT NOT NULL,
    at_ms INTEGER NOT NULL, PRIMARY KEY (kind, did, at_ms, text));
CREATE TABLE IF NOT EXISTS intros (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offers (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS content (id TEXT PRIMARY KEY, title TEXT NOT NULL, tags TEXT NOT NULL,
    space TEXT);
CREATE TABLE IF NOT EXISTS met (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b));
"""


class StateError(PassportError):
    """The state file cannot be opened, read or written; the message is one line."""


@dataclass
class Saved:
    """Everything the file holds, read at start."""

    cursor: int = -1
    watched: set[str] = field(default_factory=set)
    topics: list[Topic] = field(default_factory=list)
    matched: list[tuple[str, str, str]] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    endorsed: list[Endorsement] = field(default_factory=list)
    intros: list[Intro] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    spaces: list[Space] = field(default_factory=list)
    content: list[Content] = field(default_factory=list)
    met: list[tuple[str, str]] = field(default_factory=list)


class Writer:
    """The writes of one transaction (``StateStore.write``)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def cursor(self, value: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('cursor', ?)", (str(value),))

    def watch(self, dids: set[str] | list[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO watched VALUES (?)", [(d,) for d in dids])

    def unwatch(self, did: str) -> None:
        self.db.execute("DELETE FROM watched WHERE did = ?", (did,))

    def topic(self, t: Topic) -> None:
        """The topic and all its replies as they are now."""
        self.db.execute("INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?, ?, ?)",
                        (t.id, t.kind, t.by, t.text, json.dumps(list(t.routed)), t.at_ms))
        self.db.execute("DELETE FROM replies WHERE topic = ?", (t.id,))
        self.db.executemany("INSERT INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(r.id, t.id, r.by, r.text, r.at_ms, r.helpful, n)
                             for n, r in enumerate(t.replies)])

    def matched(self, who: str, others: tuple[str, ...] | list[str], context: str) -> None:
        """As ``Loops.note_matched``: each pair keeps the first context it was matched on."""
        pairs = [(a, b, context) for o in others if o != who for a, b in ((who, o), (o, who))]
        self.db.executemany("INSERT OR IGNORE INTO matched VALUES (?, ?, ?)", pairs)

    def pending(self, p: Pending) -> None:
        self.db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?)",
                        (p.attestation, p.kind, p.subject, p.text, p.at_ms))

    def settled(self, p: Pending, *, fed: bool) -> None:
        """The endorsement left the queue: counted in helpful memory (``fed``) or dropped."""
        self.db.execute("DELETE FROM pending WHERE attestation = ?", (p.attestation,))
        if fed:
            self.db.execute("INSERT OR REPLACE INTO endorsed VALUES (?, ?, ?, ?)",
                            (p.kind, p.subject, " ".join(p.text.split()), p.at_ms))

    def intro(self, i: Intro) -> None:
        body = {"id": i.id, "requester": i.requester, "target": i.target, "context": i.context,
                "note": i.note, "at_ms": i.at_ms, "requester_grant": i.requester_grant,
                "status": i.status, "target_grant": i.target_grant}
        self.db.execute("INSERT OR REPLACE INTO intros VALUES (?, ?)", (i.id, json.dumps(body)))

    def offer(self, o: Offer) -> None:
        self.db.execute("INSERT OR REPLACE INTO offers VALUES (?, ?)", (o.id, json.dumps(o.json())))

    def drop_offer(self, oid: str) -> None:
        self.db.execute("DELETE FROM offers WHERE id = ?", (oid,))

    def drop_topic(self, tid: str) -> None:
        self.db.execute("DELETE FROM replies WHERE topic = ?", (tid,))
        self.db.execute("DELETE FROM topics WHERE id = ?", (tid,))

    def drop_endorsed(self, e: Endorsement) -> None:
        self.db.execute("DELETE FROM endorsed WHERE kind = ? AND did = ? AND text = ? AND "
                        "at_ms = ?", (e.kind, e.did, e.text, e.at_ms))

    def drop_intro(self, iid: str) -> None:
        self.db.execute("DELETE FROM intros WHERE id = ?", (iid,))

    def unlink(self, did: str) -> None:
        """Every row of whom ``did`` was matched with or met, either way round."""
        for table in ("matched", "met"):
            self.db.execute(f"DELETE FROM {table} WHERE a = ? OR b = ?", (did, did))  # noqa: S608

    def space(self, s: Space) -> None:
        self.db.execute("INSERT OR REPLACE INTO spaces VALUES (?, ?, ?, ?)",
                        (s.id, s.name, s.city, json.dumps(list(s.tags))))

    def content(self, c: Content) -> None:
        self.db.execute("INSERT OR REPLACE INTO content VALUES (?, ?, ?, ?)",
                        (c.id, c.title, json.dumps(list(c.tags)), c.space))

    def met(self, a: str, b: str) -> None:
        self.db.executemany("INSERT OR IGNORE INTO met VALUES (?, ?)", [(a, b), (b, a)])


def private_file(path: Path) -> None:
    """The directory 0700 if we make it, the file 0600 (SQLite gives ``-wal``/``-shm`` the
    file's mode); an existing file keeps the mode its operator gave it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        with suppress(FileExistsError):  # another process made it first, the same way
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def wipe(db: sqlite3.Connection, lock: threading.Lock | threading.RLock) -> None:
    """``PRAGMA wal_checkpoint(TRUNCATE)``: with ``secure_delete`` on, a deleted row's bytes
    are then gone from the file and from its write-ahead log."""
    with lock:
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as e:
            raise StateError(f"cannot checkpoint the matcher's state ({e})") from None


class StateStore:
    """One connection, used under its own lock (the matcher's threads share it)."""

    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self.db = db
        self.where = where
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, owner: str) -> StateStore:
        """Open (or create) the state file of the matcher ``owner``; ``StateError`` otherwise."""
        try:
            private_file(path)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=10)
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"cannot open the matcher's state file {path}: {e}") from None
        return cls._ready(db, str(path), owner)

    @classmethod
    def memory(cls, owner: str = "") -> StateStore:
        """A state that lasts as long as the process (a matcher made in a test or benchmark)."""
        return cls._ready(sqlite3.connect(":memory:", isolation_level=None,
                                          check_same_thread=False), ":memory:", owner)

    @classmethod
    def _ready(cls, db: sqlite3.Connection, where: str, owner: str) -> StateStore:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a change answered is a change kept
            db.execute("PRAGMA secure_delete=ON")  # a deleted text is zeroed in the file
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else '?'}")
            db.execute("BEGIN IMMEDIATE")
            tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE "
                                                "type = 'table'")}
            if tables and "meta" not in tables:
                raise sqlite3.DatabaseError("it holds other tables")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta.get("version"):
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (SCHEMA_VERSION,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('owner', ?)", (owner,))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            db.close()
            raise StateError(f"the matcher's state file {where} is unreadable or not a "
                             f"matcher's state ({e}); move it aside to start afresh") from None
        if meta.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            db.close()
            raise StateError(f"the matcher's state file {where} has version "
                             f"{meta['version']}; this matcher reads version {SCHEMA_VERSION}")
        if meta.get("owner", owner) != owner:
            db.close()
            raise StateError(f"the matcher's state file {where} belongs to matcher "
                             f"{meta['owner']}, not to {owner}")
        return cls(db, where)

    @contextmanager
    def write(self) -> Iterator[Writer]:
        """One transaction: committed whole when the block ends, rolled back if it raises."""
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise StateError(f"cannot write the matcher's state ({e})") from None
            try:
                yield Writer(self.db)
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise StateError(f"cannot write the matcher's state ({e})") from None
            except BaseException:
                self._rollback()
                raise

    def checkpoint(self) -> None:
        """Copy the log into the file and empty it (``forget``: the old pages that still held
        the deleted text leave the ``-wal``).  Best effort: a reader in the way only delays it
        to SQLite's next automatic checkpoint."""
        wipe(self.db, self.lock)

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def load(self) -> Saved:
        try:
            with self.lock:
                return self._load()
        except (sqlite3.Error, ValueError, KeyError, TypeError) as e:
            raise StateError(f"the matcher's state file {self.where} cannot be read ({e})"
                             ) from None

    def _load(self) -> Saved:
        q = self.db.execute
        saved = Saved()
        row = q("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
        saved.cursor = int(row[0]) if row else -1
        saved.watched = {d for (d,) in q("SELECT did FROM watched")}
        replies: dict[str, list[Reply]] = {}
        for rid, tid, by, text, at, helpful, _ in q("SELECT * FROM replies ORDER BY topic, n"):
            replies.setdefault(tid, []).append(Reply(rid, tid, by, text, at, helpful))
        for tid, kind, by, text, routed, at in q("SELECT * FROM topics ORDER BY rowid"):
            saved.topics.append(Topic(tid, kind, by, text, tuple(json.loads(routed)), at,
                                      replies.get(tid, [])))
        saved.matched = [tuple(r) for r in q("SELECT a, b, context FROM matched ORDER BY rowid")]
        saved.pending = [Pending(k, s, a, t, at) for a, k, s, t, at in
                         q("SELECT * FROM pending ORDER BY rowid")]
        saved.endorsed = [Endorsement(k, d, t, at) for k, d, t, at in
                          q("SELECT * FROM endorsed ORDER BY rowid")]
        saved.intros = [Intro(**json.loads(b)) for (b,) in
                        q("SELECT body FROM intros ORDER BY rowid")]
        saved.offers = [_offer(json.loads(b)) for (b,) in
                        q("SELECT body FROM offers ORDER BY rowid")]
        saved.spaces = [Space(i, n, c, tuple(json.loads(t))) for i, n, c, t in
                        q("SELECT * FROM spaces ORDER BY rowid")]
        saved.content = [Content(i, t, tuple(json.loads(g)), s) for i, t, g, s in
                         q("SELECT * FROM content ORDER BY rowid")]
        saved.met = [(a, b) for a, b in q("SELECT a, b FROM met ORDER BY rowid")]
        return saved

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _offer(d: dict[str, Any]) -> Offer:
    return Offer(d["offer"], d["rider"], d["driver"], d["origin"], d["destination"], d["date"],
                 d["status"], d["rider_grant"], d["driver_grant"])
