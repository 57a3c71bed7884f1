"""The matcher as its own small HTTP service, with its own key: ``passport match serve``.

It is a service like any other (DESIGN §8, §9): it learns members' fields only through their
grants and the node's scoped reads (``matching.sync``), keeps them in memory (``Community``), and
answers members' signed requests (``matching.app``), verified by the node's verifier with the
node's skew window and key-in-force rules.  Freshness: a background loop reads the node's consent
feed for this service every ``poll_ms`` and refreshes only the members it names
(``Matcher.catch_up``); every answer catches up once more before ranking, so a revoke on the node
takes effect on the next query.  The loops (questions, answers, endorsements, introductions) are
``matching.loops``; rides are ``matching.rides``.

What members did through the matcher (questions, answers, endorsements, introductions, ride
offers, spaces, the feed's cursor) is written to its state file in the same step as the change
in memory (``Matcher.saving``, ``matching.state_store``), and read back by ``Matcher.restore``
at start; the community itself is rebuilt from the node under the grants in force then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledger.times import now_ms
from matching import forget as forgetting
from matching.index import Community
from matching.loops import Loops, Pending
from matching.model import Space
from matching.rank import Answer
from matching.rides import RideBook
from matching.state_store import Saved, StateError, StateStore, Writer
from matching.sync import NodeSync
from matching.vector_store import StoredEncoder, VectorStore
from passport_api.client import NodeError

DEFAULT_POLL_MS = 250
REBUILD_AFTER_CHANGES = 500
log = logging.getLogger(__name__)


def feed_endorsement(c: Community, item: Pending) -> None:
    """Accepted help or feedback into the engine's helpful memory by what it was about (the
    question or mission text), so it raises the subject for requests of similar meaning."""
    c.add_endorsement(item.kind, item.subject, item.text, item.at_ms)


@dataclass
class Matcher:
    """All state of one matcher process; every method is safe to call from any thread."""

    sync: NodeSync
    community: Community = field(default_factory=Community)
    rides: RideBook = field(default_factory=RideBook)
    loops: Loops = field(default_factory=Loops)
    watched: set[str] = field(default_factory=set)
    state: StateStore = field(default_factory=StateStore.memory)
    last_poll_ms: int = 0
    poll_took_ms: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    sync_lock: threading.Lock = field(default_factory=threading.Lock)
    feed_lock: threading.Lock = field(default_factory=threading.Lock)  # one catch-up at a time
    unread: set[str] = field(default_factory=set)  # members whose last refresh failed
    vectors: VectorStore | None = None  # profile vectors on disk (None: in memory only)
    _saved_cursor: int = -1

    def __post_init__(self) -> None:
        if self.vectors is not None:
            self.community.embed_stored_with(StoredEncoder(self.vectors))

    def forget_vectors(self) -> None:
        """Vectors of texts no member holds any more (revoked, edited, left) leave the file."""
        with self.lock:
            gone = self.community.drain_dropped()
            if gone and self.vectors is not None:
                self.vectors.delete(gone)

    def keep_held_vectors(self) -> None:
        """At start: the vector file keeps only texts held now (what members revoked while the
        matcher was down goes)."""
        with self.lock:
            self.community.drain_dropped()
            if self.vectors is not None:
                self.vectors.keep_only(self.community.held_keys())

    def refresh(self, dids: list[str]) -> bool:
        """Re-read these members from the node; True if any profile changed."""
        touched: list[str] = []
        now = now_ms()
        for did in dict.fromkeys(dids):
            if did not in self.watched:
                continue
            try:
                with self.sync_lock:
                    profile = self.sync.refresh(did, now)
            except NodeError as e:
                log.warning("refresh of %s failed, keeping what we have: %s", did, e)
                with self.lock:
                    self.unread.add(did)  # read again next poll (at start: the node was down)
                continue
            with self.lock:
                self.unread.discard(did)
                old = self.community.profiles.get(did)
                if profile is None and old is not None:
                    self.community.remove(did)
                elif profile is not None and profile != old:
                    self.community.upsert(profile)
                else:
                    continue
                touched.append(did)
        for did in touched:  # once all are read: an offer needs both its rider and its driver
            self.prune_rides(did)
        if touched:
            self.forget_vectors()
        return bool(touched)

    def prune_rides(self, did: str) -> None:
        """Open ride offers of ``did`` that their plan or trip no longer supports are gone,
        from memory and from the state file (they were derived from granted fields)."""
        with self.lock:
            dropped = self.rides.prune(self.community, did)
            if dropped:
                with self.saving() as w:
                    for oid in dropped:
                        w.drop_offer(oid)

    @contextmanager
    def saving(self) -> Iterator[Writer]:
        """Under the lock, one transaction for one change: the block changes memory and writes
        its rows.  If the rows cannot be written, the loops and rides are read back from the
        file, so what the matcher answers from is what a restart would find."""
        with self.lock:
            try:
                with self.state.write() as w:
                    yield w
            except StateError:
                try:
                    self._load_loops(self.state.load())
                except StateError:
                    log.exception("the matcher's state cannot be read back")
                raise

    def restore(self) -> None:
        """At start: what the state file holds, then every watched member's profile read
        again from the node under the grants in force now (nothing granted is stored)."""
        saved = self.state.load()
        with self.lock:
            self._load_loops(saved)
            c = self.community
            for space in saved.spaces:
                c.add_space(space)
            for item in saved.content:
                c.add_content(item)
            for a, b in saved.met:
                c.mark_met(a, b)
            for e in saved.endorsed:
                c.add_endorsement(e.kind, e.did, e.text, e.at_ms)
            self.watched.update(saved.watched)
        with self.sync_lock:
            self.sync.cursor = max(self.sync.cursor, saved.cursor)
        self._saved_cursor = saved.cursor
        self.refresh(sorted(saved.watched))
        with self.lock:
            self.community.ready()
        self.keep_held_vectors()

    def _load_loops(self, saved: Saved) -> None:
        with self.lock:
            loops = self.loops
            loops.topics = {t.id: t for t in saved.topics}
            loops.pending = list(saved.pending)
            loops.intros = {i.id: i for i in saved.intros}
            loops.matched = defaultdict(dict)
            for a, b, context in saved.matched:
                loops.matched[a].setdefault(b, context)
            self.rides.offers = {o.id: o for o in saved.offers}

    def watch(self, did: str) -> None:
        with self.saving() as w:
            w.watch([did])
            self.watched.add(did)

    def leave(self, did: str) -> None:
        """The member left: not watched, out of every answer, their chain forgotten, their
        open ride offers gone (in memory and in the state file)."""
        with self.saving() as w:
            w.unwatch(did)
            self.watched.discard(did)
            self.community.remove(did)
        self.forget_vectors()
        with self.sync_lock:
            self.sync.forget(did)
        self.prune_rides(did)

    def forget(self, did: str) -> dict[str, dict[str, int]]:
        """Delete what ``did`` sent the matcher (``matching.forget``: what goes, what stays for
        the other members); the file first, memory once it is kept, then the deleted text out
        of the files' free pages and logs.  Idempotent; counts per kind."""
        with self.lock:
            today = time.strftime("%Y-%m-%d", time.gmtime(now_ms() / 1000))
            f = forgetting.plan(did, self.loops, self.rides, self.community, today)
            with self.saving() as w:
                for t in f.topics_gone:
                    w.drop_topic(t.id)
                for t in f.topics_changed:
                    w.topic(t)
                for p in f.pending_gone:
                    w.settled(p, fed=False)
                for e in f.endorsed_gone:
                    w.drop_endorsed(e)
                for iid in f.intros_gone:
                    w.drop_intro(iid)
                for i in f.intros_kept:
                    w.intro(i)
                for oid in f.offers_gone:
                    w.drop_offer(oid)
                w.unlink(did)
            f.apply(self.loops, self.rides, self.community)
        self.forget_vectors()
        self.state.checkpoint()
        if self.vectors is not None:
            self.vectors.checkpoint()
        return f.counts()

    def catch_up(self) -> bool:
        """Read the node's consent feed since the last call and refresh the members it names
        (and those whose grant expired); a member who granted to this service is watched from
        then on.  True if any profile changed.  Cost: the records since the last call."""
        with self.feed_lock:
            try:
                with self.sync_lock:
                    news = self.sync.changes()
                    due = self.sync.expiring(now_ms())
            except NodeError as e:
                log.warning("the consent feed could not be read, retrying next poll: %s", e)
                return False
            new = news.granted - self.watched
            if new or self.sync.cursor != self._saved_cursor:
                with self.saving() as w:
                    w.watch(new)
                    w.cursor(self.sync.cursor)
                    self.watched.update(new)
                self._saved_cursor = self.sync.cursor
            with self.lock:
                again = set(self.unread)
            return self.refresh(sorted(news.members | set(due) | again))

    def poll_once(self) -> None:
        start = time.perf_counter()
        changed = self.catch_up()
        self.endorsements()
        with self.lock:
            if self.community.pending >= REBUILD_AFTER_CHANGES:
                self.community.rebuild()
            if changed:
                self.community.ready()  # embed changed profiles now, not in the next answer
        self.last_poll_ms = now_ms()
        self.poll_took_ms = (time.perf_counter() - start) * 1000

    def endorsements(self) -> None:
        """Count each pending endorsement its subject has accepted; drop those not on the node."""
        for item in list(self.loops.pending):
            try:
                with self.sync_lock:
                    state = self.sync.accepted(item.subject, item.attestation)
            except NodeError as e:
                log.warning("could not check attestation %s: %s", item.attestation, e)
                continue
            if state is None or state:
                with self.saving() as w:
                    w.settled(item, fed=bool(state))
                    if state:
                        feed_endorsement(self.community, item)
                    self.loops.pending.remove(item)

    def answer(self, rank: Callable[[], Answer]) -> Answer:
        """Catch up with the consent feed, then rank: a grant, revoke or new value already on
        the node when the question arrives is applied before this answer is ranked."""
        self.catch_up()
        with self.lock:
            return rank()

    def keys_in_force(self, did: str, *, fresh: bool) -> list[bytes]:
        with self.sync_lock:
            return self.sync.keys_in_force(did, fresh=fresh)

    def list_space(self, space: Space) -> int:
        """List (or update) a space; how many members are present there now, counting those
        who checked in before it listed itself (``Community.add_space`` places them)."""
        with self.saving() as w:
            w.space(space)
            self.community.add_space(space)
            return len(self.community.at_space.get(space.id, ()))

    def name_of(self, did: str) -> str:
        with self.lock:
            p = self.community.profiles.get(did)
        return p.name if p is not None else ""
