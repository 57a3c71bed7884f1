"""The matcher keeps what members did through it across restarts: a real node and a real
`passport match serve` process, stopped (SIGTERM) and killed (SIGKILL) mid-use, started again on
the same state file; the inbox, answers, an introduction, an endorsement waiting for its accept
and ride offers are still there and the loops go on.  What it stores follows consent: a member
who leaves is unwatched and their open ride offer is gone from the file too."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import match_flows as member
from ledger.times import now_ms
from matching.client import MatcherError
from matching.state_store import FILE_NAME
from tests.api.conftest import Node, free_port
from tests.matching.support import Service, cli, cli_fails, eventually, wallet
from wallet import attest
from wallet.wallet import Wallet

DAY_MS = 86_400_000
QUESTION = "how do I file the quarterly VAT return as a freelancer?"
REWORDED = "the VAT return every three months when you work for yourself"
DATE = "2030-06-03"


@pytest.fixture(scope="module")
def node_and_matcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Service]]:
    tmp = tmp_path_factory.mktemp("state")
    node = Node(tmp / "node", str(tmp / "node.sqlite"))
    matcher = None
    try:
        matcher = Service(tmp / "matcher", node)
        yield node, matcher.wait()
    finally:
        if matcher is not None and matcher.proc.poll() is None:
            matcher.stop()
        node.stop()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """What the state file holds, read beside the running matcher (WAL: readers do not block)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def helped(matcher: Service, asker: Wallet, answerer: str) -> bool:
    with matcher.as_(asker) as c:
        again = c.ask(REWORDED)
    return bool(again.suggestions) and again.suggestions[0].did == answerer and \
        "marked helpful" in again.suggestions[0].why


def test_the_matcher_keeps_its_loops_across_restarts_and_a_kill(
        node_and_matcher: tuple[Node, Service], tmp_path: Path) -> None:
    node, matcher = node_and_matcher
    state = matcher.home / FILE_NAME
    until = now_ms() + DAY_MS
    ann = wallet(tmp_path / "ann", node, name="Ann")
    ann.set("contact", "ann@example.org")
    ann.set("plan", {"city": "Gent", "date": DATE, "from": "Antwerpen"})
    ann.grant(matcher.did, ["name", "plan"], "matching", until)
    experts = {"bea": "bookkeeper: quarterly VAT return and invoices for freelancers",
               "cas": "accountant for freelancers, VAT and income tax returns",
               "dan": "tax advisor, VAT return filing for self-employed freelancers"}
    by_name = {}
    for name, expertise in experts.items():
        w = wallet(tmp_path / name, node, name=name.title())
        w.set("expertise", expertise)
        w.set("contact", f"{name}@example.org")
        w.set("trip", {"origin": "Antwerp", "destination": "Ghent", "date": DATE, "seats": 2})
        w.grant(matcher.did, ["name", "expertise", "trip"], "matching", until)
        by_name[name] = w
    bea, cas, dan = by_name["bea"], by_name["cas"], by_name["dan"]

    # Before the restart: a question routed, answered, marked helpful (not accepted yet), an
    # introduction asked for, a ride accepted and one left open.
    with matcher.as_(ann) as a, matcher.as_(bea) as b:
        asked = eventually(lambda: (got := a.ask(QUESTION)) and len(got.suggestions) == 3
                           and got)
        assert asked, "the question was not routed to the three experts"
        qid = asked.id
        b.answer(qid, "file it online before the 20th; keep the invoices by quarter")
        marked, _ = member.mark_helpful(ann, a, qid, bea.did)
        intro = member.introduce(ann, a, bea.did, "coffee on Friday?")
        offers = {o.driver: o for o in a.ride_offers()}
        assert set(offers) == {bea.did, cas.did, dan.did}
        member.accept_ride(ann, a, offers[dan.did].offer)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert rows(state, "SELECT count(*) FROM pending") == [(1,)]
    vectors = state.with_suffix(".vectors.sqlite")  # the members' vectors, never a question's
    assert stat.S_IMODE(vectors.stat().st_mode) == 0o600
    assert rows(vectors, "SELECT count(*) FROM vectors")[0][0] > 0

    matcher.stop()  # SIGTERM
    matcher.start().wait()

    with matcher.as_(ann) as a, matcher.as_(bea) as b, matcher.as_(dan) as d:
        box = b.inbox()
        assert [(i.intro, i.note) for i in box.intros] == [(intro.intro, "coffee on Friday?")]
        assert [q.question for q in a.inbox().answered] == [qid]
        seen = a.answers(qid)
        assert seen.text == QUESTION
        assert [(x.by, x.helpful) for x in seen.answers] == [(bea.did, marked.id)]
        assert {o.driver: o.status for o in a.ride_offers()} == \
            {bea.did: "offered", cas.did: "offered", dan.did: "accepted"}
        assert [(o.offer, o.status) for o in d.ride_requests()] == \
            [(offers[dan.did].offer, "accepted")]
        # The loops go on: the endorsement kept waiting counts once bea accepts it, and bea
        # accepts the introduction (through the CLI), which shares ann's contact.
        attest.accept(bea, marked.id)
        assert eventually(lambda: helped(matcher, ann, bea.did))
        accepted = cli(bea.home, node, "match", "accept-intro", intro.intro,
                       "--matcher", matcher.url)
        assert accepted["status"] == "accepted" and accepted["contact"] == "ann@example.org"

    # Consent: cas leaves; cas is no longer watched and the open offer of cas's trip is gone
    # from the file as well as from the answers (an accepted ride is an agreement: it stays).
    with matcher.as_(cas) as c:
        member.leave(cas, c)
    assert rows(state, f"SELECT did FROM watched WHERE did = '{cas.did}'") == []
    assert not [r for r in rows(state, "SELECT body FROM offers") if cas.did in str(r[0])]
    assert rows(state, "SELECT count(*) FROM endorsed") == [(1,)]

    # kill -9 while asks are in flight: every ask the matcher answered is there afterwards.
    answered: list[str] = []
    stop = threading.Event()

    def asking() -> None:
        with matcher.as_(ann) as a:
            while not stop.is_set():
                try:
                    answered.append(a.ask(f"quarterly VAT return, again ({len(answered)})").id)
                except MatcherError:
                    return  # the matcher is gone

    threads = [threading.Thread(target=asking) for _ in range(2)]
    for t in threads:
        t.start()
    assert eventually(lambda: len(answered) >= 4, 60)
    matcher.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    matcher.start().wait()
    with matcher.as_(ann) as a, matcher.as_(bea) as b:
        for qid_ in answered:
            assert a.topic(qid_).startswith("quarterly VAT return, again")
        routed_to_bea = {q.question for q in b.inbox().questions}
        assert routed_to_bea  # what was routed before the kill is still in the inbox
        assert {o.driver: o.status for o in a.ride_offers()} == \
            {bea.did: "offered", dan.did: "accepted"}  # cas stays out after the restart
    assert helped(matcher, ann, bea.did)  # fed helpful memory survived the kill


def test_a_state_file_the_matcher_cannot_use_is_one_line(
        node_and_matcher: tuple[Node, Service], tmp_path: Path) -> None:
    node, matcher = node_and_matcher
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all\n" * 200)
    line = cli_fails(matcher.home, node, "match", "serve", "--state", str(junk), "--port",
                     str(free_port()))
    assert "unreadable or not a matcher's state" in line and str(junk) in line
    other = tmp_path / "other"
    wallet(other, node, "service", "other")
    line = cli_fails(other, node, "match", "serve", "--state", str(matcher.home / FILE_NAME),
                     "--port", str(free_port()))
    assert f"belongs to matcher {matcher.did}" in line
