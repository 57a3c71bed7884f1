"""A real node for the presentation tests (SQLite only: presentations never touch the node's
database beyond what the wallet tests already run on both), and wallets on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Node
from wallet import keystore
from wallet.wallet import Wallet

PASSPHRASE = "correct horse battery"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("vc-node")
    started = Node(tmp / "home", str(tmp / "node.sqlite"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def make_wallet(node: Node, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Callable[[str], Wallet]]:
    """A synced wallet of a new party (member, space or service) on the module's node."""
    opened: list[Wallet] = []

    def make(role: str = "member") -> Wallet:
        home: Path = tmp_path_factory.mktemp(role)
        keystore.save(keystore.create(role), home, PASSPHRASE, profile="interactive")
        wallet = Wallet(home, keystore.load(home, PASSPHRASE), PASSPHRASE, node.url)
        wallet.sync()
        opened.append(wallet)
        return wallet

    yield make
    for wallet in opened:
        wallet.close()
