"""The matcher's vectors on disk (``matching.vector_store``): a restart embeds nothing it had,
answers the same, the file is 0600, holds only vectors of texts still granted, and never a
question's."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

import nacl.signing
import numpy as np
import pytest

from ledger import keys
from matching.embed import text_key, use_encoder
from matching.index import offer_text
from matching.model import profile_from_granted
from matching.rank import route_question
from matching.service import Matcher
from matching.state_store import StateError, StateStore
from matching.sync import NodeSync
from matching.vector_store import StoredEncoder, VectorStore, beside
from passport_api.client import NodeClient

NOW = 1_795_000_000_000
PEOPLE = {
    "did:t:ana": {"expertise": "boekhouder", "can_help_with": "btw-aangifte, jaarrekening"},
    "did:t:ben": {"expertise": "site reliability engineer", "can_help_with": "k8s, terraform"},
    "did:t:cas": {"expertise": "photographe", "looking_for": "un comptable"},
    "did:t:dan": {"expertise": "UX researcher", "can_help_with": "usability tests"},
}


class Counting:
    """The real model, counting the texts it is given."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return use_encoder(texts)


def matcher(tmp: Path, did: str, model: Counting, people: dict[str, dict[str, str]] = PEOPLE
            ) -> Matcher:
    node = NodeClient("http://127.0.0.1:9", nacl.signing.SigningKey.generate(), did=did)
    state = tmp / "home" / "matcher-state.sqlite"
    m = Matcher(NodeSync(node), state=StateStore.open(state, did),
                vectors=VectorStore.open(beside(state)))
    for vecs in m.community._vectors():
        assert isinstance(vecs.encoder, StoredEncoder)
        vecs.encoder.base = model
    for who, granted in people.items():
        m.community.upsert(profile_from_granted(who, {"name": who[6:], **granted}, {}))
    m.community.ready()
    return m


def test_a_restart_embeds_nothing_it_had_and_answers_the_same(tmp_path: Path) -> None:
    did = keys.did_of(nacl.signing.SigningKey.generate())
    first_model, second_model = Counting(), Counting()
    first = matcher(tmp_path, did, first_model)
    question = "who can do my VAT return"
    before = route_question(first.community, "did:t:cas", question, NOW)
    assert first_model.texts  # the profiles went to the model once
    path = beside(tmp_path / "home" / "matcher-state.sqlite")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.vectors is not None
    stored = first.vectors.stored()
    assert stored == first.community.held_keys()
    assert text_key(question) not in stored  # a question's vector is never written
    first.vectors.close()

    second = matcher(tmp_path, did, second_model)  # the restart reads the file
    assert second_model.texts == []
    assert route_question(second.community, "did:t:cas", question, NOW) == before


def test_a_revoked_or_edited_text_leaves_the_file(tmp_path: Path) -> None:
    did = keys.did_of(nacl.signing.SigningKey.generate())
    m = matcher(tmp_path, did, Counting())
    assert m.vectors is not None
    ben = m.community.profiles["did:t:ben"]
    old = text_key(offer_text(ben))
    assert old in m.vectors.stored()
    m.community.upsert(profile_from_granted("did:t:ben", {"name": "ben",
                                                          "expertise": "cloud architect"}, {}))
    m.community.remove("did:t:ana")  # revoked everything
    m.forget_vectors()  # what Matcher.refresh and Matcher.leave do after a change
    m.community.ready()
    held = m.community.held_keys()
    assert old not in m.vectors.stored()
    assert m.vectors.stored() == held  # ben's new text is in, ana's texts are out
    assert not any(k in m.vectors.stored() for k in map(text_key, PEOPLE["did:t:ana"].values()))


def test_a_file_that_is_not_a_vector_file_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "state.vectors.sqlite"
    StateStore.open(junk, "did:t:someone").close()  # a state file, not a vector file
    with pytest.raises(StateError, match="cannot be used") as e:
        VectorStore.open(junk)
    assert "\n" not in str(e.value)


def test_what_was_revoked_while_the_matcher_was_down_leaves_the_file_at_start(
        tmp_path: Path) -> None:
    did = keys.did_of(nacl.signing.SigningKey.generate())
    first = matcher(tmp_path, did, Counting())
    assert first.vectors is not None
    ana = {text_key(offer_text(first.community.profiles["did:t:ana"]))}
    assert ana <= first.vectors.stored()
    first.vectors.close()
    still = {d: g for d, g in PEOPLE.items() if d != "did:t:ana"}  # ana revoked meanwhile
    second = matcher(tmp_path, did, Counting(), still)
    assert second.vectors is not None
    second.keep_held_vectors()  # what Matcher.restore does once the members are read again
    assert not ana & second.vectors.stored()
    assert second.vectors.stored() == second.community.held_keys()
