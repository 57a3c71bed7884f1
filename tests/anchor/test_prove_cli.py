"""`passport prove`: the inclusion proof, and the anchor once the node has anchored the record,
checked on a real anvil chain."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests import clizygote
from tests.anchor.conftest import Anvil
from tests.api.conftest import Node
from wallet import keystore, portable
from wallet.errors import ExportInvalidError
from wallet.wallet import Wallet

ROOT = Path(__file__).resolve().parents[2]
PASS = "prove test passphrase"


def prove(home: Path, node: Node, *args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": PASS,
           "PASSPORT_NODE": node.url}
    result = clizygote.run(["prove", *args, "--home", str(home), "--json"], env)
    assert result.returncode == 0, result.stderr
    out: dict[str, object] = json.loads(result.stdout)
    return out


def synced(home: Path, node: Node) -> Wallet:
    """A member's wallet on ``node`` (made on first use), synced."""
    if not keystore.path_in(home).exists():
        keystore.save(keystore.create("member"), home, PASS, profile="interactive")
    wallet = Wallet(home, keystore.load(home, PASS), PASS, node.url)
    wallet.sync()
    return wallet


def test_prove_shows_the_anchor_checked_on_chain(tmp_path: Path, anvil: Anvil) -> None:
    node = Node(tmp_path / "node", str(tmp_path / "n.sqlite"),
                args=("--anchor-rpc", anvil.url, "--anchor-every-records", "1"),
                env={"PASSPORT_ANCHOR_POLL_S": "0.2"})  # the node anchors within a second
    try:
        home = tmp_path / "alice"
        alice = synced(home, node)
        record = alice.set("city", "Utrecht")
        alice.close()
        before = prove(home, node, record.id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = httpx.get(f"{node.url}/v1/records/{record.id}/evidence", timeout=10)
            if status.status_code == 200:
                break
            time.sleep(0.3)
        after = prove(home, node, record.id, "--rpc", anvil.url)
        again = synced(home, node)
        document = portable.export(again)
        again.close()
    finally:
        node.stop()
    # The export carries the anchor evidence, checked offline; a changed one is refused.
    assert [e["record"]["id"] for e in document["anchors"]][-1] == record.id
    assert portable.verify_export(document).member == again.did
    document["anchors"][-1]["anchor"]["tree_size"] += 1
    with pytest.raises(ExportInvalidError):
        portable.verify_export(document)
    assert before["id"] == record.id and before["verified"] is True
    anchor = after["anchor"]
    assert isinstance(anchor, dict) and anchor["status"] == "anchored", anchor
    assert anchor["chain_checked"] is True and anchor["evidence"]["record"]["id"] == record.id


def test_prove_says_when_there_is_no_anchor(tmp_path: Path) -> None:
    node = Node(tmp_path / "node", str(tmp_path / "n.sqlite"))
    try:
        home = tmp_path / "bob"
        bob = synced(home, node)
        record = bob.set("city", "Delft")
        bob.close()
        shown = prove(home, node, record.id)
    finally:
        node.stop()
    anchor = shown["anchor"]
    assert isinstance(anchor, dict) and anchor["status"] == "not-anchored" and anchor["reason"]
