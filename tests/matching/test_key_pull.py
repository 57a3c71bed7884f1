"""The matcher's verifier learns a member's keys from their chain on a real node (`passport node
serve`, both databases): right after a rotation the member's next request is accepted, while the
pulls failed signatures can cause stay limited to one per second per member."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import keys
from matching.sync import KEY_PULL_EVERY_S, NodeSync
from passport_api.client import NodeClient
from tests.api.conftest import Node, node  # noqa: F401  # the real node, both databases
from tests.matching.test_consent_feed import wallet
from wallet import keystore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_rotation_right_after_the_first_look_is_seen(node: Node,  # noqa: F811
                                                      clock: Clock, tmp_path: Path) -> None:
    ann = wallet(tmp_path / "ann", node.url)
    sync = NodeSync(NodeClient(node.url), clock)
    own = [keys.public_key_from_did(ann.did)]
    assert sync.keys_in_force(ann.did) == own  # the first look at ann's chain (a join, say)
    rotated = keys.public_key_from_did(ann.rotate())  # in the same instant
    assert sync.keys_in_force(ann.did) == own  # nothing failed yet: the keys held are used
    assert sync.keys_in_force(ann.did, fresh=True) == [rotated]  # her next request: accepted


def test_pulls_after_failed_signatures_are_limited(node: Node,  # noqa: F811
                                                   clock: Clock, tmp_path: Path) -> None:
    ann = wallet(tmp_path / "ann", node.url)
    sync = NodeSync(NodeClient(node.url), clock)
    own = keys.public_key_from_did(ann.did)
    sync.keys_in_force(ann.did)
    assert sync.keys_in_force(ann.did, fresh=True) == [own]  # a failure: pulled, nothing new
    phone = keystore.create_device(ann.did)
    phone_key = bytes(phone.signing_keys[0].verify_key)
    ann.add_device(keys.did_of(phone.signing_keys[0]), "phone")
    clock.now += KEY_PULL_EVERY_S / 2
    assert sync.keys_in_force(ann.did, fresh=True) == [own]  # a second failure: not pulled
    clock.now += KEY_PULL_EVERY_S / 2
    assert sorted(sync.keys_in_force(ann.did, fresh=True)) == sorted([own, phone_key])
