"""Per worker, the latest signed head and each member's folded consent view, checked against
the database on every read (``ReadCache``; ``passport_api.reads`` serves with them).

Every read first asks the database for the log size, the member's chain seq and the signer's
keys in force (one indexed query, ``HotPath.marks_and_keys``; with the member's whole chain
in the same statement when no view of them is kept, ``marks_keys_and_chain``, or their
stored view, ``marks_keys_and_view``), and a view is reused only while that seq is
unchanged: a revoke is a record on the member's chain, so it moves the seq and the next read
applies the records since the cached seq to a copy of the view (``view``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ledger import consent
from ledger.store import chains_read, view_states
from ledger.store.chains_read import StoredRecord
from ledger.store.hotpath import HotPath
from ledger.store.ledger import Ledger, SignedTreeHead

log = logging.getLogger("passport.reads")
VIEWS_KEPT = 20_000  # members' consent views per worker (least recently used dropped)


@dataclass(frozen=True)
class KeptView:
    """A member's consent view as of their chain's ``seq``, whose record has id ``head``.
    Never changed once made: the worker's threads read it unlocked."""

    seq: int
    head: str | None
    view: consent.PassportView
    index_of: dict[str, int]
    records: tuple[StoredRecord, ...]  # what was folded: a stored view is made of them
    from_row: bool = False  # taken as it was from the database's stored view


@dataclass(frozen=True)
class StoredView:
    """A ``consent_views`` row as the cold read's marks statement found it, and the head of
    the member's chain row (``HotPath.marks_keys_and_view``)."""

    seq: int
    head: str
    records: bytes
    mac: bytes
    chain_head: str | None


class ReadCache:
    """One worker's signed head and consent views, checked against the database each read."""

    def __init__(self, ledger: Ledger, views_kept: int = VIEWS_KEPT) -> None:
        self.ledger = ledger
        self.hot = HotPath(ledger.engine)
        # A SQLite read is prepared on the event loop, not in a route thread: its statements
        # are calls into the library on pages in memory (tens of microseconds each), and the
        # hop to a thread and back, with the GIL handed over at each end and after every
        # statement, cost more than the read.  Under 100 clients on a 1M-record ledger,
        # prepared on the loop: 1,006 and 713 reads/s at 1.5-2.1 ms of node CPU a read, in
        # threads 484 and 466 at 2.8-2.9 ms (docs/benchmarks.md, issue 18).  A PostgreSQL
        # read waits on the network; blocking the loop there would stall every request of
        # the worker behind one slow server.
        self.on_loop = self.hot.sqlite
        self.state_key = ledger.view_state_key()  # None: no stored views (no log key)
        self._head: SignedTreeHead | None = None
        self._views: OrderedDict[str, KeptView] = OrderedDict()
        self._kept = views_kept
        self._lock = threading.Lock()

    def head(self, at_least: int) -> SignedTreeHead:
        """A signed head of size >= ``at_least`` (the cached one while the log has not grown)."""
        head = self._head
        if head is None or head.head.size < at_least:
            head = self._head = self.ledger.latest_tree_head()
        return head

    def ready_head(self, at_least: int) -> SignedTreeHead | None:
        """``head`` when it needs no statement (the cached head is large enough); else None."""
        head = self._head
        return head if head is not None and head.head.size >= at_least else None

    def holds(self, member: str) -> bool:
        """Whether a view of the member is kept (else a read fetches the chain with its
        marks: ``HotPath.marks_keys_and_chain``)."""
        return member in self._views

    def view(self, member: str, seq: int, conn: Any = None, cur: Any = None, *,
             chain: list[Any] | None = None, stored: StoredView | None = None) -> KeptView:
        """The member's consent view at their chain's ``seq`` (or later): the cached one while
        the seq is unchanged; else folded from ``chain``, the whole chain's rows read at
        ``seq`` in the read's marks statement, if given; else when the seq has moved on, the
        cached one with the new records applied to a copy (``chains_read.read_after``); else
        folded from the whole chain (on ``cur``, the hot path's driver cursor on ``conn``, if
        given).  With no view kept, ``stored`` (the database's, ``view_states``) is where
        the fold starts, if its MAC holds and it is not ahead of the chain."""
        hit, kept = self._lookup(member, seq)
        if hit and kept is not None:
            return kept
        if conn is None:
            with self.ledger.reading() as own:
                fresh = self._fold(member, seq, kept, own, cur=None, chain=chain, stored=stored)
        else:
            fresh = self._fold(member, seq, kept, conn, cur=cur, chain=chain, stored=stored)
        return self._keep(member, fresh)

    def ready_view(self, member: str, seq: int, stored: StoredView | None) -> KeptView | None:
        """``view`` when it needs no statement: the kept view at ``seq``, or the stored one
        at ``seq`` if its MAC holds; else None."""
        hit, kept = self._lookup(member, seq)
        if hit or kept is not None or stored is None:
            return kept if hit else None
        from_row = self._from_row(member, seq, stored)
        return None if from_row is None or from_row.seq != seq else self._keep(member, from_row)

    def _lookup(self, member: str, seq: int) -> tuple[bool, KeptView | None]:
        """(whether the kept view is at ``seq``, the kept view if any)."""
        with self._lock:
            kept = self._views.get(member)
            if kept is not None and kept.seq == seq:
                self._views.move_to_end(member)
                return True, kept
        return False, kept

    def _keep(self, member: str, fresh: KeptView) -> KeptView:
        with self._lock:
            current = self._views.get(member)
            if current is None or current.seq <= fresh.seq:  # never a newer one replaced
                self._views[member] = fresh
            self._views.move_to_end(member)
            while len(self._views) > self._kept:
                self._views.popitem(last=False)
        return fresh

    def _fold(self, member: str, seq: int, kept: KeptView | None, conn: Any, *, cur: Any,
              chain: list[Any] | None, stored: StoredView | None) -> KeptView:
        types = consent.CONSENT_TYPES
        if kept is None and stored is not None:
            kept = self._from_row(member, seq, stored)
            if kept is not None and kept.seq == seq:
                return kept
        if chain is None and kept is not None and kept.seq < seq:
            new = chains_read.read_after(conn, member, types, kept.seq, head=kept.head,
                                          upto=seq)
            if new is not None:
                view, index_of = kept.view.copy(), dict(kept.index_of)
                for record in new.records:
                    view.apply(record.record)
                    index_of[record.record.id] = record.index
                return KeptView(new.seq, new.head, view, index_of,
                             chains_read.latest_values((*kept.records, *new.records)))
        if chain is None and cur is None:
            read = chains_read.read_types(conn, member, types, superseded=False)
        else:
            rows = self.hot.chain(conn, cur, member, types) if chain is None else chain
            read = chains_read.from_chain_rows(member, types, rows, superseded=False)
        return _made(member, read)

    def _from_row(self, member: str, seq: int, stored: StoredView) -> KeptView | None:
        """The stored view, if the node's MAC holds and it is the chain's (at ``seq``, with
        its head) or an earlier point of it (``read_after`` then checks the way on)."""
        if self.state_key is None or stored.seq > seq or (
                stored.seq == seq and stored.head != stored.chain_head):
            return None
        read = view_states.opened(self.state_key, view_states.ViewState(
            member, stored.seq, stored.head, stored.records, stored.mac))
        if read is None:
            log.warning("a stored consent view of %s failed its MAC: folding the chain", member)
            return None
        return _made(member, read, from_row=stored.seq == seq)

    def to_store(self, member: str, kept: KeptView) -> view_states.ViewState | None:
        """The row to store for a view a cold read made (None: the stored one was used)."""
        if self.state_key is None or kept.from_row:
            return None
        return view_states.seal(self.state_key, member,
                                chains_read.ChainRead(list(kept.records), kept.seq, kept.head))


def _made(member: str, read: chains_read.ChainRead, *, from_row: bool = False) -> KeptView:
    return KeptView(read.seq, read.head,
                 consent.PassportView.from_records([s.record for s in read.records],
                                                   member=member),
                 {s.record.id: s.index for s in read.records}, tuple(read.records), from_row)
