"""A member asks the matcher to forget them, through a real node (both databases) and a real
`passport match serve` process: their question and its answers, and their answer on another's
question, leave the state file's bytes; the other members see what docs/security.md says they
see (the asker's thread keeps a tombstone); a restart brings nothing back; the others' loops are
untouched.  `leave --forget` leaves and forgets in one command; a stranger's forget is a clean
answer with nothing deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from ledger.times import now_ms
from matching.client import MatcherNotFoundError
from matching.forget import WITHDRAWN
from matching.state_store import FILE_NAME
from tests.api.conftest import Node, node  # noqa: F401  # the real node, both databases
from tests.matching.support import Service, cli, cli_fails, eventually, wallet
from wallet.wallet import Wallet

DAY_MS = 86_400_000
ANN_ASKS = "where can a violin maker sell instruments abroad without the VAT trap"
BEA_TELLS_ANN = "bea-to-ann: register for the one-stop shop and invoice without VAT"
CAS_ASKS = "how do cellists insure their instrument on tour"
ANN_TELLS_CAS = "ann-to-cas: a musician's all-risk policy, valued by a luthier"
BEA_TELLS_CAS = "bea-to-cas: ask your orchestra's union for their group insurance"


class World(NamedTuple):
    node: Node
    matcher: Service
    ann: Wallet
    bea: Wallet
    cas: Wallet
    ann_q: str
    cas_q: str


def raw(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                    if p.exists())


@pytest.fixture(scope="module")
def world(node: Node, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
          ) -> Iterator[World]:
    """ann, bea and cas, all three luthiers and musicians; ann asks (bea answers), cas asks
    (ann and bea answer)."""
    tmp = tmp_path_factory.mktemp("forget")
    matcher = Service(tmp / "matcher", node).wait()
    try:
        until = now_ms() + DAY_MS
        members = {}
        for name, expertise in {"ann": "violin maker, instrument insurance and tax",
                                "bea": "accountant for musicians, VAT and insurance",
                                "cas": "cellist, touring, instrument export"}.items():
            w = wallet(tmp / name, node, name=name.title())
            w.set("expertise", expertise)
            w.grant(matcher.did, ["name", "expertise"], "matching", until)
            members[name] = w
        ann, bea, cas = members["ann"], members["bea"], members["cas"]
        with matcher.as_(ann) as a, matcher.as_(bea) as b, matcher.as_(cas) as c:
            asked = eventually(lambda: (got := a.ask(ANN_ASKS)) and len(got.suggestions) == 2
                               and got)
            assert asked, "ann's question was not routed to bea and cas"
            b.answer(asked.id, BEA_TELLS_ANN)
            cas_q = c.ask(CAS_ASKS).id
            a.answer(cas_q, ANN_TELLS_CAS)
            b.answer(cas_q, BEA_TELLS_CAS)
        yield World(node, matcher, ann, bea, cas, asked.id, cas_q)
    finally:
        if matcher.proc.poll() is None:
            matcher.stop()


def test_forget_deletes_the_texts_from_the_file_and_a_restart_brings_nothing_back(
        world: World) -> None:
    at, matcher, ann, bea, cas = world.node, world.matcher, world.ann, world.bea, world.cas
    state = matcher.home / FILE_NAME
    assert ANN_ASKS.encode() in raw(state) and ANN_TELLS_CAS.encode() in raw(state)
    with matcher.as_(ann) as a:
        profiles = a.health().profiles

    done = cli(ann.home, at, "match", "forget", "--yes", "--matcher", matcher.url)
    assert done["deleted"]["questions"] == 1 and done["deleted"]["answers_to_them"] == 1
    assert done["deleted"]["answers_withdrawn"] == 1 and done["deleted"]["matches"] == 2
    assert done["kept"] == {"introductions_accepted": 0, "rides_agreed": 0}

    def as_documented() -> None:
        for text in (ANN_ASKS, BEA_TELLS_ANN, ANN_TELLS_CAS):
            assert text.encode() not in raw(state), text
        assert CAS_ASKS.encode() in raw(state)  # cas's question is cas's: untouched
        with matcher.as_(ann) as a, matcher.as_(bea) as b, matcher.as_(cas) as c:
            with pytest.raises(MatcherNotFoundError):
                a.answers(world.ann_q)  # gone for its asker ...
            with pytest.raises(MatcherNotFoundError):
                b.answer(world.ann_q, "again?")  # ... and for bea, who answered it
            thread = c.answers(world.cas_q)  # cas's thread: ann's answer is a tombstone
            assert [(x.by, x.text) for x in thread.answers] == \
                [("", WITHDRAWN), (bea.did, BEA_TELLS_CAS)]
            assert a.inbox().questions == () and a.inbox().answered == ()
            assert [q.question for q in c.inbox().answered] == [world.cas_q]

    as_documented()
    with matcher.as_(ann) as a:
        assert a.health().profiles == profiles  # forget is not leave: ann is still matched
    matcher.stop()
    matcher.start().wait()
    as_documented()
    again = cli(ann.home, at, "match", "forget", "--yes", "--matcher", matcher.url)
    assert set(again["deleted"].values()) == {0}  # idempotent


def test_leave_forget_and_a_stranger(world: World, tmp_path: Path) -> None:
    at, matcher, bea, cas = world.node, world.matcher, world.bea, world.cas
    line = cli_fails(bea.home, at, "match", "forget", "--matcher", matcher.url)
    assert "nobody at a terminal to confirm" in line  # a deletion is never implied
    left = cli(bea.home, at, "match", "leave", "--forget", "--yes", "--matcher", matcher.url)
    assert left["revoked"] and left["forgotten"]["deleted"]["answers_withdrawn"] >= 1
    assert BEA_TELLS_CAS.encode() not in raw(matcher.home / FILE_NAME)
    with matcher.as_(cas) as c:
        thread = c.answers(world.cas_q)
        assert bea.did not in {x.by for x in thread.answers}
        assert {x.text for x in thread.answers} <= {WITHDRAWN, ANN_TELLS_CAS}
        assert len(thread.answers) == 2  # the thread keeps its shape
    stranger = wallet(tmp_path / "stranger", at)
    with matcher.as_(stranger) as s:
        nothing = s.forget()  # never seen: a clean answer, not an error
    assert set(nothing.deleted.values()) == set(nothing.kept.values()) == {0}
