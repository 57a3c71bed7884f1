"""Attestations through the real ``passport`` binary against a real node: a space attests a
member's presence, the member reads and accepts it, nobody else can read the claim.

Each start of the binary costs seconds, so one module fixture runs the commands, side by side
where they are independent, and the tests assert on what each printed and stored.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from tests.api.conftest import Node
from tests.cli.support import PASSPHRASE, Party, as_json, one_error_line, together
from wallet import keystore
from wallet.envelope import open_envelope, seal_envelope
from wallet.errors import EnvelopeError

CLAIM = {"kind": "presence", "place": "Hall B, Lisbon", "day": "2026-05-04"}
Run = subprocess.CompletedProcess[str]


@dataclass
class World:
    node: Node
    member: Party
    space: Party
    expert: nacl.signing.SigningKey  # a party with no wallet here: only its key
    foreign: str  # an attestation about someone else
    attested: Any
    helped: Any
    before: Any  # the node's list before the member accepted
    listed: Any  # the member's list after accepting
    accepted: Any
    refusals: dict[str, Run]

    def get(self, path: str) -> Any:
        return httpx.get(self.node.url + path, timeout=30).json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("attest")
    node = Node(tmp / "node", str(tmp / "node.sqlite"))
    try:
        member, space = Party(tmp / "member", node), Party(tmp / "space", node)
        inits = together(member.start("init", "--name", "Ana", "--json"),
                         space.start("init", "--name", "Hall B", "--role", "space", "--json"))
        member.did, space.did = (as_json(r)["did"] for r in inits)
        expert = keys.generate()
        expert_did = keys.did_of(expert)
        # the expert wrote an answer; someone else attested about the expert
        answer = Author(expert).next("key.rotate", {
            "next": expert_did, "next_commitment": "sha256:" + "1" * 64})
        other = Author(keys.generate())
        foreign = other.next("attest", {"subject": expert_did, "claim": {
            "sealed": seal_envelope({"x": 1}, [bytes(expert.verify_key)])}})
        for record in (answer, foreign):
            httpx.post(node.url + "/v1/records", json={"record": record.raw.decode(),
                                                       "blobs": {}}).raise_for_status()

        # the refusals change nothing, so they run beside the attestations
        attested, helped, self_attest, not_object, foreign_accept, unknown = together(
            space.start("attest", member.did, "--claim", json.dumps(CLAIM), "--json"),
            member.start("attest", expert_did, "--claim", '{"helped": true}',
                         "--about", answer.id, "--json"),
            space.start("attest", space.did, "--claim", "{}"),
            space.start("attest", member.did, "--claim", "[1, 2]"),
            member.start("accept", foreign.id),
            member.start("accept", "sha256:" + "0" * 64))
        aid = as_json(attested)["attestation"]
        before = httpx.get(f"{node.url}/v1/members/{member.did}/attestations").json()
        accepted = member.ok("accept", aid)
        twice, listed = together(member.start("accept", aid),
                                 member.start("attestations", "--json"))
        yield World(node=node, member=member, space=space, expert=expert, foreign=foreign.id,
                    attested=as_json(attested), helped=as_json(helped), before=before,
                    listed=as_json(listed), accepted=accepted,
                    refusals={"self": self_attest, "not-object": not_object,
                              "foreign": foreign_accept, "unknown": unknown, "twice": twice})
    finally:
        node.stop()


def test_member_lists_the_attestation_with_its_claim_opened(world: World) -> None:
    aid = world.attested["attestation"]
    assert [(a["id"], a["accepted"]) for a in world.before["attestations"]] == [(aid, False)]
    listed = world.listed["attestations"]
    party = listed[0].pop("attester_party")  # the attester by its public name
    assert party == {"did": world.space.did, "name": "Hall B", "kind": "space",
                     "source": "directory"}
    assert listed == [{"id": aid, "attester": world.space.did, "ts": listed[0]["ts"],
                       "claim": CLAIM, "about": None, "accepted": True}]


def test_the_claim_is_ciphertext_on_the_node_and_only_the_two_parties_open_it(
        world: World) -> None:
    stored = world.get(f"/v1/records/{world.attested['attestation']}")["record"]
    assert "Hall B" not in stored and "presence" not in stored
    assert world.member.did in stored  # who was attested is public; what, is not
    sealed = json.loads(stored)["body"]["claim"]["sealed"]
    with pytest.raises(EnvelopeError):
        open_envelope(sealed, [world.expert, keys.generate()])
    for party in (world.member, world.space):
        assert open_envelope(sealed, keystore.load(party.home, PASSPHRASE).signing_keys) == CLAIM


def test_accept_puts_it_in_the_passport_once(world: World) -> None:
    aid = world.attested["attestation"]
    assert world.accepted["attestation"] == aid
    on_node = world.get(f"/v1/members/{world.member.did}/attestations")["attestations"]
    assert [(a["id"], a["accepted"]) for a in on_node] == [(aid, True)]
    chain = world.get(f"/v1/members/{world.member.did}/chain")["records"]
    accepts = [json.loads(r["record"]) for r in chain if '"type":"attest.accept"' in r["record"]]
    assert [a["body"] for a in accepts] == [{"attestation": aid}]
    line = one_error_line(world.refusals["twice"])
    assert "already accepted" in line and world.accepted["record"] in line


def test_accepting_a_foreign_or_unknown_id_is_refused(world: World) -> None:
    assert "is not an attestation about you" in one_error_line(world.refusals["foreign"])
    assert "no record" in one_error_line(world.refusals["unknown"])


def test_bad_attestations_are_refused_with_one_line(world: World) -> None:
    assert "yourself" in one_error_line(world.refusals["self"])
    assert "JSON object" in one_error_line(world.refusals["not-object"])
    chain = world.get(f"/v1/members/{world.space.did}/chain")["records"]
    assert sum('"type":"attest"' in r["record"] for r in chain) == 1


def test_a_member_attests_that_an_answer_helped_them(world: World) -> None:
    expert = keys.did_of(world.expert)
    listed = world.get(f"/v1/members/{expert}/attestations")["attestations"]
    mine = [json.loads(a["record"]) for a in listed if a["id"] == world.helped["attestation"]]
    assert len(mine) == 1 and mine[0]["author"] == world.member.did
    body = mine[0]["body"]
    assert body["about"].startswith("sha256:")
    assert open_envelope(body["claim"]["sealed"], [world.expert]) == {"helped": True}
