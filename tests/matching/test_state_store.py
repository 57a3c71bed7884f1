"""The matcher's state file (``matching.state_store``): everything members did through it comes
back whole, a failed change writes nothing, a bad file is one clear line, and an open ride offer
derived from a field no longer granted is gone from the file too."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import nacl.signing
import pytest

from ledger import keys
from matching.index import Community, Content, Endorsement
from matching.loops import Intro, Loops, Pending, Reply, Topic
from matching.model import Space, profile_from_granted
from matching.rides import Offer, RideBook
from matching.service import Matcher
from matching.state_store import StateError, StateStore
from matching.sync import NodeSync
from passport_api.client import NodeClient

ME = "did:key:z6MkMatcher"
NOW = 1_795_000_000_000


def fill(store: StateStore) -> None:
    topic = Topic("q-1", "helpful", "ann", "VAT return?", ("bea", "cas"), NOW,
                  [Reply("a-1", "q-1", "bea", "file online", NOW + 1, "att-1")])
    with store.write() as w:
        w.cursor(41)
        w.watch({"ann", "bea"})
        w.topic(topic)
        w.matched("ann", ("bea", "cas"), "question q-1")
        w.pending(Pending("helpful", "bea", "att-1", "VAT return?", NOW + 2))
        w.pending(Pending("mission", "cas", "att-2", "an audit", NOW + 3))
        w.intro(Intro("i-1", "ann", "bea", "question q-1", "coffee?", NOW, "g-1", "accepted",
                      "g-2"))
        w.offer(Offer("r-1", "ann", "dan", "antwerpen", "gent", "2026-12-03", "accepted", "g-3"))
        w.space(Space("s-1", "Hub", "Gent", ("design",)))
        w.content(Content("c-1", "Pricing night", ("pricing",), "s-1"))
        w.met("ann", "bea")
    with store.write() as w:
        w.settled(Pending("mission", "cas", "att-2", "an  audit", NOW + 3), fed=True)
        w.matched("bea", ("ann",), "people to meet")  # the first context stays


def test_everything_comes_back_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.sqlite"
    store = StateStore.open(path, ME)
    fill(store)
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = StateStore.open(path, ME).load()
    assert saved.cursor == 41 and saved.watched == {"ann", "bea"}
    [topic] = saved.topics
    assert (topic.id, topic.by, topic.text, topic.routed) == ("q-1", "ann", "VAT return?",
                                                               ("bea", "cas"))
    assert topic.replies == [Reply("a-1", "q-1", "bea", "file online", NOW + 1, "att-1")]
    assert sorted(saved.matched) == [("ann", "bea", "question q-1"), ("ann", "cas", "question q-1"),
                                     ("bea", "ann", "question q-1"), ("cas", "ann", "question q-1")]
    assert saved.pending == [Pending("helpful", "bea", "att-1", "VAT return?", NOW + 2)]
    assert saved.endorsed == [Endorsement("mission", "cas", "an audit", NOW + 3)]
    assert saved.intros == [Intro("i-1", "ann", "bea", "question q-1", "coffee?", NOW, "g-1",
                                  "accepted", "g-2")]
    assert saved.offers == [Offer("r-1", "ann", "dan", "antwerpen", "gent", "2026-12-03",
                                  "accepted", "g-3")]
    assert saved.spaces == [Space("s-1", "Hub", "Gent", ("design",))]
    assert saved.content == [Content("c-1", "Pricing night", ("pricing",), "s-1")]
    assert sorted(saved.met) == [("ann", "bea"), ("bea", "ann")]


def test_a_change_that_fails_writes_nothing(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.sqlite", ME)
    fill(store)
    with pytest.raises(RuntimeError), store.write() as w:
        w.topic(Topic("q-2", "helpful", "ann", "half written?", ("bea",), NOW))
        w.cursor(99)
        raise RuntimeError("the change failed after its first rows")
    saved = store.load()
    assert [t.id for t in saved.topics] == ["q-1"] and saved.cursor == 41


def test_a_bad_file_is_one_clear_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(StateError, match="unreadable or not a matcher's state") as e:
        StateStore.open(junk, ME)
    assert "\n" not in str(e.value)
    other = tmp_path / "other.sqlite"
    StateStore.open(other, "did:key:z6MkSomeoneElse").close()
    with pytest.raises(StateError, match="belongs to matcher did:key:z6MkSomeoneElse"):
        StateStore.open(other, ME)
    foreign = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE topics (x)")  # a SQLite file of something else
    db.commit()
    db.close()
    with pytest.raises(StateError, match="not a matcher's state"):
        StateStore.open(foreign, ME)
    a_directory = tmp_path / "a-directory"
    a_directory.mkdir()
    with pytest.raises(StateError, match="matcher's state file") as e:
        StateStore.open(a_directory, ME)
    assert "\n" not in str(e.value)

def test_loops_and_rides_read_back_as_the_state_machines_left_them(tmp_path: Path) -> None:
    """What ``Matcher.restore`` rebuilds equals the machines that wrote it."""
    store = StateStore.open(tmp_path / "state.sqlite", ME)
    loops = Loops()
    topic = Topic("q-1", "helpful", "ann", "VAT?", ("bea",), NOW)
    loops.open(topic, "question q-1")
    loops.answer("q-1", "bea", "online", NOW + 1)
    pending = loops.endorse("q-1", "ann", "bea", "att-1", NOW + 2)
    intro = loops.introduce("ann", "bea", "hi", "g-1", NOW + 3)
    with store.write() as w:
        w.topic(topic)
        w.matched("ann", ("bea",), "question q-1")
        w.pending(pending)
        w.intro(intro)
    saved = store.load()
    assert saved.topics == list(loops.topics.values())
    assert saved.pending == loops.pending and saved.intros == list(loops.intros.values())
    assert {(a, b): ctx for a, b, ctx in saved.matched} == \
        {(a, b): ctx for a, others in loops.matched.items() for b, ctx in others.items()}


def rider_and_driver(c: Community, plan: bool) -> None:
    granted = {"name": "Ann", "city": "Antwerpen"}
    if plan:
        granted["plan"] = {"city": "Gent", "date": "2026-12-03", "from": "Antwerpen"}
    c.upsert(profile_from_granted("ann", granted, {}))
    c.upsert(profile_from_granted("dan", {"name": "Dan", "trip": {
        "origin": "Antwerp", "destination": "Ghent", "date": "2026-12-03", "seats": 2}}, {}))


def test_an_open_offer_goes_when_its_plan_is_revoked_an_agreement_stays() -> None:
    c, book = Community(), RideBook()
    rider_and_driver(c, plan=True)
    [offer] = book.for_rider(c, "ann")
    kept = Offer("r-agreed", "ann", "dan", "antwerpen", "gent", "2026-12-03", "accepted", "g")
    book.offers[kept.id] = kept
    assert book.prune(c, "ann") == []  # the plan still holds
    rider_and_driver(c, plan=False)  # ann revoked `plan`
    assert book.prune(c, "dan") == [offer.id]  # either side's change finds it
    assert list(book.offers) == ["r-agreed"]


def test_a_change_the_file_refuses_is_undone_in_memory_too(tmp_path: Path) -> None:
    """If its rows cannot be written (disk full, file made read-only), the change is refused
    and the matcher's loops are read back from the file: it answers from what a restart
    would find, never from a change it did not keep."""
    key = nacl.signing.SigningKey.generate()
    did = keys.did_of(key)
    node = NodeClient("http://127.0.0.1:9", key, did=did)  # never called here
    store = StateStore.open(tmp_path / "state.sqlite", did)
    matcher = Matcher(NodeSync(node), state=store)
    kept = Topic("q-1", "helpful", "ann", "kept?", ("bea",), NOW)
    with matcher.saving() as w:
        w.topic(kept)
        matcher.loops.open(kept, "question q-1")
    # Writing a topic now fails inside SQLite, after the transaction began (as a full disk).
    store.db.execute("CREATE TEMP TRIGGER full BEFORE INSERT ON topics "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    lost = Topic("q-2", "helpful", "ann", "lost?", ("cas",), NOW)
    with pytest.raises(StateError, match="disk is full"), \
            matcher.saving() as w:
        matcher.loops.open(lost, "question q-2")
        w.topic(lost)
    assert list(matcher.loops.topics) == ["q-1"]
    assert [t.id for t in matcher.loops.inbox("bea")] == ["q-1"]
    assert matcher.loops.inbox("cas") == [] and "cas" not in matcher.loops.matched
    node.close()
