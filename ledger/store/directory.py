"""The directory: the latest public profile of each organisation on the log.

A scan of the ``profile`` records (organisations are few; members never write one), folded to
the latest per author, then matched by name.  The records come back as stored, so whoever asks
checks their signatures itself.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger.profiles import PROFILE_TYPE, fold
from ledger.records import parse_record
from ledger.store import schema as t
from ledger.store.chains_read import StoredRecord


def latest_profiles(engine: sa.Engine) -> dict[str, StoredRecord]:
    """Each author's latest profile record, by author."""
    c = t.records.c
    latest: dict[str, StoredRecord] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.idx, c.author, c.raw).where(c.type == PROFILE_TYPE)
                            .order_by(c.idx))
        for idx, author, raw in rows:
            latest[str(author)] = StoredRecord(int(idx), bytes(raw))
    return latest


def search(engine: sa.Engine, query: str | None, *, limit: int = 100) -> list[StoredRecord]:
    """Profiles whose name contains ``query`` (case- and width-insensitive), exact names first,
    then by name; every profile when ``query`` is empty."""
    wanted = fold(query or "")
    found: list[tuple[int, str, StoredRecord]] = []
    for stored in latest_profiles(engine).values():
        name = fold(str(parse_record(stored.raw).body["name"]))
        if wanted in name:
            found.append((0 if name == wanted else 1, name, stored))
    found.sort(key=lambda f: (f[0], f[1], f[2].index))
    return [stored for _, _, stored in found[:limit]]


def profile_of(engine: sa.Engine, did: str) -> StoredRecord | None:
    """``did``'s latest profile record, or None."""
    c = t.records.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.idx, c.raw)
                           .where(c.author == did, c.type == PROFILE_TYPE)
                           .order_by(c.seq.desc()).limit(1)).one_or_none()
    return None if row is None else StoredRecord(int(row.idx), bytes(row.raw))
