"""Consent views kept in the database (``view_states``): a cold read stores the view it folded
with its receipt, and the next cold read of the member, in any worker, takes it in its marks
statement instead of reading the chain.  A stored view is only a starting point: one behind
the chain is brought forward (a revoke after it still refuses), and one whose MAC fails
(forged, altered or moved in the database) is not used at all.  SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from ledger import keys, seal
from ledger.chain import Author
from ledger.store import schema as t
from ledger.store.access import AccessStore, ReceiptToWrite
from ledger.store.ledger import Ledger
from ledger.times import format_ts, now_ms
from passport_api.auth import SignedRequest
from passport_api.errors import ForbiddenError
from passport_api.ratelimit import Limiter, Limits
from passport_api.read_cache import ReadCache
from passport_api.reads import PreparedRead, verify_and_prepare
from tests.faults.test_access_more import read_body, signed
from tests.store.test_cold_reads import statements
from wallet.fields import set_field

SERVICE = keys.generate()
SERVICE_DID = keys.did_of(SERVICE)


def granting(ledger: Ledger) -> Author:
    """A member who set ``today`` and granted it to SERVICE (grant ``grant-today-1``)."""
    member = Author(keys.generate())
    update = set_field(member, "today", "at the library", [])
    ledger.append_batch([update.record.raw], update.blobs)
    key = seal.wrap_key(update.sealed.content_key, SERVICE_DID)
    grant = member.next("consent.grant", {
        "grant": "grant-today-1", "grantee": SERVICE_DID, "fields": ["today"], "purpose": "tests",
        "expires": format_ts(now_ms() + 3600_000), "keys": {"today": key}})
    ledger.append_batch([grant.raw], {})
    return member


def read(cache: ReadCache, member: str) -> PreparedRead | ForbiddenError:
    body = read_body(member, ["today"])
    request = SignedRequest("POST", "/v1/reads", "", signed(SERVICE, "POST", "/v1/reads", body),
                            body, now_ms() // 1000)
    return verify_and_prepare(cache, Limiter(Limits()), request, member=member,
                              fields=["today"], now_ms=now_ms())[1]


def served(ledger: Ledger, prepared: PreparedRead | ForbiddenError) -> PreparedRead:
    """The read, its receipt (and the view it folded) committed as a group commit does."""
    assert isinstance(prepared, PreparedRead), prepared
    AccessStore(ledger.engine).spend_and_receipt([ReceiptToWrite(
        keyid=SERVICE_DID, nonce=secrets.token_urlsafe(18), nonce_expires_ms=now_ms() + 60_000,
        member=prepared.member, service=prepared.service, served_ms=prepared.served_ms,
        receipt=prepared.receipt, node_sig=prepared.node_sig,
        view_state=prepared.view_state)], now_ms(), ledger.sign_statement)
    return prepared


def stored(ledger: Ledger) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        return {row.author: row for row in conn.execute(sa.select(t.consent_views))}


def chain_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if "JOIN records" in s or "FROM records" in s]


def test_a_cold_read_stores_its_view_and_the_next_takes_it_without_the_chain(
        ledger: Ledger) -> None:
    m = granting(ledger)
    first = served(ledger, read(ReadCache(ledger), m.did))
    assert first.view_state is not None and first.view_state.seq == 2
    assert stored(ledger)[m.did].seq == 2
    cache = ReadCache(ledger)  # another worker, or this one after a restart
    with statements(ledger, cache) as seen:
        again = served(ledger, read(cache, m.did))
    assert chain_reads(seen) == [] and len(seen) >= 1  # the marks statement only (and blobs)
    assert again.view_state is None  # nothing new to store
    assert [f.blob for f in again.fields] == [f.blob for f in first.fields]


def test_a_stored_view_behind_the_chain_is_brought_forward(ledger: Ledger) -> None:
    m = granting(ledger)
    served(ledger, read(ReadCache(ledger), m.did))  # stored at seq 2
    update = set_field(m, "mood", "curious", [])
    ledger.append_batch([update.record.raw], update.blobs)
    moved = served(ledger, read(ReadCache(ledger), m.did))
    assert moved.view_state is not None and stored(ledger)[m.did].seq == 3
    revoke = m.next("consent.revoke", {"grant": "grant-today-1"})
    ledger.append_batch([revoke.raw], {})
    refused = read(ReadCache(ledger), m.did)  # from the row at seq 3, plus the revoke
    assert isinstance(refused, ForbiddenError)
    assert refused.extra["fields"]["today"]["reason"] == "revoked"


Tamper = Callable[[Ledger, Author, Author], dict[str, object]]
TAMPERS: dict[str, Tamper] = {
    # the row made to look current: it names the chain's seq and head after the revoke
    "moved to the revoke": lambda ledger, m, _: {
        "seq": 3, "head": ledger.records_of(m.did, frozenset({"consent.revoke"}))[0].record.id},
    "mac flipped": lambda ledger, m, _: {"mac": bytes(32)},
    "another member's records": lambda ledger, m, other: {
        column: stored(ledger)[other.did]._mapping[column] for column in
        ("records", "mac")},
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_stored_view_altered_in_the_database_is_not_used(ledger: Ledger,
                                                           tamper: str) -> None:
    m, other = granting(ledger), granting(ledger)
    served(ledger, read(ReadCache(ledger), m.did))
    served(ledger, read(ReadCache(ledger), other.did))
    revoke = m.next("consent.revoke", {"grant": "grant-today-1"})
    ledger.append_batch([revoke.raw], {})
    change = TAMPERS[tamper](ledger, m, other)
    with ledger.engine.begin() as conn:
        conn.execute(t.consent_views.update().where(t.consent_views.c.author == m.did)
                     .values(change))
    cache = ReadCache(ledger)
    with statements(ledger, cache) as seen:
        refused = read(cache, m.did)
    assert isinstance(refused, ForbiddenError)
    assert refused.extra["fields"]["today"]["reason"] == "revoked"
    assert chain_reads(seen)  # the chain was read: the row was not believed


def test_forgetting_the_stored_views_makes_the_next_read_fold_and_store_again(
        ledger: Ledger) -> None:
    m = granting(ledger)
    served(ledger, read(ReadCache(ledger), m.did))
    assert ledger.forget_stored_views() == 1 and stored(ledger) == {}
    cache = ReadCache(ledger)
    with statements(ledger, cache) as seen:
        again = served(ledger, read(cache, m.did))
    assert chain_reads(seen) and again.view_state is not None and m.did in stored(ledger)


def test_a_view_brought_forward_stores_only_the_latest_value_of_each_field(
        ledger: Ledger) -> None:
    m = granting(ledger)
    served(ledger, read(ReadCache(ledger), m.did))  # stored at seq 2
    for n in range(3):
        update = set_field(m, "today", f"in room {n}", [])
        key = seal.wrap_key(update.sealed.content_key, SERVICE_DID)
        ledger.append_batch([update.record.raw], update.blobs)
        grant = m.next("consent.grant", {
            "grant": f"grant-today-{n + 2}", "grantee": SERVICE_DID, "fields": ["today"],
            "purpose": "tests", "expires": format_ts(now_ms() + 3600_000),
            "keys": {"today": key}})
        ledger.append_batch([grant.raw], {})
    moved = served(ledger, read(ReadCache(ledger), m.did))  # from the row at seq 2, +6
    assert moved.view_state is not None and moved.view_state.seq == 8
    types = [t for _, _, t, _ in msgspec.msgpack.decode(stored(ledger)[m.did].records)]
    assert types.count("passport.set") == 1 and types.count("consent.grant") == 4
    again = served(ledger, read(ReadCache(ledger), m.did))  # taken from the compacted row
    assert again.view_state is None and again.fields[0].blob == moved.fields[0].blob
