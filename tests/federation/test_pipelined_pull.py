"""The follower's pipelined pull over many pages: page k+1 is fetched and checked while page k
is appended, and a page with a refused record falls back to one by one without losing the
pages around it.  A real node A over HTTP; the follower (B) runs in this process with small
pages, so a few dozen records make many pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.records import Record
from ledger.store.audit import audit
from ledger.store.ledger import Ledger
from passport_api import federation
from passport_api.client import NodeClient
from passport_api.federation import Follower
from tests.api.conftest import Node


@pytest.fixture()
def node_a(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path / "a", str(tmp_path / "a.sqlite"))
    yield node
    node.stop()


def _chains(members: int, length: int) -> tuple[list[Author], list[list[Record]]]:
    authors = [Author(keys.generate()) for _ in range(members)]
    chains = [[a.next("passport.clear" if i % 2 else "attest",
                      {"field": f"f{i}"} if i % 2 else {"subject": a.did, "claim": {"i": i}})
               for i in range(length)] for a in authors]
    return authors, chains


def test_many_pages_with_a_refused_record(node_a: Node, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    authors, chains = _chains(3, 9)
    interleaved = [c[i] for i in range(9) for c in chains]  # 27 records, chains interleaved
    with NodeClient(node_a.url, timeout=10) as client:
        client.append_batch([r.raw for r in interleaved])
    b = Ledger.open(f"sqlite:///{tmp_path / 'b.sqlite'}",
                    log_key=nacl.signing.SigningKey.generate(), verify_workers=0)
    try:
        # B already holds the first two records of one chain and a rival third, signed by
        # its author: A's third is an equivocation there, and the rest of that chain on A
        # does not follow B's; everything else must arrive, in A's order.
        ours = chains[1]
        rival = Author(authors[1].signing_key, seq=2, head=ours[1].id).next(
            "passport.clear", {"field": "rival"})
        b.append_batch([ours[0].raw, ours[1].raw, rival.raw])
        monkeypatch.setattr(federation, "PAGE", 4)  # 7 pages
        report = Follower(b, nacl.signing.SigningKey.generate()).pull(node_a.url)
        assert report.pulled == 27
        assert (report.duplicates, report.refused, report.appended) == (2, 7, 18)
        assert b.size() == 3 + 18
        expected = [r for r in interleaved if r not in ours[2:]]
        assert [b.record(r.id).raw for r in expected] == [r.raw for r in expected]
        assert [e[2] for e in b.equivocations(authors[1].did)] == [ours[2].raw]
        assert audit(b.engine).ok
        again = Follower(b, nacl.signing.SigningKey.generate()).pull(node_a.url)
        assert again.appended == 0
    finally:
        b.close()


def test_records_already_stored_are_skipped_not_checked_again(
        node_a: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two nodes that follow each other pull each other's copies of their own records: those
    (the same id, so the same bytes) are counted as duplicates without being sent to the
    verify workers or appended again; the new records of the same pages are."""
    _, chains = _chains(4, 5)
    interleaved = [c[i] for i in range(5) for c in chains]  # 20 records
    with NodeClient(node_a.url, timeout=10) as client:
        client.append_batch([r.raw for r in interleaved])
    b = Ledger.open(f"sqlite:///{tmp_path / 'b.sqlite'}",
                    log_key=nacl.signing.SigningKey.generate(), verify_workers=0)
    try:
        held = [r for r in interleaved if r.author in {chains[0][0].author, chains[2][0].author}]
        b.append_batch([r.raw for r in held])  # B already holds two of the four chains
        checked: list[bytes] = []
        prepare = b.prepare

        def counting(raws: list[bytes], *args: object, **kwargs: object) -> object:
            checked.extend(raws)
            return prepare(raws, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(b, "prepare", counting)
        monkeypatch.setattr(federation, "PAGE", 6)  # 4 pages, each with stored and new records
        report = Follower(b, nacl.signing.SigningKey.generate()).pull(node_a.url)
        assert (report.pulled, report.appended, report.duplicates, report.refused) == (
            20, 10, 10, 0)
        new = [r.raw for r in interleaved if r not in held]
        assert checked == new  # only the records B did not hold, in A's order
        assert [b.record(r.id).raw for r in interleaved] == [r.raw for r in interleaved]
        assert audit(b.engine).ok
    finally:
        b.close()
