"""A second device: its own key on the member's chain, revocable by one record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.errors import KeyFormatError
from tests.api.conftest import Node
from wallet import keystore
from wallet.errors import KeystoreError, UsageError
from wallet.wallet import Wallet

PASS = "device test passphrase"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("devices")
    started = Node(tmp / "node", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def wallet(home: Path, store: keystore.Keystore, node: Node) -> Wallet:
    keystore.save(store, home, PASS, profile="interactive")
    return Wallet(home, keystore.load(home, PASS), PASS, node.url)


def test_add_use_and_remove_a_device(node: Node, tmp_path: Path) -> None:
    laptop = wallet(tmp_path / "laptop", keystore.create("member"), node)
    laptop.sync()
    laptop.set("city", "Utrecht")
    phone_store = keystore.create_device(laptop.did)
    phone_did = keys.did_of(phone_store.signing_keys[0])
    assert not set(phone_store.seeds) & set(laptop.store.seeds)  # no key copied across
    phone = wallet(tmp_path / "phone", phone_store, node)
    with pytest.raises(KeystoreError, match="not on the member's chain yet"):
        phone.sync()

    laptop.add_device(phone_did, "phone")
    phone.sync()
    assert phone.field("city").value == "Utrecht"  # re-sealed to the device on add
    written = phone.set("activity", "written on the phone")
    assert keys.did_of(phone.author.signing_key) == phone_did
    laptop.sync()
    assert laptop.field("activity").value == "written on the phone"
    assert written.author == laptop.did
    assert phone.receipts() == []  # a signed request by the device, as the member
    with pytest.raises(UsageError):
        phone.rotate()

    laptop.remove_device(phone_did)
    later = laptop.set("city", "Rotterdam")
    assert phone_did not in later.body["recipients"]
    with pytest.raises(KeystoreError, match="removed"):
        phone.sync()
    # The lost phone's key is cut off: the node refuses what it signs for the chain.
    state = laptop.chain_state
    assert state is not None
    thief = Author(phone_store.signing_keys[0], did=laptop.did, seq=state.seq,
                   head=state.head)
    forged = thief.next("passport.clear", {"field": "city"})
    refused = httpx.post(f"{node.url}/v1/records", json={"record": forged.raw.decode()})
    assert refused.status_code == 422 and refused.json()["type"].endswith("bad-signature")
    with pytest.raises(UsageError, match="not a device in force"):
        laptop.remove_device(phone_did)
    for w in (laptop, phone):
        w.close()


def test_a_device_store_is_bound_to_its_member(tmp_path: Path) -> None:
    member = keys.did_of(keys.generate())
    store = keystore.create_device(member)
    keystore.save(store, tmp_path, PASS, profile="interactive")
    loaded = keystore.load(tmp_path, PASS)
    assert loaded.device and loaded.did == member and loaded.seeds == store.seeds
    with pytest.raises(KeyFormatError):
        keystore.create_device("did:web:example.com")
