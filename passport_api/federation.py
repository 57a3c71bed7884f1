"""Following peer nodes: pull their log, verify every record, store and serve it here.

Records are self-authenticating (each is signed on its author's chain), so this node checks
them exactly as it checks a member's own append, through ``Ledger.append_batch``: signatures,
chains, bodies, equivocation (kept as evidence).  The peer's log is checked too: its signed
heads must be signed by the key pinned on first contact and consistent with each other, and
the entries it served must hash to its signed root; a peer that fails is recorded as evidence
of a fork and no longer followed.  Values (blobs) come with their records, over requests
signed with this node's log key, which the peer serves only to its own configured peers.
Erasures made on the peer are replayed here.

One worker process pulls at a time (a lease row), so several uvicorn workers share the work.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import nacl.signing

from ledger import merkle
from ledger.checkpoint import TreeHead, parse_checkpoint
from ledger.encoding import is_digest_name
from ledger.errors import LedgerError
from ledger.store.federation import FederationStore, Peer
from ledger.store.leases import Leases
from ledger.store.ledger import Ledger, PreparedBatch
from ledger.times import now_ms
from passport_api import erasure
from passport_api.client import NodeClient, NodeError

log = logging.getLogger("passport.federation")

ENV_PEERS = "PASSPORT_PEERS"
ENV_FOLLOW_EVERY_S = "PASSPORT_FOLLOW_EVERY_S"
PAGE = 1000
LEASE = "federation"
LEASE_MS = 60_000


class PeerError(LedgerError):
    """A peer that cannot be followed now (down, refusing) or any more (forked, key changed)."""

    code = "peer-error"


@dataclass(frozen=True)
class FederationSettings:
    peers: tuple[str, ...]
    every_s: float = 2.0

    @classmethod
    def from_env(cls) -> FederationSettings | None:
        peers = tuple(p.strip().rstrip("/") for p in os.environ.get(ENV_PEERS, "").split(",")
                      if p.strip())
        if not peers:
            return None
        return cls(peers, float(os.environ.get(ENV_FOLLOW_EVERY_S, "2")))

    def to_env(self) -> dict[str, str]:
        return {ENV_PEERS: ",".join(self.peers), ENV_FOLLOW_EVERY_S: str(self.every_s)}


@dataclass(frozen=True)
class PullReport:
    url: str
    appended: int
    duplicates: int
    refused: int
    pulled: int  # the peer's entries processed, in all
    erased: int


class Follower:
    def __init__(self, ledger: Ledger, log_key: nacl.signing.SigningKey) -> None:
        self.ledger, self.log_key = ledger, log_key
        self.store = FederationStore(ledger.engine)

    def _head(self, client: NodeClient, peer: Peer) -> tuple[Peer, TreeHead, bytes]:
        key = client.health().log_key
        if peer.log_key is not None and key != peer.log_key:
            raise PeerError(f"{peer.url} now signs with another log key than the one pinned; "
                            "not following it")
        note = client.log_head().checkpoint.encode()
        head = parse_checkpoint(note, nacl.signing.VerifyKey(key), peer.origin)
        peer = replace(peer, log_key=key, origin=head.origin)
        if peer.head_note is not None:
            self._check_consistent(client, peer, peer.head_note, note)
        return peer, head, note

    def _check_consistent(self, client: NodeClient, peer: Peer, old_note: bytes,
                          new_note: bytes) -> None:
        assert peer.log_key is not None and peer.origin is not None
        vk = nacl.signing.VerifyKey(peer.log_key)
        old, new = parse_checkpoint(old_note, vk), parse_checkpoint(new_note, vk)
        try:
            if new.size < old.size:
                raise LedgerError(f"its log shrank from {old.size} to {new.size}")
            if new.size == old.size:
                if new.root != old.root:
                    raise LedgerError("two different roots at one size")
                return
            if old.size > 0:
                proof = client.consistency_proof(old.size, new.size)
                merkle.verify_consistency(old.size, new.size, proof.decoded(), old.root,
                                          new.root)
        except LedgerError as e:
            self._fork(peer, old_note, new_note, str(e))

    def _fork(self, peer: Peer, note_a: bytes, note_b: bytes, reason: str) -> None:
        assert peer.log_key is not None and peer.origin is not None
        self.store.add_fork(log_key=peer.log_key, origin=peer.origin, note_a=note_a,
                            note_b=note_b, reason=reason, reported_by=f"following {peer.url}",
                            now_ms=now_ms(), sign=self.ledger.sign_statement)
        raise PeerError(f"{peer.url} forked its log ({reason}); evidence kept, not following it")

    def pull(self, url: str) -> PullReport:
        """Pull everything the peer's latest head covers; raises ``PeerError`` if it cannot.

        Pipelined: a fetch thread brings page k+1 (entries, then their values) and starts its
        stateless checks on the verify workers (``Ledger.prepare``) while this thread appends
        page k, so the network, the workers and the store's writes overlap.
        """
        peer = self.store.ensure_peer(url, now_ms())
        appended = duplicates = refused = erased = 0
        with (NodeClient(url, self.log_key, timeout=30.0) as client,
              ThreadPoolExecutor(1, thread_name_prefix="federation-fetch") as fetcher):
            try:
                peer, head, note = self._head(client, peer)

                def fetch(start: int) -> Future[_Page] | None:
                    if start >= head.size:
                        return None
                    return fetcher.submit(self._fetch, client, start,
                                          min(PAGE, head.size - start))

                coming = fetch(peer.pulled)
                while coming is not None:
                    page = coming.result()
                    coming = fetch(peer.pulled + len(page.raws))
                    a, d, r = self._store(page)
                    appended, duplicates, refused = appended + a, duplicates + d, refused + r
                    frontier, _ = merkle.append_leaves(peer.frontier, peer.pulled,
                                                       [merkle.leaf_hash(x) for x in page.raws])
                    peer = replace(peer, pulled=peer.pulled + len(page.raws),
                                   frontier=frontier, refused=peer.refused + r)
                    self.store.save_peer(peer, now_ms())
                if merkle.root_from_frontier(peer.frontier) != head.root:
                    self._fork(peer, peer.head_note or note, note,
                               "the entries it served do not hash to its signed root")
                peer = replace(peer, head_note=note, last_error=None)
                erased, peer = self._erasures(client, peer)
                self.store.save_peer(peer, now_ms())
            except NodeError as e:
                self.store.note_error(url, f"{type(e).__name__}: {e}", now_ms())
                raise PeerError(f"{url}: {e}") from None
            except PeerError as e:
                self.store.note_error(url, str(e), now_ms())
                raise
        return PullReport(url, appended, duplicates, refused, peer.pulled, erased)

    def _fetch(self, client: NodeClient, start: int, limit: int) -> _Page:
        """A page of the peer's log with the values its new records name, their checks
        started; records already stored here (by id) are only counted."""
        entries = client.log_entries(start, limit)
        if not entries or entries[0].index != start:
            raise PeerError(f"{client.url} served no entries at index {start}")
        raws = [e.raw for e in entries]
        digests = [hashlib.sha256(r).digest() for r in raws]
        stored = self.store.stored_records(digests)
        fresh = [r for r, d in zip(raws, digests, strict=True) if d not in stored]
        named = [_blob_named(r) for r in fresh]
        names = sorted({n for n in named if n is not None})
        blobs: dict[str, bytes] = {}
        erased: dict[str, bytes] = {}
        if names:
            got = client.peer_blobs(names)
            blobs = got.blobs
            orders = {n: o for n, o in got.orders.items() if n in got.erased}
            if orders:  # a value the peer erased comes as erased only with its author's order
                erased = erasure.accepted(self.ledger, fresh, orders, strict=False)
        prepared: PreparedBatch | None = None
        if fresh:
            with contextlib.suppress(LedgerError):  # a bad value: the records go one by one
                prepared = self.ledger.prepare(fresh, blobs, erased=erased)
        return _Page(raws, fresh, named, blobs, erased, prepared)

    def _store(self, page: _Page) -> tuple[int, int, int]:
        """Append a page's new records: all at once, or one by one when some are refused.
        Returns (appended, duplicates, refused); the records skipped as stored are
        duplicates."""
        known = len(page.raws) - len(page.fresh)
        if not page.fresh:
            return 0, known, 0
        if page.prepared is not None:
            try:
                result = self.ledger.append_prepared(page.prepared)
                return len(result.ids) - result.duplicates, result.duplicates + known, 0
            except LedgerError:
                pass  # some record is refused: take the others one by one
        blobs, erased = page.blobs, page.erased
        appended, duplicates, refused = 0, known, 0
        for raw, name in zip(page.fresh, page.named, strict=True):
            try:
                result = self.ledger.append_batch(
                    [raw], {name: blobs[name]} if name and name in blobs else {},
                    erased={name: erased[name]} if name and name in erased else {})
            except LedgerError as e:  # a bad record, an equivocation (kept as evidence), ...
                refused += 1
                log.warning("refused a record from a peer: %s", e)
                continue
            duplicates += result.duplicates
            appended += 1 - result.duplicates
        return appended, duplicates, refused

    def _erasures(self, client: NodeClient, peer: Peer) -> tuple[int, Peer]:
        got = client.erasures(peer.erasures_ms)
        if not got:
            return 0, peer
        # Only on the author's order: a peer cannot erase values here on its own say.
        orders = erasure.accepted(self.ledger, [], {
            e.name: e.order for e in got if e.order is not None}, strict=False)
        count = self.ledger.erase_ordered(orders)
        return count, replace(peer, erasures_ms=max(e.erased_ms for e in got))


_SET_TAIL = b',"type":"passport.set","v":1}'
_BLOB_AT = b'","body":{"blob":"'
_NAME_CHARS = 71  # sha256:<64 hex>


def _blob_named(raw: bytes) -> str | None:
    """The value a peer's ``passport.set`` names, read off its bytes without parsing them (the
    append path parses and checks the record once, in the verify workers).  In canonical form
    the type is the last member but ``v`` and ``blob`` is the body's first; bytes that do not
    read so name nothing here, and if they are a record after all, the append refuses it for
    lack of its value."""
    if not raw.endswith(_SET_TAIL):
        return None
    at = raw.find(_BLOB_AT)
    if at < 0:
        return None
    name = raw[at + len(_BLOB_AT):at + len(_BLOB_AT) + _NAME_CHARS].decode("ascii", "replace")
    return name if is_digest_name(name) else None


@dataclass(frozen=True)
class _Page:
    raws: list[bytes]  # the peer's entries, all of them (its Merkle tree is checked on these)
    fresh: list[bytes]  # those not stored here yet, in log order
    named: list[str | None]  # the value each fresh record names, if any
    blobs: dict[str, bytes]
    erased: dict[str, bytes]  # values the peer erased, with their authors' orders
    prepared: PreparedBatch | None  # None: a value was refused; append record by record


class FollowLoop:
    """The background thread of one worker; only the lease holder pulls."""

    def __init__(self, ledger: Ledger, log_key: nacl.signing.SigningKey,
                 settings: FederationSettings) -> None:
        self.follower, self.settings = Follower(ledger, log_key), settings
        self.leases = Leases(ledger.engine)
        self.holder = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="passport-federation",
                                        daemon=True)

    def start(self) -> None:
        for url in self.settings.peers:
            self.follower.store.ensure_peer(url, now_ms())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.leases.release_lease(LEASE, self.holder)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.every_s):
            try:
                if not self.leases.take_lease(LEASE, self.holder, now_ms(), LEASE_MS):
                    continue
                for url in self.settings.peers:
                    try:
                        self.follower.pull(url)
                    except LedgerError as e:
                        log.warning("following %s: %s (retrying)", url, e)
            except Exception:  # never let federation stop the node serving
                log.exception("federation round failed (retrying)")


def start_following(ledger: Ledger, log_key: nacl.signing.SigningKey) -> Callable[[], None]:
    settings = FederationSettings.from_env()
    if settings is None:
        return lambda: None
    loop = FollowLoop(ledger, log_key, settings)
    loop.start()
    return loop.stop


def peer_summary(peer: Peer) -> dict[str, Any]:
    return {"url": peer.url, "origin": peer.origin,
            "log_key": None if peer.log_key is None else peer.log_key.hex(),
            "pulled": peer.pulled, "refused": peer.refused, "last_error": peer.last_error,
            "head": None if peer.head_note is None else peer.head_note.decode(),
            "updated_ms": peer.updated_ms}
