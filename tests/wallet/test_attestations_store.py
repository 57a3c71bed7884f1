"""Ledger.attestations_about: the attest records about one subject, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import keys
from ledger.chain import Author
from ledger.store.ledger import Ledger


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    opened = Ledger.open(db_url, log_key=keys.generate(), verify_workers=0)
    yield opened
    opened.close()


def test_finds_exactly_the_attestations_about_the_subject_in_log_order(ledger: Ledger) -> None:
    space, other = Author(keys.generate()), Author(keys.generate())
    member, stranger = keys.did_of(keys.generate()), keys.did_of(keys.generate())
    first = space.next("attest", {"subject": member, "claim": {"n": 0}})
    noise = [
        space.next("attest", {"subject": stranger, "claim": {"n": 9}}),
        # the subject's text inside a claim is not an attestation about them
        other.next("attest", {"subject": stranger, "claim": {"subject": member}}),
        other.next("device.add", {"device": member, "label": "subject"}),
    ]
    later = [space.next("attest", {"subject": member, "claim": {"n": i}}) for i in (1, 2)]
    about_member = [first, *later]
    ledger.append_batch([first.raw, *(r.raw for r in noise)])
    ledger.append_batch([r.raw for r in later])

    found = ledger.attestations_about(member)

    assert [s.record.id for s in found] == [r.id for r in about_member]
    assert found == sorted(found, key=lambda s: s.index)
    assert ledger.attestations_about(stranger)[0].record.body["claim"] == {"n": 9}


def test_pages_by_log_index(ledger: Ledger) -> None:
    space = Author(keys.generate())
    member = keys.did_of(keys.generate())
    records = [space.next("attest", {"subject": member, "claim": {"n": i}}) for i in range(5)]
    ledger.append_batch([r.raw for r in records])

    first = ledger.attestations_about(member, limit=2)
    rest = ledger.attestations_about(member, after_index=first[-1].index, limit=10)

    assert [s.record.id for s in first + rest] == [r.id for r in records]
    assert ledger.attestations_about(member, after_index=rest[-1].index) == []


def test_nobody_attested_is_an_empty_list(ledger: Ledger) -> None:
    assert ledger.attestations_about(keys.did_of(keys.generate())) == []
