"""The benchmark's workload: realistic signed records, generated once in parallel and cached.

A ledger of ``n`` records holds about ``n / 10`` members, each writing a chain of 1 to 19
records (10 on average) spread at random over the log, so a batch touches many chains:

* ``passport.set`` (about 60%, every chain opens with one): a value sealed to the member and
  one reader (two wrapped keys), uploaded with its sealed blob (about 120 bytes); ~850 bytes;
* ``checkin`` (18%): a nonce hash and a small envelope sealed to an organiser; ~660 bytes;
* ``consent.grant`` (14%): 1-2 of the member's fields granted to a reader, keys re-wrapped;
  ~700 bytes;
* ``attest`` (9%): a claim about another member; ~480 bytes.

The mean record is about 760 bytes.  The cache file holds them in log order, length-prefixed,
each with its blob (empty for records without one): ``records-<n>.bin`` in the output directory.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import struct
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import nacl.signing
import nacl.utils

from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.errors import LedgerError
from ledger.records import parse_record, signing_payload
from wallet.fields import set_field

MAGIC = b"PPBENCH1"
_HEADER = struct.Struct("<8sQ")
_ENTRY = struct.Struct("<II")
MEMBERS_PER_TASK = 250
READERS = 64
FIELDS = ("expertise", "today", "looking_for", "leaving_at", "city")
VALUES = ("Designing a ride-sharing service for the valley", "Rust, Python and distributed logs",
          "Looking for a co-founder with hardware experience", "17:30, by the north gate",
          "Lisbon until March, then Berlin", "Mentoring first-time founders on pricing")
PURPOSES = ("matching for the weekly meetup", "introductions to hardware mentors",
            "carpool matching for Friday's event")


@dataclass(frozen=True)
class Entry:
    raw: bytes
    blob: bytes  # b"" when the record names no blob

    @property
    def blobs(self) -> dict[str, bytes]:
        return {"sha256:" + hashlib.sha256(self.blob).hexdigest(): self.blob} if self.blob else {}


def _reader(i: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"bench reader %d" % i).digest())


def _member_records(rng: random.Random, readers: Sequence[str], length: int,
                    others: Sequence[str]) -> list[tuple[bytes, bytes]]:
    member = Author(keys.generate())
    content: dict[str, bytes] = {}  # field -> content key of its latest sealed value
    out: list[tuple[bytes, bytes]] = []
    for _ in range(length):
        roll = rng.random()
        if not content or roll < 0.55:
            field = rng.choice(FIELDS)
            update = set_field(member, field, rng.choice(VALUES), [rng.choice(readers)])
            content[field] = update.sealed.content_key
            out.append((update.record.raw, update.sealed.blob))
            continue
        if roll < 0.70:
            grantee = rng.choice(readers)
            fields = rng.sample(sorted(content), min(len(content), rng.randint(1, 2)))
            body = {"grant": b64url_encode(nacl.utils.random(12)), "grantee": grantee,
                    "fields": fields, "purpose": rng.choice(PURPOSES),
                    "expires": "2027-06-30T00:00:00Z",
                    "keys": {f: seal.wrap_key(content[f], grantee) for f in fields}}
            rec = member.next("consent.grant", body)
        elif roll < 0.90:
            envelope = {"ct": b64url_encode(nacl.utils.random(rng.randint(60, 120))),
                        "keys": [seal.wrap_key(nacl.utils.random(32), rng.choice(readers))]}
            rec = member.next("checkin", {"nonce_hash": "sha256:" + os.urandom(32).hex(),
                                          "sealed": envelope})
        else:
            subject = rng.choice(others) if others else rng.choice(readers)
            rec = member.next("attest", {"subject": subject, "claim": {
                "skill": rng.choice(FIELDS), "level": rng.choice(("peer", "expert")),
                "note": rng.choice(VALUES)}})
        out.append((rec.raw, b""))
    return out


def _generate_task(seed: int, lengths: Sequence[int]) -> list[tuple[float, bytes, bytes]]:
    """Chains of ``len(lengths)`` members, each record with its place in the log (a float)."""
    rng = random.Random(seed)
    readers = [keys.did_of(_reader(i)) for i in range(READERS)]
    out: list[tuple[float, bytes, bytes]] = []
    dids: list[str] = []
    for length in lengths:
        records = _member_records(rng, readers, length, dids[-50:])
        dids.append(parse_record(records[0][0]).author)
        places = sorted(rng.random() for _ in records)
        out.extend((p, raw, blob) for p, (raw, blob) in zip(places, records, strict=True))
    return out


def generate(n: int, workers: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    lengths: list[int] = []
    while sum(lengths) < n:
        lengths.append(rng.randint(1, 19))
    lengths[-1] -= sum(lengths) - n
    tasks = [lengths[i:i + MEMBERS_PER_TASK] for i in range(0, len(lengths), MEMBERS_PER_TASK)]
    placed: list[tuple[float, bytes, bytes]] = []
    ctx = multiprocessing.get_context("forkserver")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_generate_task, seed * 1_000_003 + i, t)
                   for i, t in enumerate(tasks)]
        for i, fut in enumerate(futures):
            placed.extend(fut.result())
            if i % 20 == 19 or i == len(futures) - 1:
                print(f"  generated {len(placed):,}/{n:,} records "
                      f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    placed.sort(key=lambda e: e[0])
    return [Entry(raw, blob) for _, raw, blob in placed]


def save(path: Path, entries: Sequence[Entry]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(_HEADER.pack(MAGIC, len(entries)))
        for e in entries:
            f.write(_ENTRY.pack(len(e.raw), len(e.blob)))
            f.write(e.raw)
            f.write(e.blob)
    tmp.replace(path)


def load(path: Path) -> list[Entry] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < _HEADER.size:
        return None
    magic, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        return None
    out: list[Entry] = []
    pos = _HEADER.size
    for _ in range(count):
        raw_len, blob_len = _ENTRY.unpack_from(data, pos)
        pos += _ENTRY.size
        out.append(Entry(data[pos:pos + raw_len], data[pos + raw_len:pos + raw_len + blob_len]))
        pos += raw_len + blob_len
    return out


def records(n: int, out_dir: Path, workers: int) -> list[Entry]:
    """The ``n`` records of the workload, from the cache or generated (and then cached)."""
    path = out_dir / f"records-{n}.bin"
    entries = load(path)
    if entries is not None and len(entries) == n:
        try:
            parse_record(entries[0].raw)  # a cache from an older record format is regenerated
            return entries
        except LedgerError:
            pass
    print(f"generating {n:,} signed records with {workers} processes (cached in {path}; not "
          "timed)", file=sys.stderr, flush=True)
    entries = generate(n, workers)
    save(path, entries)
    return entries


# --- raw Ed25519 verification, the bound on everything ---------------------------------------

_MESSAGES: list[tuple[bytes, bytes]] = []


def signed_messages(entries: Sequence[Entry]) -> list[tuple[bytes, bytes]]:
    """(signature || domain || payload, public key) of each record: what the node verifies."""
    out = []
    for e in entries:
        rec = parse_record(e.raw)
        out.append((rec.sig + keys.RECORD_DOMAIN + signing_payload(e.raw),
                    keys.public_key_from_did(rec.author)))
    return out


def verify_messages(messages: Sequence[tuple[bytes, bytes]]) -> int:
    for smsg, pk in messages:
        nacl.bindings.crypto_sign_open(smsg, pk)  # raises on a bad signature
    return len(messages)


def load_messages(messages: list[tuple[bytes, bytes]]) -> None:
    """Pool initializer: the messages live in the worker before the clock starts."""
    _MESSAGES[:] = messages


def verify_loaded(start: int, end: int) -> int:
    return verify_messages(_MESSAGES[start:end])


def warm_up(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
