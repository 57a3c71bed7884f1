"""The consent feed of a grantee: what a service must read to know what it may read now.

``consent_feed(ledger, grantee, after_index, limit)`` returns, in log order after
``after_index``, the ``consent.grant`` records naming ``grantee``, and the ``consent.revoke``,
``passport.set`` and ``passport.clear`` records of every member who ever granted to it.  A
service that folds these into per-member views (``ledger.consent.PassportView``) knows each
grant, revoke, new value and cleared value that concerns it, at a cost proportional to the
records since its cursor instead of one chain read per member.

A scan, not an index (an index table of grants by grantee is future work): SQL walks the
records of those four types after the cursor in log order, a batch at a time; grants are kept
when their raw bytes contain the canonical text ``"grantee":"<did>"`` and their parsed body
names exactly ``grantee``; the other types are kept when their author has such a grant anywhere
in the log (one indexed query per batch over the batch's authors, ``instr`` on SQLite, an
escaped bytea ``LIKE`` on PostgreSQL, then the exact check on parsed bodies).  The page says how
far it scanned, so a poller never rescans records that did not concern it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ledger.encoding import canonical
from ledger.store import schema as t
from ledger.store.chains_read import StoredRecord
from ledger.store.ledger import Ledger

FEED_TYPES = ("consent.grant", "consent.revoke", "passport.set", "passport.clear")
SCAN_BATCH = 2000  # records examined per query


@dataclass(frozen=True)
class FeedPage:
    records: list[StoredRecord]  # in log order
    scanned_to: int  # every record up to this log index was examined (pass as after_index)
    more: bool  # the page is full: more records may follow right away


def _contains(column: sa.ColumnElement[bytes], text: bytes, dialect: str
              ) -> sa.ColumnElement[bool]:
    if dialect == "sqlite":  # instr on two blobs: a byte-exact search
        return sa.func.instr(column, sa.literal(text, sa.LargeBinary)) > 0
    escaped = text.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_")
    return column.op("LIKE")(sa.literal(b"%" + escaped + b"%", sa.LargeBinary))


def consent_feed(ledger: Ledger, grantee: str, *, after_index: int = -1, limit: int = 500
                 ) -> FeedPage:
    """Up to ``limit`` records concerning ``grantee``'s reads, after ``after_index``."""
    c = t.records.c
    dialect = ledger.engine.dialect.name
    names_grantee = _contains(c.raw, canonical({"grantee": grantee})[1:-1], dialect)
    found: list[StoredRecord] = []
    granters: dict[str, bool] = {}
    cursor = after_index
    with ledger.engine.connect() as conn:
        while len(found) < limit:
            # Metadata only; the raw bytes travel only for the records kept.
            rows = conn.execute(sa.select(c.idx, c.author, c.type,
                                          names_grantee.label("names"))
                                .where(c.idx > cursor, c.type.in_(FEED_TYPES))
                                .order_by(c.idx).limit(SCAN_BATCH)).all()
            unknown = {r.author for r in rows if r.type != "consent.grant"} - granters.keys()
            if unknown:
                hits = conn.execute(sa.select(c.author, c.raw).where(
                    c.author.in_(sorted(unknown)), c.type == "consent.grant", names_grantee))
                for author, raw in hits:
                    if StoredRecord(0, bytes(raw)).record.body.get("grantee") == grantee:
                        granters[author] = True
                for author in unknown:
                    granters.setdefault(author, False)
            wanted: list[int] = []
            for r in rows:
                grant = r.type == "consent.grant"
                if (grant and r.names) or (not grant and granters.get(r.author)):
                    wanted.append(int(r.idx))
                cursor = int(r.idx)
                if len(found) + len(wanted) >= limit:
                    break
            if wanted:
                raws = dict(conn.execute(sa.select(c.idx, c.raw).where(c.idx.in_(wanted))).all())
                for i in wanted:
                    stored = StoredRecord(i, bytes(raws[i]))
                    if stored.record.type == "consent.grant":
                        if stored.record.body.get("grantee") != grantee:
                            continue  # the text sat elsewhere in the record
                        granters[stored.record.author] = True
                    found.append(stored)
            if len(found) >= limit or (rows and cursor < int(rows[-1].idx)):
                return FeedPage(found, cursor, more=True)
            if len(rows) < SCAN_BATCH:
                break
    return FeedPage(found, max(cursor, after_index), more=False)
