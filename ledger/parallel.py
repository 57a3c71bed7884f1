"""Record checks spread over processes: parsing and signatures use every core.

Only the checks that need no chain state run here: the canonical form, the body, and the
signature under the author's own key (the key in force for almost every record).  Records signed
by a rotated or device key come back with ``signer=None`` and the chain check verifies them
again against the keys in force, so the fast path never decides alone.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from ledger import keys, merkle
from ledger.encoding import digest_name
from ledger.errors import RecordError
from ledger.fastparse import parse_fast
from ledger.records import MAX_CLOCK_SKEW_S, Record, parse_record, signing_payload

CHUNK_RECORDS = 256
MIN_PARALLEL_RECORDS = 2 * CHUNK_RECORDS


@dataclass(frozen=True, slots=True)
class Checked:
    record: Record
    signer: bytes | None  # the author's own key when it verified, else None
    leaf: bytes  # the record's Merkle leaf hash


Outcome = Checked | RecordError


# What a worker sends back per good record: everything but the raw bytes (the caller has them)
# and the body (parsed again on demand), so the trip between processes costs little.
_Slim = tuple[bytes, str, int, "str | None", str, int, str, bytes, "bytes | None", bytes]


def _check_slim(raws: Sequence[bytes], now: int | None) -> list[_Slim | RecordError]:
    out: list[_Slim | RecordError] = []
    for raw in raws:
        fast = parse_fast(raw, now, MAX_CLOCK_SKEW_S)
        if fast is None:  # unusual or bad: the full parse decides, and names the problem
            try:
                rec = parse_record(raw, now=now)
            except RecordError as e:
                out.append(e)
                continue
            fast = (rec.author, rec.seq, rec.prev, rec.ts, rec.ts_ms, rec.type, rec.sig)
        author, seq, prev, ts, ts_ms, rtype, sig = fast
        key = keys.public_key_from_did(author)
        ok = keys.verify(key, keys.RECORD_DOMAIN, signing_payload(raw), sig)
        out.append((hashlib.sha256(raw).digest(), author, seq, prev, ts, ts_ms, rtype, sig,
                    key if ok else None, merkle.leaf_hash(raw)))
    return out


def _inflate(raws: Sequence[bytes], slims: Sequence[_Slim | RecordError]) -> list[Outcome]:
    out: list[Outcome] = []
    for raw, slim in zip(raws, slims, strict=True):
        if isinstance(slim, RecordError):
            out.append(slim)
            continue
        digest, author, seq, prev, ts, ts_ms, rtype, sig, signer, leaf = slim
        rec = Record(raw=raw, id=digest_name(digest), author=author, seq=seq, prev=prev,
                     ts=ts, ts_ms=ts_ms, type=rtype, sig=sig)
        out.append(Checked(rec, signer, leaf))
    return out


def check_records(raws: Sequence[bytes], now: int | None) -> list[Outcome]:
    """Parse and verify ``raws`` in this process."""
    return _inflate(raws, _check_slim(raws, now))


class Pending:
    """Checks under way; ``result()`` waits for them, in input order."""

    def __init__(self, raws: Sequence[bytes], now: int | None,
                 futures: list[Future[list[_Slim | RecordError]]] | None) -> None:
        self._raws, self._now, self._futures = raws, now, futures

    def result(self) -> list[Outcome]:
        if self._futures is None:
            return check_records(self._raws, self._now)
        try:
            return _inflate(self._raws, [o for fut in self._futures for o in fut.result()])
        finally:
            for fut in self._futures:
                fut.cancel()


class Verifier:
    """A lazily started process pool; ``workers=0`` checks in the calling process."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, raws: Sequence[bytes], now: int | None) -> Pending:
        """Start checking ``raws``; the caller may do other work before ``result()``."""
        if self.workers <= 0 or len(raws) < MIN_PARALLEL_RECORDS:
            return Pending(raws, now, None)
        pool = self._start()
        return Pending(raws, now, [pool.submit(_check_slim, raws[start:start + CHUNK_RECORDS], now)
                                   for start in range(0, len(raws), CHUNK_RECORDS)])

    def check(self, raws: Sequence[bytes], now: int | None) -> list[Outcome]:
        return self.submit(raws, now).result()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def worker_pids(self) -> list[int]:
        """The pool's process ids (none before it starts): for benchmarks that count the
        workers' CPU time."""
        if self._pool is None:
            return []
        # ProcessPoolExecutor keeps its processes in a private mapping; read only here.
        return list(self._pool._processes or {})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
