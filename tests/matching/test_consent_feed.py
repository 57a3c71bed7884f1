"""The consent feed of a grantee over real HTTP (`passport node serve`, SQLite and PostgreSQL):
grants naming it, and exactly its granters' revokes, values and clears, in log order, paged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from ledger.times import now_ms
from tests.api.conftest import Node, node  # noqa: F401  # the real node, both databases
from wallet import keystore
from wallet.wallet import Wallet

PASSPHRASE = "correct horse battery"
DAY_MS = 86_400_000


def wallet(home: Path, url: str, role: str = "member") -> Wallet:
    keystore.save(keystore.create(role), home, PASSPHRASE, profile="interactive")
    w = Wallet(home, keystore.load(home, PASSPHRASE), PASSPHRASE, url)
    w.sync()
    return w


def feed(url: str, did: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/grantees/{did}/consent", params=params, timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def summary(page: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for item in page["records"]:
        rec = json.loads(item["record"])
        out.append((rec["author"], rec["type"], rec["body"].get("field", "")))
    return out


def test_feed_holds_grants_to_the_grantee_and_its_granters_changes_only(
        node: Node, tmp_path: Path) -> None:  # noqa: F811  # the fixture imported above
    service = wallet(tmp_path / "svc", node.url, "service")
    other = wallet(tmp_path / "other", node.url, "service")
    alice = wallet(tmp_path / "alice", node.url)
    bob = wallet(tmp_path / "bob", node.url)
    carol = wallet(tmp_path / "carol", node.url)
    start = feed(node.url, service.did)
    assert start["records"] == [] and start["more"] is False

    alice.set("expertise", "rust")  # before her grant: still in the feed (she is a granter)
    alice.grant(service.did, ["expertise", "city"], "matching", now_ms() + DAY_MS)
    alice.set("city", "Utrecht")
    bob.set("expertise", "gardening")
    # Bob names the service's did inside another grant: the exact body check leaves it out.
    bob.grant(other.did, ["expertise"], f"like {service.did}", now_ms() + DAY_MS)
    carol.set("looking_for", "ux")
    gid = carol.grant(service.did, ["looking_for"], "matching", now_ms() + DAY_MS)
    carol.revoke(gid)
    carol.clear("looking_for")

    full = feed(node.url, service.did)
    assert summary(full) == [
        (alice.did, "passport.set", "expertise"), (alice.did, "consent.grant", ""),
        (alice.did, "passport.set", "city"), (carol.did, "passport.set", "looking_for"),
        (carol.did, "consent.grant", ""), (carol.did, "consent.revoke", ""),
        (carol.did, "passport.clear", "looking_for")]
    indexes = [r["index"] for r in full["records"]]
    assert indexes == sorted(indexes) and full["scanned_to"] >= indexes[-1]
    assert full["more"] is False
    assert [r["index"] for r in feed(node.url, other.did)["records"]] and \
        bob.did in {a for a, _, _ in summary(feed(node.url, other.did))}

    # Paging one record at a time walks the same records; a cursor at the end sees nothing new.
    walked: list[int] = []
    cursor = -1
    while True:
        page = feed(node.url, service.did, after_index=cursor, limit=1)
        walked.extend(r["index"] for r in page["records"])
        assert page["scanned_to"] >= cursor
        cursor = page["scanned_to"]
        if not page["more"]:
            break
    assert walked == indexes
    assert feed(node.url, service.did, after_index=cursor)["records"] == []

    # What happens after the cursor, and only that, comes next.
    alice.set("expertise", "rust and compilers")
    assert summary(feed(node.url, service.did, after_index=cursor)) == [
        (alice.did, "passport.set", "expertise")]


def test_feed_refuses_a_malformed_grantee_as_a_problem(node: Node) -> None:  # noqa: F811
    r = httpx.get(f"{node.url}/v1/grantees/not-a-did/consent", timeout=30)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/v1/problems/bad-request"
