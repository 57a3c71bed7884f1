"""A read with no consent view of the member kept gets the read marks, the signer's keys and
the member's whole chain in one statement (``HotPath.marks_keys_and_chain``), and folds the
view from those rows: the same view, marks and keys as the separate reads give, the same
refusals of rows that disagree with their bytes.  SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import consent, keys
from ledger.errors import StoreError
from ledger.store import chains_read
from ledger.store import schema as t
from ledger.store.hotpath import HotPath
from ledger.store.ledger import Ledger
from ledger.times import now_ms
from passport_api.auth import SignedRequest
from passport_api.errors import ForbiddenError
from passport_api.ratelimit import Limiter, Limits
from passport_api.read_cache import ReadCache
from passport_api.reads import verify_and_prepare
from tests.faults.test_access_more import read_body, signed
from tests.store.support import sql_seen
from tests.store.test_view_increments import SERVICE, Member, same

TYPES = consent.CONSENT_TYPES


def both(ledger: Ledger, member: str, signer: str) -> tuple[Any, Any]:
    """(the one statement's answer, the separate statements' answers), one snapshot each."""
    hot = HotPath(ledger.engine)
    with hot.reading() as (conn, cur):
        size, seq, in_force, rows = hot.marks_keys_and_chain(conn, cur, member, signer, TYPES)
        one = (size, seq, in_force, chains_read.from_chain_rows(member, TYPES, rows,
                                                                superseded=False))
    with hot.reading() as (conn, cur):
        apart = (*hot.marks_and_keys(conn, cur, member, signer),
                 chains_read.read_types(conn, member, TYPES, superseded=False))
    return one, apart


def test_one_statement_gives_what_the_separate_reads_give(ledger: Ledger) -> None:
    m = Member(ledger)
    m.grant("grant-today-1")
    m.append("consent.revoke", {"grant": "grant-today-1"})
    m.set("today", "at the station")
    m.grant("grant-today-2")
    signer = Member(ledger)
    nobody = keys.did_of(keys.generate())
    for member, who in ((m.did, signer.did), (m.did, nobody), (nobody, m.did)):
        one, apart = both(ledger, member, who)
        assert one[:3] == apart[:3]
        assert (one[3].seq, one[3].head, [(s.index, s.raw) for s in one[3].records]) == (
            apart[3].seq, apart[3].head, [(s.index, s.raw) for s in apart[3].records])
    assert both(ledger, nobody, m.did)[0][1:3] == (0, [keys.public_key_from_did(m.did)])


@pytest.mark.parametrize(("column", "value"), [("type", "consent.grant"), ("seq", 99),
                                               ("author", "did:key:zSomeoneElse")])
def test_a_row_that_disagrees_with_its_bytes_is_refused(ledger: Ledger, column: str,
                                                        value: object) -> None:
    m = Member(ledger)
    revoked = m.grant("grant-today-1")
    m.append("consent.revoke", {"grant": "grant-today-1"})
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(t.records).where(t.records.c.author == m.did,
                                                t.records.c.seq == revoked.seq + 1)
                     .values({column: value}))
    with pytest.raises(StoreError, match=r"disagrees with its signed bytes|missing"):
        both(ledger, m.did, SERVICE)


def prepared(cache: ReadCache, member: str) -> Any:
    service = keys.generate()
    body = read_body(member, ["today"])
    headers = signed(service, "POST", "/v1/reads", body)
    request = SignedRequest("POST", "/v1/reads", "", headers, body, now_ms() // 1000)
    return verify_and_prepare(cache, Limiter(Limits()), request, member=member,
                              fields=["today"], now_ms=now_ms())[1]


@contextmanager
def statements(ledger: Ledger, cache: ReadCache) -> Iterator[list[str]]:
    """The SELECTs a block runs, on the hot path's driver cursor or through SQLAlchemy."""
    run = cache.hot.run
    with sql_seen(ledger.engine, lambda sql: sql.lstrip().upper().startswith("SELECT")) as seen:

        def counted(conn: Any, cur: Any, sql: str, params: Any = ()) -> list[Any]:
            seen.append(sql)
            return run(conn, cur, sql, params)

        cache.hot.run = counted  # type: ignore[method-assign]
        yield seen


def test_a_cold_read_reads_marks_keys_and_chain_in_one_statement(ledger: Ledger) -> None:
    """With no stored views (``test_stored_views``: a ledger without its log key)."""
    m = Member(ledger)
    cache = ReadCache(ledger)
    cache.state_key = None
    with statements(ledger, cache) as seen:
        refused = prepared(cache, m.did)  # no grant to this service: refused, the view kept
        assert isinstance(refused, ForbiddenError) and "today" in str(refused)
        chain_reads = [s for s in seen if "records" in s]
        assert chain_reads and chain_reads == [s for s in seen if "log_state" in s]
        assert len(chain_reads) == 1 and cache.holds(m.did)
        same(cache.view(m.did, m.seq()).view, consent.PassportView.from_records(
            [s.record for s in ledger.records_of(m.did, TYPES)], member=m.did))
        seen.clear()
        prepared(cache, m.did)  # the view kept: the marks alone, no chain
        assert [s for s in seen if "records" in s] == [] and len(
            [s for s in seen if "log_state" in s]) == 1
