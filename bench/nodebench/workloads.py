"""What the load generators send: append streams, batches, and the reads the grants allow."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bench import workload
from bench.loadgen import Job, Target
from bench.workload import Entry
from ledger import consent, keys
from ledger.records import parse_record
from ledger.times import now_ms

READ_MEMBERS = 10_000  # members sampled for the read targets
GRANT_MARK = b'"type":"consent.grant"'


def _author(raw: bytes) -> str:
    return raw[11:raw.index(b'"', 11)].decode()  # canonical JSON: {"author":"did:key:..."


def by_member(entries: Sequence[Entry], parts: int) -> list[list[Entry]]:
    """``parts`` streams, each member's records in one of them, in log (hence seq) order."""
    streams: list[list[Entry]] = [[] for _ in range(parts)]
    slot: dict[str, int] = {}
    for e in entries:
        author = _author(e.raw)
        i = slot.setdefault(author, len(slot) % parts)
        streams[i].append(e)
    return streams


def append_jobs(url: str, entries: Sequence[Entry], clients: int, processes: int) -> list[Job]:
    streams = by_member(entries, clients)
    return [Job("append", url, streams=streams[p::processes]) for p in range(processes)]


def batch_jobs(url: str, entries: Sequence[Entry], clients: int, batch: int,
               warmup: Sequence[Entry]) -> list[Job]:
    """One process per client: each sends its member-disjoint stream, a batch at a time,
    after an unmeasured resend of ``warmup`` (records the node holds already)."""
    jobs = []
    for stream in by_member(entries, clients):
        batches = [stream[i:i + batch] for i in range(0, len(stream), batch)]
        jobs.append(Job("batch", url, batches=[batches], warmup=list(warmup[:batch])))
    return jobs


def read_jobs(url: str, targets: list[Target], clients: int, processes: int, warmup_s: float,
              seconds: float) -> list[Job]:
    shares = [clients // processes + (1 if p < clients % processes else 0)
              for p in range(processes)]
    firsts = [sum(shares[:p]) for p in range(processes)]
    return [Job("read", url, targets=targets, clients=n, first_client=first,
                warmup_s=warmup_s, seconds=seconds)
            for n, first in zip(shares, firsts, strict=True) if n]


def read_targets(entries: Sequence[Entry], members: int, seed: int = 11) -> list[Target]:
    """Reads the ledger's grants allow today: for sampled members who granted fields to one
    of the workload's reader services, every field of a live grant that the node will serve
    (``consent.authorize`` decides here exactly as it will in the node)."""
    readers = {keys.did_of(workload._reader(i)): i for i in range(workload.READERS)}
    granting = sorted({_author(e.raw) for e in entries if GRANT_MARK in e.raw})
    chosen = set(random.Random(seed).sample(granting, min(members, len(granting))))
    chains: dict[str, list[bytes]] = {}
    for e in entries:
        author = _author(e.raw)
        if author in chosen:
            chains.setdefault(author, []).append(e.raw)
    now = now_ms()
    targets = []
    for member in sorted(chains):
        view = consent.PassportView.from_records([parse_record(r) for r in chains[member]],
                                                 member=member)
        for grant in consent.live_grants(view, now):
            reader = readers.get(grant.grantee)
            if reader is None:
                continue
            plan = consent.authorize(view, grant.grantee, grant.fields, now)
            if not plan.refused:
                targets.append(Target(reader, member, grant.fields))
    random.Random(seed).shuffle(targets)
    return targets

