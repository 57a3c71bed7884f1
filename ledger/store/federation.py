"""Federation state in the ledger database: peers followed, evidence of forked logs, erasures.

Kept in the database so that several worker processes share one view, and so that a node
that restarts resumes pulling where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from ledger.encoding import b64url_decode, b64url_encode, digest_name, parse_digest_name
from ledger.store import bulk, evidence
from ledger.store import schema as t
from ledger.store.db import writing


@dataclass(frozen=True)
class Peer:
    url: str
    log_key: bytes | None
    origin: str | None
    pulled: int
    frontier: list[bytes]
    head_note: bytes | None
    erasures_ms: int
    refused: int
    last_error: str | None
    updated_ms: int


@dataclass(frozen=True)
class ForkEvidence:
    id: int
    log_key: bytes
    origin: str
    note_a: bytes
    note_b: bytes
    reason: str
    reported_by: str
    detected_ms: int


def _peer(row: sa.Row[tuple[object, ...]]) -> Peer:
    m = row._mapping
    return Peer(url=str(m["url"]), log_key=None if m["log_key"] is None else bytes(m["log_key"]),
                origin=m["origin"], pulled=int(m["pulled"]),
                frontier=[b64url_decode(h) for h in json.loads(str(m["frontier"]))],
                head_note=None if m["head_note"] is None else bytes(m["head_note"]),
                erasures_ms=int(m["erasures_ms"]), refused=int(m["refused"]),
                last_error=m["last_error"], updated_ms=int(m["updated_ms"]))


class FederationStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- peers ---------------------------------------------------------------------------------

    def ensure_peer(self, url: str, now_ms: int) -> Peer:
        try:
            with writing(self.engine) as conn:
                row = conn.execute(sa.select(t.peers).where(t.peers.c.url == url)).one_or_none()
                if row is None:
                    conn.execute(t.peers.insert().values(
                        url=url, log_key=None, origin=None, pulled=0, frontier="[]",
                        head_note=None, erasures_ms=0, refused=0, last_error=None,
                        updated_ms=now_ms))
                    row = conn.execute(sa.select(t.peers).where(t.peers.c.url == url)).one()
        except sa.exc.IntegrityError:  # another worker added it first (PostgreSQL)
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(t.peers).where(t.peers.c.url == url)).one()
        return _peer(row)

    def peers(self) -> list[Peer]:
        with self.engine.connect() as conn:
            return [_peer(r) for r in conn.execute(sa.select(t.peers).order_by(t.peers.c.url))]

    def peer_keys(self) -> set[bytes]:
        """The log keys of every peer pinned so far: who may replicate this node's blobs."""
        return {p.log_key for p in self.peers() if p.log_key is not None}

    def stored_records(self, digests: list[bytes]) -> set[bytes]:
        """Those of the record ids ``digests`` stored here: a follower skips them (the same id
        is the same bytes), so a node following a peer that follows it back does not check,
        fetch the values of, and append as duplicates every record of its own."""
        with self.engine.connect() as conn:
            return {bytes(rid) for (rid,) in bulk.select_in(conn, t.records, ("rid",), "rid",
                                                             sorted(set(digests)))}

    def save_peer(self, peer: Peer, now_ms: int) -> None:
        with writing(self.engine) as conn:
            conn.execute(t.peers.update().where(t.peers.c.url == peer.url).values(
                log_key=peer.log_key, origin=peer.origin, pulled=peer.pulled,
                frontier=json.dumps([b64url_encode(h) for h in peer.frontier]),
                head_note=peer.head_note, erasures_ms=peer.erasures_ms, refused=peer.refused,
                last_error=peer.last_error, updated_ms=now_ms))

    def note_error(self, url: str, error: str | None, now_ms: int) -> None:
        with writing(self.engine) as conn:
            conn.execute(t.peers.update().where(t.peers.c.url == url).values(
                last_error=error, updated_ms=now_ms))

    # --- evidence of forks ---------------------------------------------------------------------

    def add_fork(self, *, log_key: bytes, origin: str, note_a: bytes, note_b: bytes,
                 reason: str, reported_by: str, now_ms: int, sign: evidence.Signer) -> int:
        """Keep two heads of one log that cannot both be true (each pair once), chained as
        evidence (``sign``: this node's log key)."""
        a, b = sorted((note_a, note_b))
        c = t.fork_evidence.c
        with writing(self.engine) as conn:
            seen = conn.execute(sa.select(c.id).where(c.note_a == a, c.note_b == b)).first()
            if seen is not None:
                return int(seen[0])
            result = conn.execute(t.fork_evidence.insert().values(
                log_key=log_key, origin=origin, note_a=a, note_b=b, reason=reason,
                reported_by=reported_by, detected_ms=now_ms))
            key = result.inserted_primary_key
            assert key is not None
            evidence.record(conn, t.fork_evidence, {"id": int(key[0])}, sign)
            return int(key[0])

    def forks(self, limit: int = 100) -> list[ForkEvidence]:
        c = t.fork_evidence.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.fork_evidence).order_by(c.id).limit(limit))
            return [ForkEvidence(int(r.id), bytes(r.log_key), r.origin, bytes(r.note_a),
                                 bytes(r.note_b), r.reason, r.reported_by, int(r.detected_ms))
                    for r in rows]

    # --- erasures, for peers to replicate ----------------------------------------------------

    def erased_since(self, since_ms: int, limit: int = 1000
                     ) -> list[tuple[str, int, bytes | None]]:
        """(blob name, erased at, the author's signed order) of values erased after
        ``since_ms``, oldest first."""
        c, e = t.blobs.c, t.erasures.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.digest, c.erased_ms, e.request)
                                .select_from(t.blobs.outerjoin(t.erasures,
                                                               e.digest == c.digest))
                                .where(c.erased_ms.is_not(None), c.erased_ms > since_ms)
                                .order_by(c.erased_ms).limit(limit))
            return [(digest_name(bytes(d)), int(ms), None if r is None else bytes(r))
                    for d, ms, r in rows]

    def blobs_named(self, names: list[str]) -> tuple[dict[str, bytes], list[str]]:
        """(the stored values among ``names``, the names whose value was erased)."""
        c = t.blobs.c
        digests = [parse_digest_name(n, what="blob name") for n in names]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.digest, c.data).where(c.digest.in_(digests)))
            found: dict[str, bytes] = {}
            erased: list[str] = []
            for digest, data in rows:
                name = digest_name(bytes(digest))
                if data is None:
                    erased.append(name)
                else:
                    found[name] = bytes(data)
        return found, erased
