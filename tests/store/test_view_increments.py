"""A worker's cached consent view moves on with the member's chain by the records since its
seq only (``ReadCache.view`` over ``chains_read.read_after``): never missing one (a revoke),
never applying one twice, never changing a view another thread may be reading, and with the
new rows checked against their bytes as a whole-chain read checks them.  SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger import consent, keys, seal
from ledger.chain import Author
from ledger.errors import StoreError
from ledger.records import Record
from ledger.store import chains_read
from ledger.store import schema as t
from ledger.store.ledger import Ledger
from ledger.times import format_ts, now_ms
from passport_api.read_cache import ReadCache
from wallet.fields import set_field

SERVICE = keys.did_of(keys.generate())


class Member:
    """A member appending to the ledger one record at a time, as ``passport`` does."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.author = ledger, Author(keys.generate())
        self.did = self.author.did
        self.key = ""
        self.set("today", "at the library")

    def set(self, name: str, value: str) -> None:
        update = set_field(self.author, name, value, [])
        self.key = seal.wrap_key(update.sealed.content_key, SERVICE)
        self.ledger.append_batch([update.record.raw], update.blobs)

    def append(self, rtype: str, body: dict[str, object]) -> Record:
        record = self.author.next(rtype, body)
        self.ledger.append_batch([record.raw], {})
        return record

    def grant(self, gid: str) -> Record:
        return self.append("consent.grant", {
            "grant": gid, "grantee": SERVICE, "fields": ["today"], "purpose": "tests",
            "expires": format_ts(now_ms() + 3600_000), "keys": {"today": self.key}})

    def seq(self) -> int:
        return self.ledger.read_marks(self.did)[1]


def cold(ledger: Ledger, did: str) -> consent.PassportView:
    return ReadCache(ledger).view(did, ledger.read_marks(did)[1]).view


def same(a: consent.PassportView, b: consent.PassportView) -> None:
    assert (a.seq, dict(a.values), dict(a.grants), a.anomalies) == (
        b.seq, dict(b.values), dict(b.grants), b.anomalies)


def test_a_revoke_after_the_cached_seq_is_applied_once(ledger: Ledger) -> None:
    m = Member(ledger)
    m.grant("grant-today-1")
    cache = ReadCache(ledger)
    before = cache.view(m.did, m.seq())
    assert before.view.grants["grant-today-1"].live(now_ms())
    first = m.append("consent.revoke", {"grant": "grant-today-1"})
    after = cache.view(m.did, m.seq())
    assert after.view.grants["grant-today-1"].revoked_record_id == first.id
    assert plan_refused(after.view)
    # the view other threads may still hold is the one they had: not changed in place
    assert before.view.grants["grant-today-1"].live(now_ms()) and before.seq == after.seq - 1
    # a second revoke, a reused grant id and a checkin: each applied exactly once
    second = m.append("consent.revoke", {"grant": "grant-today-1"})
    reused = m.grant("grant-today-1")
    m.append("checkin", {"nonce_hash": "sha256:" + "00" * 32,
                         "sealed": {"ct": "c2VhbGVk", "keys": ["a2V5" * 16]}})
    m.set("today", "at the station")
    latest = cache.view(m.did, m.seq())
    assert [(a.code, a.record_id) for a in latest.view.anomalies] == [
        ("already-revoked", second.id), ("grant-id-reused", reused.id)]
    same(latest.view, cold(ledger, m.did))
    # and the cold fold, which skips the values later ones replace, folds what every record
    # would: both sets of ``today`` and everything else
    every = [s.record for s in ledger.records_of(m.did, consent.CONSENT_TYPES)]
    assert [r.type for r in every].count("passport.set") == 2
    same(latest.view, consent.PassportView.from_records(every, member=m.did))
    fresh = ReadCache(ledger).view(m.did, m.seq()).index_of
    served = [r.id for r in latest.view.values.values() if r is not None]
    assert served and [latest.index_of[i] for i in served] == [fresh[i] for i in served]
    assert latest.seq == m.seq() and latest.head is not None


def plan_refused(view: consent.PassportView) -> bool:
    return bool(consent.authorize(view, SERVICE, ["today"], now_ms()).refused)


def test_the_increment_is_what_moves_the_view_on(ledger: Ledger) -> None:
    """Proof the cached prefix is not read again: an edit to a row at or below the cached seq
    would fail a whole-chain read, and the increment does not see it."""
    m = Member(ledger)
    m.grant("grant-today-1")
    cache = ReadCache(ledger)
    kept = cache.view(m.did, m.seq())
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(t.records).where(t.records.c.author == m.did,
                                                t.records.c.seq == 1).values(type="checkin"))
    with pytest.raises(StoreError, match="type"):
        cold(ledger, m.did)
    m.append("consent.revoke", {"grant": "grant-today-1"})
    moved = cache.view(m.did, m.seq())
    assert moved.seq == kept.seq + 1 and plan_refused(moved.view)


@pytest.mark.parametrize(("column", "value"), [("type", "checkin"), ("seq", 99)])
def test_a_new_row_that_disagrees_with_its_bytes_is_never_applied(
        ledger: Ledger, column: str, value: object) -> None:
    m = Member(ledger)
    m.grant("grant-today-1")
    cache = ReadCache(ledger)
    cache.view(m.did, m.seq())
    revoke = m.append("consent.revoke", {"grant": "grant-today-1"})
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(t.records).where(t.records.c.author == m.did,
                                                t.records.c.seq == revoke.seq)
                     .values({column: value}))
    with pytest.raises(StoreError, match="disagrees with its signed bytes"):
        cache.view(m.did, revoke.seq)


def test_new_rows_that_do_not_chain_onto_the_cached_head_are_refolded(ledger: Ledger) -> None:
    m = Member(ledger)
    m.grant("grant-today-1")
    with ledger.reading() as conn:
        read = chains_read.read_types(conn, m.did, consent.CONSENT_TYPES)
    m.append("consent.revoke", {"grant": "grant-today-1"})
    with ledger.reading() as conn:
        on = chains_read.read_after(conn, m.did, consent.CONSENT_TYPES, read.seq,
                                    head=read.head, upto=m.seq())
        other = chains_read.read_after(conn, m.did, consent.CONSENT_TYPES, read.seq,
                                       head="sha256:" + "00" * 32, upto=m.seq())
    assert on is not None and [s.record.type for s in on.records] == ["consent.revoke"]
    assert other is None


def test_a_replaced_value_not_parsed_is_still_checked_against_its_columns(
        ledger: Ledger) -> None:
    """The cold fold skips parsing a set a later one replaces: its seq column is still read
    off its bytes (here two such rows swap seqs, which the chain's aggregate cannot see)."""
    m = Member(ledger)
    m.set("today", "at the station")
    m.set("today", "at home")
    r = t.records.c
    with ledger.engine.begin() as conn:
        for old, new in ((1, 1000), (2, 1), (1000, 2)):
            conn.execute(sa.update(t.records).where(r.author == m.did, r.seq == old)
                         .values(seq=new))
    with pytest.raises(StoreError, match="stored seq"):
        cold(ledger, m.did)
