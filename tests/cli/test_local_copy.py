"""A member keeps their own passport: the wallet's copy of its chain and sealed values puts it
back on a node that lost it (here: a fresh node at another address), and export works there."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import Node, node  # noqa: F401  (a real node per database)
from tests.cli.support import Party


def test_a_member_whose_node_lost_everything_publishes_their_passport(
        node: Node, tmp_path: Path) -> None:  # noqa: F811
    alice = Party(tmp_path / "alice", node).init("Alice")
    alice.ok("set", "city", "Utrecht")
    alice.ok("set", "activity", "Writing a field guide")
    alice.ok("erase", "activity", "--yes")
    alice.ok("set", "activity", "Mapping bike paths")
    kept = alice.ok("show")
    assert (alice.home / "own" / "records.jsonl").stat().st_mode & 0o777 == 0o600

    empty = Node(tmp_path / "empty", str(tmp_path / "empty.sqlite"))
    try:
        # a node without her chain (another log): nothing is written there, no second seq 1
        assert "not trusting it" in alice.fails("sync", node=empty)
        assert empty_chain(empty, alice.did)

        # the first activity was erased: its value is gone here too, so it cannot go back
        assert "not kept here" in alice.fails("publish", node=empty)
    finally:
        empty.stop()

    fresh = Node(tmp_path / "fresh", str(tmp_path / "fresh.sqlite"))
    try:
        bob = Party(tmp_path / "bob", node).init("Bob")
        bob.ok("set", "city", "Delft")
        published = bob.ok("publish", node=fresh)
        assert published["appended"] == published["records"] == 3  # genesis, name, city
        assert bob.ok("show", node=fresh)["fields"]["city"]["value"] == "Delft"
        exported = bob.ok("export", str(tmp_path / "bob.json"), node=fresh)
        assert exported["records"] == 3 and exported["blobs"] == 2
        assert bob.ok("set", "activity", "Baking", node=fresh)["seq"] == 4
        assert bob.ok("publish", node=fresh)["appended"] == 0  # nothing missing any more
    finally:
        fresh.stop()
    assert alice.ok("show") == kept  # her own node still has it all

    # a node holding fewer of her records than her wallet keeps is not written to
    copy = alice.home / "own" / "records.jsonl"
    whole = copy.read_bytes()
    copy.write_bytes(whole + whole.splitlines(keepends=True)[-1])
    refused = alice.fails("set", "city", "Rotterdam")
    assert "publish" in refused and "1 missing" in refused
    copy.write_bytes(whole)
    assert alice.ok("set", "city", "Rotterdam")["field"] == "city"


def empty_chain(served: Node, did: str) -> bool:
    return httpx.get(f"{served.url}/v1/members/{did}/chain").json()["records"] == []
