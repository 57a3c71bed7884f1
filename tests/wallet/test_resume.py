"""A wallet's verified chain state kept between processes (wallet.resume, wallet.keeper).

Each ``Wallet(...)`` built on a home below stands for a new CLI process: it loads what an
earlier one kept in ``chain.json`` and asks a real node only for the records after it.  The
records it fetched are counted by the wallet (``served``) and, on the wire, by the chain
pages the process's transport sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import keys
from ledger.times import now_ms
from passport_api.client import transport
from tests.api.conftest import Node
from wallet import keystore, resume
from wallet.errors import UsageError
from wallet.wallet import Wallet

PASS = "resume test passphrase"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("resume")
    started = Node(tmp / "node", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def opened(home: Path, node: Node) -> Wallet:
    """A new process's wallet: nothing in memory, everything from the home and the node."""
    if not keystore.path_in(home).exists():
        keystore.save(keystore.create("member"), home, PASS, profile="interactive")
    w = Wallet(home, keystore.load(home, PASS), PASS, node.url)
    w.sync()
    return w


class ChainPages:
    """The pages of ``did``'s chain this process asks ``url`` for."""

    def __init__(self, url: str, did: str) -> None:
        self.url, self.did, self.pages = url, did, 0
        self._send = transport.send

    def __enter__(self) -> ChainPages:
        transport.send = self._count
        return self

    def __exit__(self, *_exc: object) -> None:
        transport.send = self._send

    def _count(self, url: str, method: str, path_and_query: str,
               **kw: Any) -> transport.Answer:
        if url.startswith(self.url) and path_and_query.split("?", 1)[0].endswith(
                f"/{self.did}/chain"):
            self.pages += 1
        return self._send(url, method, path_and_query, **kw)


def snapshot(w: Wallet) -> tuple[object, ...]:
    view = w.view()
    return (w.chain_state, w.author.seq, w.author.head, dict(view.values), dict(view.grants),
            view.anomalies, view.seq)


def test_the_next_process_fetches_only_what_is_new(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "alice"
    first = opened(home, node)
    reader = opened(tmp_path / "rides", node)
    first.set("city", "Utrecht")
    first.grant(reader.did, ["city"], "rides", now_ms() + DAY_MS)
    for i in range(20):
        first.set("activity", f"day {i}")
    first.clear("activity")
    with ChainPages(node.url, first.did) as wire:
        second = opened(home, node)
    assert second.served == 1  # its own head record, to check the node continues it
    assert wire.pages == 1
    assert snapshot(second) == snapshot(first)
    assert second.field("city").value == "Utrecht"
    kept = resume.path_in(home).read_bytes()
    first.set("city", "Delft")  # two more records, and the state as it was before them:
    first.set("activity", "rest")  # a process that stopped before keeping its state
    resume.path_in(home).write_bytes(kept)
    third = opened(home, node)
    assert third.served == 3
    assert third.field("city").value == "Delft"
    assert snapshot(third) == snapshot(first)
    # It builds on what it holds: its set is sealed to the live reader, as the first's was.
    third.set("city", "Leiden")
    assert reader.read(first.did, ["city"])["fields"]["city"]["value"] == "Leiden"


def test_the_cost_does_not_grow_with_the_chain(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "long"
    w = opened(home, node)
    for i in range(40):
        w.set("activity", f"{i}")
    assert opened(home, node).served == 1
    kept = json.loads(resume.path_in(home).read_text())
    assert len(kept["consent"]) == 1  # the latest set of the one field: not 40 records


def test_the_whole_chain_loads_only_when_asked_and_is_checked(node: Node,
                                                               tmp_path: Path) -> None:
    home = tmp_path / "erase"
    first = opened(home, node)
    first.set("city", "a")
    first.set("city", "b")
    second = opened(home, node)
    assert second._chain is None  # not loaded by sync
    assert [r.id for r in second.chain] == [r.id for r in first.chain]
    assert len(second.erase("city")) == 2


@pytest.mark.parametrize("damage", [b"", b"{", b'{"v": 1}', b"[1, 2]", b'{"v": 99}', "cut"])
def test_a_torn_or_damaged_state_falls_back_to_the_whole_chain(
        node: Node, tmp_path: Path, damage: bytes | str,
        caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "torn"
    first = opened(home, node)
    first.set("city", "Utrecht")
    path = resume.path_in(home)
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2] if damage == "cut" else damage)  # type: ignore[index]
    with caplog.at_level(logging.WARNING):
        again = opened(home, node)
    assert again.served == first.author.seq  # every record, checked from seq 1
    assert "verifying your whole chain" in caplog.text and str(path) in caplog.text
    assert snapshot(again) == snapshot(first)
    assert resume.load(home, first.did, node.url) is not None  # kept whole again


def test_a_state_the_node_does_not_continue_is_dropped(node: Node, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A state naming a head the node does not serve at its seq (another history) is not
    built on: the wallet says so and verifies the whole chain the node serves."""
    home = tmp_path / "fork"
    first = opened(home, node)
    first.set("city", "Utrecht")
    path = resume.path_in(home)
    kept = json.loads(path.read_text())
    state = json.loads(kept["state"])
    state["head"] = "sha256:" + "0" * 64
    kept["state"] = json.dumps(state)
    path.write_text(json.dumps(kept))
    with caplog.at_level(logging.WARNING):
        again = opened(home, node)
    assert "does not continue the chain state" in caplog.text
    assert again.served == 1 + first.author.seq  # the head it asked for, then every record
    assert snapshot(again) == snapshot(first)


def test_a_node_missing_records_the_copy_holds_is_still_refused(node: Node,
                                                                 tmp_path: Path) -> None:
    home = tmp_path / "lost"
    first = opened(home, node)
    first.set("city", "Utrecht")
    copy = home / "own" / "records.jsonl"
    lines = copy.read_bytes()
    copy.write_bytes(lines + lines.splitlines(keepends=True)[-1])  # one record the node lacks
    with pytest.raises(UsageError, match="missing"):
        opened(home, node)


def test_the_state_file_is_private_and_holds_no_secret(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "private"
    w = opened(home, node)
    w.set("city", "Utrecht")
    path = resume.path_in(home)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_bytes()
    for key in w.store.signing_keys:
        assert bytes(key).hex().encode() not in text
    assert b"Utrecht" not in text  # values stay sealed: records only


def test_a_device_wallet_resumes_too(node: Node, tmp_path: Path) -> None:
    laptop = opened(tmp_path / "laptop", node)
    phone_home = tmp_path / "phone"
    store = keystore.create_device(laptop.did)
    keystore.save(store, phone_home, PASS, profile="interactive")
    laptop.add_device(keys.did_of(store.signing_keys[0]), "phone")
    phone = opened(phone_home, node)
    phone.set("city", "Utrecht")
    laptop_again = opened(tmp_path / "laptop", node)
    laptop_again.set("activity", "rest")
    again = opened(phone_home, node)
    assert again.served == 2  # its head, then the laptop's one record
    assert again.field("city").value == "Utrecht" and again.field("activity").value == "rest"
    assert snapshot(again) == snapshot(laptop_again)
