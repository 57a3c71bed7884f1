"""Forgetting a member (``matching.forget``, ``Matcher.forget``): what goes, what stays for the
other members and in what form, that memory and the state file agree afterwards, that a second
forget finds nothing, and that the deleted text is gone from the bytes of both files."""

from __future__ import annotations

from pathlib import Path

import nacl.signing

from ledger import keys
from matching.embed import text_key
from matching.forget import CONTEXT_GONE, WITHDRAWN, plan
from matching.index import Community
from matching.loops import Intro, Loops, Pending, Topic, intro_id
from matching.rides import Offer, RideBook
from matching.service import Matcher
from matching.state_store import StateStore
from matching.sync import NodeSync
from matching.vector_store import VectorStore, beside
from passport_api.client import NodeClient

NOW = 1_795_000_000_000
TODAY = "2026-11-30"
ASKED = "zebra-striped quarterly VAT return for a freelance luthier"  # ann's question
ANSWERED = "ann-only-answer: file the return online before the twentieth"  # ann's answer


def world(loops: Loops, rides: RideBook, c: Community) -> None:
    """ann asked q-ann (to bea and cas; bea answered, ann marked it helpful); ann answered
    cas's q-cas; dan's q-dan was routed to ann, unanswered; bea and cas have their own loop."""
    loops.open(Topic("q-ann", "helpful", "ann", ASKED, ("bea", "cas"), NOW),
               f"question q-ann: {ASKED[:80]}")
    loops.answer("q-ann", "bea", "bea's answer", NOW + 1)
    loops.endorse("q-ann", "ann", "bea", "att-ann-bea", NOW + 2)
    loops.open(Topic("q-cas", "helpful", "cas", "cas asks", ("ann", "bea"), NOW),
               "question q-cas: cas asks")
    loops.answer("q-cas", "bea", "bea answers cas", NOW + 3)
    loops.answer("q-cas", "ann", ANSWERED, NOW + 4)
    loops.endorse("q-cas", "cas", "ann", "att-cas-ann", NOW + 5)  # about ann, waiting
    loops.open(Topic("q-dan", "helpful", "dan", "dan asks", ("ann", "cas"), NOW), "q-dan")
    loops.open(Topic("m-ann", "mission", "ann", "a luthier's website", ("dan",), NOW),
               "mission m-ann: a luthier's website")
    loops.introduce("ann", "bea", "coffee?", "g-1", NOW)  # waiting: goes
    loops.intros["i-cas"] = Intro("i-cas", "ann", "cas", f"question q-ann: {ASKED[:80]}",
                                  "ann's note", NOW, "g-2", "accepted", "g-3")
    loops.intros["i-dan"] = Intro("i-dan", "dan", "ann", "question q-dan: dan asks",
                                  "dan's note", NOW, "g-4", "accepted", "g-5")
    loops.introduce("bea", "cas", "not ann's", "g-6", NOW)
    for o in (Offer("r-open", "ann", "dan", "gent", "antwerpen", "2026-12-03"),
              Offer("r-agreed", "ann", "dan", "gent", "antwerpen", "2026-12-03", "shared"),
              Offer("r-past", "dan", "ann", "gent", "antwerpen", "2026-11-02", "accepted"),
              Offer("r-other", "bea", "dan", "gent", "antwerpen", "2026-12-03", "accepted")):
        rides.offers[o.id] = o
    c.mark_met("ann", "bea")
    c.mark_met("bea", "cas")
    c.add_endorsement("helpful", "bea", ASKED, NOW + 6)  # bea's, on ann's question: goes
    c.add_endorsement("helpful", "ann", "cas asks", NOW + 7)  # about ann: goes
    c.add_endorsement("helpful", "bea", "cas asks", NOW + 8)  # not ann's: stays
    c.note_routed(["ann", "bea"])


def test_what_goes_and_what_stays_for_the_others() -> None:
    loops, rides, c = Loops(), RideBook(), Community()
    world(loops, rides, c)
    f = plan("ann", loops, rides, c, TODAY)
    assert "q-ann" in loops.topics  # a plan changes nothing
    f.apply(loops, rides, c)
    assert f.counts() == {
        "deleted": {"questions": 1, "missions": 1, "answers_to_them": 1, "answers_withdrawn": 1,
                    "routed_to_you": 2, "matches": 3, "met": 1, "endorsements_waiting": 2,
                    "endorsements_counted": 2, "introductions": 1, "ride_offers": 2},
        "kept": {"introductions_accepted": 2, "rides_agreed": 1}}
    assert set(loops.topics) == {"q-cas", "q-dan"}
    # cas's thread keeps its shape: bea's answer, then a tombstone with no author or text
    bea_answer, tomb = loops.topics["q-cas"].replies
    assert (bea_answer.by, bea_answer.text) == ("bea", "bea answers cas")
    assert (tomb.by, tomb.text, tomb.helpful, tomb.at_ms) == ("", WITHDRAWN, "", NOW + 4)
    assert tomb.id != "a-" and "ann" not in tomb.id
    assert loops.topics["q-cas"].routed == ("bea",)
    assert loops.inbox("ann") == [] and [t.id for t in loops.inbox("cas")] == ["q-dan"]
    assert [p.attestation for p in loops.pending] == []
    assert set(loops.intros) == {"i-cas", "i-dan", intro_id("bea", "cas")}
    cas, dan = loops.intros["i-cas"], loops.intros["i-dan"]
    assert (cas.note, cas.context, cas.status) == ("", CONTEXT_GONE["helpful"], "accepted")
    assert (dan.note, dan.context) == ("dan's note", "question q-dan: dan asks")  # dan's text
    assert set(rides.offers) == {"r-agreed", "r-other"}
    assert "ann" not in loops.matched and all("ann" not in m for m in loops.matched.values())
    assert loops.matched["bea"] == {"cas": "question q-cas: cas asks"}
    assert c.met["bea"] == {"cas"} and "ann" not in c.met
    assert [(e.did, e.text) for e in c.endorsements_held()] == [("bea", "cas asks")]
    assert "ann" not in c.load and "bea" in c.load
    again = plan("ann", loops, rides, c, TODAY)  # idempotent: nothing left to delete
    assert set(again.counts()["deleted"].values()) == {0}
    stranger = plan("did:key:never-seen", loops, rides, c, TODAY).counts()
    assert set(stranger["deleted"].values()) == set(stranger["kept"].values()) == {0}


def raw(path: Path) -> bytes:
    """The bytes on disk: the file, its write-ahead log and its shared memory."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                    if p.exists())


def test_the_file_and_memory_agree_and_the_text_is_gone_from_the_bytes(tmp_path: Path) -> None:
    key = nacl.signing.SigningKey.generate()
    did = keys.did_of(key)
    state = tmp_path / "matcher-state.sqlite"
    m = Matcher(NodeSync(NodeClient("http://127.0.0.1:9", key, did=did)),
                state=StateStore.open(state, did), vectors=VectorStore.open(beside(state)))
    world(m.loops, m.rides, m.community)
    with m.saving() as w:  # everything the world holds, in the file as the routes write it
        for t in m.loops.topics.values():
            w.topic(t)
            w.matched(t.by, t.routed, t.id)
        for p in m.loops.pending:
            w.pending(p)
        for i in m.loops.intros.values():
            w.intro(i)
        for o in m.rides.offers.values():
            w.offer(o)
        w.met("ann", "bea")
        w.met("bea", "cas")
        for e in m.community.endorsements_held():
            w.settled(Pending("helpful", e.did, "att", e.text, e.at_ms), fed=True)
    m.community.ready()  # the accepted endorsements' vectors reach the vector file
    assert m.vectors is not None and text_key(ASKED) in m.vectors.stored()
    for db in (m.state.db, m.vectors.db):  # zeroed on delete, whatever SQLite's build default
        assert db.execute("PRAGMA secure_delete").fetchone() == (1,)
    m.state.checkpoint()
    assert ASKED.encode() in raw(state) and ANSWERED.encode() in raw(state)

    counts = m.forget("ann")
    assert counts["deleted"]["questions"] == 1
    for text in (ASKED, ANSWERED, "ann's note", "a luthier's website"):
        assert text.encode() not in raw(state), text
    assert text_key(ASKED) not in m.vectors.stored()
    assert text_key(ASKED) not in raw(beside(state))
    saved = StateStore.open(state, did).load()  # what a restart reads equals memory
    assert saved.topics == list(m.loops.topics.values())
    assert saved.pending == m.loops.pending
    assert {i.id: i for i in saved.intros} == m.loops.intros
    assert {o.id for o in saved.offers} == set(m.rides.offers)
    assert not [r for r in saved.matched if "ann" in r[:2]]
    assert saved.met == [("bea", "cas"), ("cas", "bea")]
    assert [(e.did, e.text) for e in saved.endorsed] == [("bea", "cas asks")]
    assert m.forget("ann")["deleted"] == dict.fromkeys(counts["deleted"], 0)

