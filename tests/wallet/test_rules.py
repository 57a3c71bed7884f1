"""Rules that left the CLI: readers per field, leaving a service, the ``space`` field's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import keys
from ledger.times import format_ts, now_ms, parse_ts
from matching.model import profile_from_granted
from tests.api.conftest import Node
from wallet import keystore
from wallet.fields import STANDARD_FIELDS, is_standard
from wallet.grants import leave, readers_by_field
from wallet.presence import space_value
from wallet.wallet import Wallet

PASS = "rules test passphrase"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("rules")
    started = Node(tmp / "node", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def test_leave_revokes_every_live_grant_to_that_service_and_no_other(node: Node,
                                                                     tmp_path: Path) -> None:
    keystore.save(keystore.create("member"), tmp_path, PASS, profile="interactive")
    alice = Wallet(tmp_path, keystore.load(tmp_path, PASS), PASS, node.url)
    alice.sync()
    alice.set("city", "Utrecht")
    matcher, rides = keys.did_of(keys.generate()), keys.did_of(keys.generate())
    first = alice.grant(matcher, ["city"], "matching", now_ms() + DAY_MS)
    second = alice.grant(matcher, ["name"], "matching", now_ms() + DAY_MS)
    other = alice.grant(rides, ["city"], "rides", now_ms() + DAY_MS)
    assert readers_by_field(alice.view(), ["city", "name", "contact"], now_ms()) == {
        "city": sorted([matcher, rides]), "name": [matcher], "contact": []}

    assert leave(alice, matcher) == [first, second]
    grants = alice.view().grants
    assert grants[first].revoked and grants[second].revoked and not grants[other].revoked
    assert readers_by_field(alice.view(), ["city"], now_ms()) == {"city": [rides]}
    assert leave(alice, matcher) == []  # nothing live is left to revoke
    alice.close()


def test_the_space_field_is_what_the_matcher_reads_as_presence() -> None:
    space, at = keys.did_of(keys.generate()), parse_ts("2026-11-30T09:00:00Z")
    value = space_value(space, "sha256:" + "ab" * 32, at)
    assert value == {"space": space, "checkin": "sha256:" + "ab" * 32,
                     "at": format_ts(at)}
    profile = profile_from_granted(keys.did_of(keys.generate()), {"space": value},
                                   {"space": at + 5_000})
    assert profile.presence is not None
    assert profile.presence.space == space and profile.presence.since_ms == at


def test_standard_fields() -> None:
    assert all(is_standard(f) for f in STANDARD_FIELDS)
    assert not is_standard("favourite_colour")
