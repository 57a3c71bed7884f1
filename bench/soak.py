"""Soak: a node on loopback under a steady mix of appends and reads at its measured capacity.

    python -m bench.soak                      # 300 s (make soak)
    python -m bench.soak --seconds 20 --json out.json

1. Start ``passport node serve`` (SQLite, one worker) on 127.0.0.1 and seed members, each
   with a value granted to one service.
2. Calibrate: ``--clients`` closed-loop clients for a share of the time; the request rate they
   reach is the node's capacity for this mix.
3. Soak: the same clients, paced to ``--load`` × that rate (open loop: a client that falls
   behind does not burst), for the rest of the time.  The mix: single appends (a sealed value
   and its blob), batches of 20, the latest signed head, a record by id, an inclusion proof,
   and a service's signed scoped read (which writes a receipt).
4. Every second the node's resident memory (VmRSS of every process of its session) is sampled.
5. At the end every acknowledged append is looked up in the database and the full audit runs.

The report gives requests and errors per kind, the rates, latencies and RSS at the soak's start,
end and maximum.  It fails (exit 1) on any error, any acknowledged record missing, an audit
problem, or the node's heap (RssAnon) growing by more than ``--max-growth-mib`` over the soak
(a leak; file-backed RSS grows with the database SQLite maps, by design).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nacl.signing
import orjson

from bench.node import NodeProcess, running_node
from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import open_engine
from ledger.store.ledger import Ledger
from ledger.times import format_ts, now_ms
from passport_api.client import NodeClient
from passport_api.signing import sign_request
from wallet.fields import set_field

MIX = (("append", 45), ("batch", 5), ("head", 15), ("record", 15), ("proof", 10),
       ("read", 10))
BATCH = 20
GRANT_ID = "grant-soak-01"
DAY_MS = 24 * 3600 * 1000
ERRORS_KEPT = 10


@dataclass
class Tally:
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (record id, index)

    def count(self, kind: str, ok: bool, ms: float, why: str = "") -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1
        self.latencies_ms.append(ms)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.error_samples) < ERRORS_KEPT:
                self.error_samples.append(f"{kind}: {why[:300]}")


@dataclass
class Member:
    author: Author
    service: str  # the did its values are sealed to


class Client:
    """One simulated caller: its own members, the ids it has seen, a seeded choice of work."""

    def __init__(self, n: int, url: str, service: nacl.signing.SigningKey,
                 members: list[Member], seed: int, reads_only: bool = False) -> None:
        self.url, self.service, self.members = url, service, members
        self.rng = random.Random(seed)
        self.kinds = [k for k, w in MIX for _ in range(w)
                      if not (reads_only and k in ("append", "batch"))]
        self.known: list[tuple[str, int]] = []
        self.n = n

    def _set(self) -> tuple[bytes, dict[str, bytes]]:
        m = self.rng.choice(self.members)
        update = set_field(m.author, "today", f"soak {m.author.seq} {self.rng.random()}",
                           [m.service])
        return update.record.raw, update.blobs

    async def one(self, session: aiohttp.ClientSession, tally: Tally, size: int) -> None:
        kind = self.rng.choice(self.kinds)
        if kind in ("record", "proof") and not self.known:
            kind = "head"
        method, path, body, headers = "GET", "/v1/log/head", b"", {}
        if kind == "append":
            raw, blobs = self._set()
            method, path = "POST", "/v1/records"
            body = orjson.dumps({"record": raw.decode(),
                                 "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})
        elif kind == "batch":
            pairs = [self._set() for _ in range(BATCH)]
            method, path = "POST", "/v1/records/batch"
            body = orjson.dumps({"records": [r.decode() for r, _ in pairs], "blobs": {
                k: b64url_encode(v) for _, b in pairs for k, v in b.items()}})
        elif kind == "record":
            path = "/v1/records/" + self.rng.choice(self.known)[0]
        elif kind == "proof":
            index = self.rng.choice(self.known)[1]
            path = f"/v1/log/proofs/inclusion?index={index}&size={max(size, index + 1)}"
        elif kind == "read":
            m = self.rng.choice(self.members)
            method, path = "POST", "/v1/reads"
            body = orjson.dumps({"member": m.author.did, "fields": ["today"]})
            headers = sign_request(self.service, "POST", path, "", body)
        if body:
            headers["content-type"] = "application/json"
        started = time.perf_counter()
        try:
            async with session.request(method, self.url + path, data=body or None,
                                       headers=headers) as r:
                answer = await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError) as e:
            tally.count(kind, False, (time.perf_counter() - started) * 1000, repr(e))
            return
        ms = (time.perf_counter() - started) * 1000
        want = 201 if kind in ("append", "batch") else 200
        tally.count(kind, status == want, ms, f"{status} {answer[:300]!r}")
        if status == 201:
            out = orjson.loads(answer)
            ids = out.get("ids") or [out["id"]]
            indexes = out.get("indexes") or [out["index"]]
            pairs_ = list(zip(ids, indexes, strict=True))
            tally.acknowledged += pairs_
            self.known += pairs_[:2]


async def run_clients(clients: Sequence[Client], seconds: float, rate: float | None,
                      tally: Tally) -> float:
    """Closed loop (``rate`` None) or paced at ``rate`` requests/s in all; the wall time."""
    deadline = time.monotonic() + seconds
    size = [0]
    timeout = aiohttp.ClientTimeout(total=60)

    async def loop(c: Client) -> None:
        period = None if rate is None else len(clients) / rate
        due = time.monotonic()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < deadline:
                if period is not None:
                    now = time.monotonic()
                    if due > now:
                        await asyncio.sleep(due - now)
                    due = max(due + period, time.monotonic() - period)  # no catch-up burst
                await c.one(session, tally, size[0])
                if tally.acknowledged:
                    size[0] = max(size[0], tally.acknowledged[-1][1] + 1)

    started = time.monotonic()
    await asyncio.gather(*(loop(c) for c in clients))
    return time.monotonic() - started


def rss_kib(node: NodeProcess) -> tuple[int, int]:
    """Resident memory of every process in the node's session (uvicorn, verify workers): all
    of it, and its anonymous part (the heap; the rest is mostly SQLite's mapped file pages,
    which grow with the database up to ``mmap_size``, and code)."""
    total = anon = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != node.proc.pid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total, anon


async def sample_rss(node: NodeProcess, samples: list[tuple[float, int, int]],
                     stop: asyncio.Event) -> None:
    start = time.monotonic()
    while not stop.is_set():
        samples.append((round(time.monotonic() - start, 1), *rss_kib(node)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def seed_members(url: str, service: nacl.signing.SigningKey, count: int
                 ) -> list[Member]:
    """Members with a value sealed to the service and a live grant of it, in one batch."""
    did = keys.did_of(service)
    members: list[Member] = []
    raws: list[bytes] = []
    blobs: dict[str, bytes] = {}
    for _ in range(count):
        author = Author(keys.generate())
        update = set_field(author, "today", "starting the soak", [did])
        raws.append(update.record.raw)
        blobs |= update.blobs
        raws.append(author.next("consent.grant", {
            "grant": GRANT_ID, "grantee": did, "fields": ["today"], "purpose": "soak",
            "expires": format_ts(now_ms() + DAY_MS),
            "keys": {"today": seal.wrap_key(update.sealed.content_key, did)}}).raw)
        members.append(Member(author, did))
    NodeClient(url, timeout=120).append_batch(raws, blobs)
    return members


def summary(tally: Tally, wall_s: float) -> dict[str, Any]:
    lat = sorted(tally.latencies_ms)
    total = sum(tally.requests.values())

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else 0.0

    return {"seconds": round(wall_s, 1), "requests": total,
            "requests_per_s": round(total / wall_s, 1) if wall_s else 0.0,
            "records_acknowledged": len(tally.acknowledged),
            "records_per_s": round(len(tally.acknowledged) / wall_s, 1) if wall_s else 0.0,
            "by_kind": dict(sorted(tally.requests.items())),
            "errors": sum(tally.errors.values()), "errors_by_kind": tally.errors,
            "error_samples": tally.error_samples,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


@dataclass
class Report:
    calibration: dict[str, Any]
    soak: dict[str, Any]
    target_rate_per_s: float
    rss_kib: dict[str, int]
    rss_anon_kib: dict[str, int]
    rss_samples: list[tuple[float, int, int]]  # (s, VmRSS KiB, RssAnon KiB)
    stored_size: int
    missing: int
    audit_ok: bool
    audit_problems: list[str]
    failures: list[str]


def soak(args: argparse.Namespace) -> Report:
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="passport-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    db = str(work / "soak.sqlite")
    service = keys.generate()
    calib_s = max(2.0, args.seconds * args.calibrate_share)
    with running_node(db, work / "node", args.workers) as node:
        members = seed_members(node.url, service, args.clients * args.members_per_client)
        per = args.members_per_client
        clients = [Client(i, node.url, service, members[i * per:(i + 1) * per], args.seed + i)
                   for i in range(args.clients)]
        calib = Tally()
        calib_wall = asyncio.run(run_clients(clients, calib_s, None, calib))
        if args.reads_only:  # the ledger stops growing: memory should then stay level
            for c in clients:
                c.kinds = [k for k in c.kinds if k not in ("append", "batch")]
        capacity = sum(calib.requests.values()) / calib_wall
        rate = capacity * args.load
        tally = Tally()
        samples: list[tuple[float, int, int]] = []

        async def main() -> float:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(node, samples, stop))
            try:
                return await run_clients(clients, args.seconds - calib_s, rate, tally)
            finally:
                stop.set()
                await sampler

        wall = asyncio.run(main())
    engine = open_engine(db, create=False)
    try:
        ledger = Ledger(engine)
        stored = {r.index: r.record.id for r in ledger.records_range(0, ledger.size())}
        acked = calib.acknowledged + tally.acknowledged
        missing = sum(1 for rid, index in acked if stored.get(index) != rid)
        report = audit(engine, verifier=Verifier(0))
        size = ledger.size()
    finally:
        engine.dispose()
    rss = [kib for _, kib, _ in samples] or [0]
    anon = [kib for _, _, kib in samples] or [0]
    failures = []
    if calib.errors or tally.errors:
        failures.append(f"{sum(calib.errors.values()) + sum(tally.errors.values())} errors")
    if missing:
        failures.append(f"{missing} acknowledged records missing")
    if not report.ok:
        failures.append("the audit found problems")
    if anon[-1] - anon[0] > args.max_growth_mib * 1024:
        failures.append(f"node heap (RssAnon) grew {(anon[-1] - anon[0]) // 1024} MiB over "
                        "the soak")
    return Report(calibration=summary(calib, calib_wall), soak=summary(tally, wall),
                  target_rate_per_s=round(rate, 1),
                  rss_kib={"start": rss[0], "end": rss[-1], "max": max(rss)},
                  rss_anon_kib={"start": anon[0], "end": anon[-1], "max": max(anon)},
                  rss_samples=samples, stored_size=size, missing=missing, audit_ok=report.ok,
                  audit_problems=[str(p) for p in report.problems[:10]], failures=failures)


def text(r: Report) -> str:
    s, c = r.soak, r.calibration
    mib = {k: round(v / 1024, 1) for k, v in r.rss_kib.items()}
    heap = {k: round(v / 1024, 1) for k, v in r.rss_anon_kib.items()}
    lines = [
        f"calibration: {c['requests']} requests in {c['seconds']} s, closed loop = "
        f"{c['requests_per_s']} req/s (capacity for this mix)",
        f"soak: {s['seconds']} s paced at {r.target_rate_per_s} req/s: {s['requests']} "
        f"requests ({s['requests_per_s']} req/s), {s['records_acknowledged']} records "
        f"appended ({s['records_per_s']}/s), p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms",
        "  by kind: " + ", ".join(f"{k} {v}" for k, v in s["by_kind"].items()),
        f"errors: {s['errors'] + c['errors']}"
        + ("" if not s["error_samples"] else " e.g. " + "; ".join(s["error_samples"][:3])),
        f"node RSS (MiB): start {mib['start']}, end {mib['end']}, max {mib['max']} "
        f"({len(r.rss_samples)} samples); of it anonymous (heap): start {heap['start']}, "
        f"end {heap['end']}, max {heap['max']}",
        f"ledger: {r.stored_size} records, {r.missing} acknowledged missing, audit "
        + ("ok" if r.audit_ok else "FAILED: " + "; ".join(r.audit_problems)),
        "verdict: " + ("ok" if not r.failures else "FAILED: " + "; ".join(r.failures)),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300.0, help="whole run, calibration included")
    p.add_argument("--calibrate-share", type=float, default=0.15,
                   help="share of the time spent measuring capacity")
    p.add_argument("--load", type=float, default=1.0, help="paced rate as a share of capacity")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--members-per-client", type=int, default=8)
    p.add_argument("--workers", type=int, default=1, help="node worker processes")
    p.add_argument("--max-growth-mib", type=float, default=64.0,
                   help="fail if the node's heap (RssAnon) grows more over the soak")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--reads-only", action="store_true",
                   help="after calibration, only reads (the database then barely grows)")
    p.add_argument("--dir", help="where the ledger goes (default: a new temporary directory)")
    p.add_argument("--json", help="write the report here too")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = soak(args)
    print(text(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(asdict(report), indent=1))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
