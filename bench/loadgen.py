"""The load generator of ``bench.node``: client processes that drive a node over real HTTP.

Each generator process gets a ``Job``, prepares everything that is not the client's share of
the work (JSON bodies of the appends), waits at a barrier with its siblings, then runs its
clients as asyncio tasks on one ``aiohttp`` session (C HTTP parser, one connection per client)
and reports an ``Outcome``: latencies, failures, its own CPU time and the wall-clock window.
Signed reads are signed per request, with a fresh nonce, at the moment they are sent, as a
service would; that signing is counted in the generator's CPU time.

The verified read (``kind="verified"``) goes through ``passport_api.client.NodeClient``
instead: synchronous, one request at a time, with every check a service makes (record
signature, inclusion in the signed tree head, blob hash, decryption, commitment).
"""

from __future__ import annotations

import asyncio
import os
import queue
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

from bench.workload import Entry, _reader
from ledger.encoding import b64url_encode
from passport_api.client import NodeClient
from passport_api.signing import sign_request

Kind = Literal["append", "batch", "read", "verified"]
MAX_ERRORS_KEPT = 5
READ_PATH = "/v1/reads"


@dataclass(frozen=True)
class Target:
    """A read that the member's grants allow: ``fields`` of ``member`` for reader ``reader``."""

    reader: int  # index of the workload's reader key (bench.workload._reader)
    member: str
    fields: tuple[str, ...]


@dataclass
class Job:
    kind: Kind
    url: str
    # append: one list of entries per client, each in log order (so seq order per member);
    # batch: one list of batches per client, sent one after the other.
    streams: list[list[Entry]] = field(default_factory=list)
    batches: list[list[list[Entry]]] = field(default_factory=list)
    # batch: sent before the clock starts (records the node already holds: a resend is
    # idempotent), so the node's verify pool is running when the measured batches arrive.
    warmup: list[Entry] = field(default_factory=list)
    # read / verified: the clients cycle through the targets for warmup_s + seconds.
    targets: list[Target] = field(default_factory=list)
    clients: int = 0
    first_client: int = 0  # spreads the clients of several processes over the targets
    warmup_s: float = 0.0
    seconds: float = 0.0


@dataclass
class Outcome:
    requests: int = 0  # measured requests (reads: those started inside the window)
    items: int = 0  # records appended or reads served, inside the measured window
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    started: float = 0.0  # time.monotonic(), comparable across processes on Linux
    ended: float = 0.0
    window_s: float = 0.0
    cpu_s: float = 0.0  # this process's CPU time while it ran its clients

    def fail(self, message: str) -> None:
        self.failures += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message[:300])


def run(job: Job, barrier: Any, results: Any) -> None:
    """Process entry point: always report, even a crash, so the parent never waits forever."""
    try:
        if job.kind == "verified":
            outcome = _verified(job, barrier)
        else:
            outcome = asyncio.run(_drive(job, barrier))
    except BaseException:  # reported to the parent, which fails the run
        outcome = Outcome()
        outcome.fail(traceback.format_exc()[-300:])  # the end says what went wrong
        barrier.abort()  # the siblings and the parent stop waiting for this process
    results.put((os.getpid(), outcome))


def _append_body(e: Entry) -> bytes:
    return orjson.dumps({"record": e.raw.decode(),
                         "blobs": {k: b64url_encode(v) for k, v in e.blobs.items()}})


def _batch_body(batch: Sequence[Entry]) -> bytes:
    blobs: dict[str, str] = {}
    for e in batch:
        blobs.update({k: b64url_encode(v) for k, v in e.blobs.items()})
    return orjson.dumps({"records": [e.raw.decode() for e in batch], "blobs": blobs})


async def _drive(job: Job, barrier: Any) -> Outcome:
    if job.kind == "append":
        work: list[list[tuple[bytes, int]]] = [[(_append_body(e), 1) for e in s]
                                               for s in job.streams]
    elif job.kind == "batch":
        work = [[(_batch_body(b), len(b)) for b in s] for s in job.batches]
    else:
        work = []
    out = Outcome()
    timeout = aiohttp.ClientTimeout(total=600)
    # Warm-up on a session of its own: a connection left idle while the siblings prepare
    # would be closed by the node (keep-alive timeout) just as a client reuses it.
    async with aiohttp.ClientSession(job.url, timeout=timeout) as warm:
        async with warm.get("/v1/health") as r:
            await r.read()
        if job.warmup:
            async with warm.post("/v1/records/batch", data=_batch_body(job.warmup),
                                 headers={"content-type": "application/json"}) as r:
                if r.status != 201:
                    raise RuntimeError(f"warm-up batch: {r.status} {(await r.read())[:200]!r}")
    barrier.wait(timeout=600)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(job.url, connector=connector, timeout=timeout) as session:
        cpu0, out.started = time.process_time(), time.monotonic()
        if job.kind == "read":
            window = (out.started + job.warmup_s, out.started + job.warmup_s + job.seconds)
            readers = {t.reader: _reader(t.reader) for t in job.targets}
            await asyncio.gather(*(_reads(session, job, job.first_client + i, readers, window,
                                          out) for i in range(job.clients)))
            out.window_s = job.seconds
        else:
            path = "/v1/records" if job.kind == "append" else "/v1/records/batch"
            await asyncio.gather(*(_appends(session, path, bodies, out) for bodies in work))
        out.ended = time.monotonic()
        out.cpu_s = time.process_time() - cpu0
        if job.kind != "read":
            out.window_s = out.ended - out.started
    return out


async def _post(session: aiohttp.ClientSession, path: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, bytes, int]:
    """(status, body, ns spent); status 0 for a transport error, which the caller counts as
    a failed request before going on with its next one."""
    t0 = time.perf_counter_ns()
    try:
        async with session.post(path, data=body, headers=headers) as r:
            return r.status, await r.read(), time.perf_counter_ns() - t0
    except (aiohttp.ClientError, TimeoutError) as e:
        return 0, repr(e).encode(), time.perf_counter_ns() - t0


async def _appends(session: aiohttp.ClientSession, path: str, bodies: list[tuple[bytes, int]],
                   out: Outcome) -> None:
    headers = {"content-type": "application/json"}
    for body, count in bodies:
        status, text, spent = await _post(session, path, body, headers)
        out.requests += 1
        if status == 201:
            out.items += count
            out.latencies_ns.append(spent)
        else:
            out.fail(f"{path}: {status} {text[:200]!r}")


async def _reads(session: aiohttp.ClientSession, job: Job, client: int,
                 readers: dict[int, Any], window: tuple[float, float], out: Outcome) -> None:
    targets = job.targets
    k = client * max(1, len(targets) // max(1, job.clients * 4))  # start far from the others
    while True:
        started = time.monotonic()
        if started >= window[1]:
            return
        t = targets[k % len(targets)]
        k += 1
        body = orjson.dumps({"member": t.member, "fields": list(t.fields)})
        headers = sign_request(readers[t.reader], "POST", READ_PATH, "", body)
        headers["content-type"] = "application/json"
        status, text, spent = await _post(session, READ_PATH, body, headers)
        if started < window[0]:
            continue  # warm-up
        out.requests += 1
        if status != 200:
            out.fail(f"read {t.member} {t.fields}: {status} {text[:200]!r}")
            continue
        if time.monotonic() <= window[1]:
            out.items += 1
        out.latencies_ns.append(spent)


def _verified(job: Job, barrier: Any) -> Outcome:
    """One service client, one request at a time, every answer verified and decrypted."""
    clients: dict[int, NodeClient] = {}
    out = Outcome()
    try:
        for t in job.targets[:1]:  # connect once before the clock starts
            clients[t.reader] = NodeClient(job.url, _reader(t.reader))
            clients[t.reader].health()
        barrier.wait(timeout=600)
        cpu0, out.started = time.process_time(), time.monotonic()
        start, end = out.started + job.warmup_s, out.started + job.warmup_s + job.seconds
        k = 0
        while (now := time.monotonic()) < end:
            t = job.targets[k % len(job.targets)]
            k += 1
            c = clients.get(t.reader)
            if c is None:
                c = clients[t.reader] = NodeClient(job.url, _reader(t.reader))
            t0 = time.perf_counter_ns()
            try:
                result = c.read(t.member, list(t.fields))
                ok = set(result.values) == set(t.fields)
                problem = f"fields {sorted(result.values)}"
            except Exception as e:  # any failure is counted and shown, not hidden
                ok, problem = False, repr(e)
            spent = time.perf_counter_ns() - t0
            if now < start:
                continue
            out.requests += 1
            if not ok:
                out.fail(f"verified read {t.member} {t.fields}: {problem}")
                continue
            out.items += 1
            out.latencies_ns.append(spent)
        out.ended = time.monotonic()
        out.cpu_s = time.process_time() - cpu0
        out.window_s = job.seconds
    finally:
        for c in clients.values():
            c.close()
    return out


def collect(results: Any, procs: Sequence[Any], timeout_s: float) -> list[Outcome]:
    """Wait for one outcome per process; a process that died without one fails the run."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout_s
    while len(outcomes) < len(procs):
        try:
            _pid, outcome = results.get(timeout=1.0)
            outcomes.append(outcome)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError("the load generator did not finish in time") from None
            if all(not p.is_alive() for p in procs) and results.empty():
                raise RuntimeError("a load-generator process died without a report") from None
    return outcomes


__all__ = ["Job", "Outcome", "Target", "collect", "run"]
