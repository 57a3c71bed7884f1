"""``set`` on a synced wallet: at most two round trips, right keys after rotations.

The round trips are counted where the process's node client sends them (its transport's
``send``) to a real node, so a regression that re-fetches chains or heads before writing fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import keys, seal
from ledger.chain import Author
from ledger.errors import SealError
from ledger.times import now_ms
from passport_api.client import transport
from tests.api.conftest import Node
from wallet import keystore
from wallet.fields import set_field
from wallet.wallet import Wallet

PASS = "set test passphrase"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("set")
    started = Node(tmp / "node", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def wallet(home: Path, node: Node, role: str = "member") -> Wallet:
    keystore.save(keystore.create(role), home, PASS, profile="interactive")
    w = Wallet(home, keystore.load(home, PASS), PASS, node.url)
    w.sync()
    return w


class Counter:
    """Every request the process sends to ``url``, by method and path."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[str] = []
        self._send = transport.send

    def __enter__(self) -> Counter:
        transport.send = self._count
        return self

    def __exit__(self, *_exc: object) -> None:
        transport.send = self._send

    def _count(self, url: str, method: str, path_and_query: str,
               **kw: Any) -> transport.Answer:
        if url.startswith(self.url):
            self.seen.append(f"{method} {path_and_query.split('?', 1)[0]}")
        return self._send(url, method, path_and_query, **kw)


def test_a_set_on_a_synced_wallet_makes_at_most_two_round_trips(node: Node,
                                                                 tmp_path: Path) -> None:
    alice = wallet(tmp_path / "alice", node)
    rides = wallet(tmp_path / "rides", node, "service")
    alice.set("city", "Utrecht")
    alice.grant(rides.did, ["city"], "rides", now_ms() + DAY_MS)
    for i in range(5):  # a longer chain, and other writers moving the log
        alice.set("today", f"day {i}")
        rides.set("today", f"service day {i}")
    with Counter(node.url) as counter:
        record = alice.set("city", "Rotterdam")
    assert len(counter.seen) <= 2, counter.seen
    assert counter.seen[0] == "POST /v1/records"
    # The head the append returned was checked and adopted: it covers the record.
    assert alice.state.size == alice.client.record(record.id).index + 1
    # The value is sealed to the reader's key: its read opens it.
    assert rides.read(alice.did, ["city"])["fields"]["city"]["value"] == "Rotterdam"
    for w in (alice, rides):
        w.close()


def test_set_after_rotate_key_seals_to_the_keys_in_force(node: Node, tmp_path: Path) -> None:
    alice = wallet(tmp_path / "alice", node)
    rides = wallet(tmp_path / "rides", node, "service")
    alice.set("city", "Utrecht")
    alice.grant(rides.did, ["city"], "rides", now_ms() + DAY_MS)
    alice.rotate()
    alice.set("city", "Delft")  # signed and sealed with the rotated key
    assert alice.field("city").value == "Delft"
    rides.rotate()  # the reader's key moves: the member's next sync follows it
    alice.sync()
    alice.set("city", "Leiden")
    assert rides.read(alice.did, ["city"])["fields"]["city"]["value"] == "Leiden"
    again = Wallet(alice.home, keystore.load(alice.home, PASS), PASS, node.url)
    again.sync()  # a fresh wallet rebuilds the same from the node
    assert again.field("city").value == "Leiden"
    for w in (alice, rides, again):
        w.close()


def test_set_field_after_a_rotation_seals_to_the_new_key() -> None:
    """``set_field`` (the one field-record rule) seals the member's copy to the key it signs
    with now: after ``key.rotate`` that is no longer its did's key."""
    first, second = keys.generate(), keys.generate()
    member = Author(first)
    member.next("key.rotate", {"next": member.did,
                               "next_commitment": keys.key_commitment(bytes(
                                   second.verify_key))})
    member.rotate(second, keys.key_commitment(bytes(keys.generate().verify_key)))
    update = set_field(member, "city", "Utrecht", [])
    wrapped = update.sealed.recipients[member.did]
    content_key = seal.unwrap_key(wrapped, second)
    assert seal.open_blob(update.sealed.blob, content_key, author=member.did, field="city",
                          seq=update.record.seq,
                          expected_commitment=update.record.body["commitment"]) == "Utrecht"
    with pytest.raises(SealError):
        seal.unwrap_key(wrapped, first)
