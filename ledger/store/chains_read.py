"""A member's records of some types read back for a decision (the consent view of a scoped
read), with the index columns they were found by checked against their signed bytes.

Consent rests on these rows, so the columns are not trusted: a revoke relabelled, moved to
another author or deleted would otherwise silently restore a grant.  Two reads:

- ``read_types``, the whole chain, in one statement: for every row the database tells
  whether its type column is what its bytes end with, and the seqs must run 1..the chain's
  stored seq; the rows of the types asked (and the head row, for its id) come with their
  bytes, which are parsed and their author, seq and type compared.  The bytes of other
  records never leave the database.
- ``read_after``, the records since a cached read at seq s: every row in (s, s'] is parsed
  (few: a read follows the member's last change) and compared, the seqs must run s+1..s', and
  the first must chain onto the cached head's id and each the next onto the one before.
  Rows at or below s are not read again: the cache holds what was checked when they were
  read, and a cold read would serve the same checked prefix.  The linkage is what tells the
  prefix is still the same chain (a database restored to an older state and appended to
  again has seq s' > s but another record at some seq <= s, which may be the revoke):
  any break answers None, and the caller reads the whole chain again.

The records were checked in full (signature, chain, body) when the node accepted them; what
can have changed since is the database, not the bytes' meaning.  So they are parsed for what
a fold reads (``_light``: one msgspec pass, bodies of the consent types typed), and anything
that does not parse so goes to ``parse_record``, which refuses it with its first problem.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec
import sqlalchemy as sa

from ledger.errors import PassportError
from ledger.records import Record, parse_record, record_id
from ledger.store import derived
from ledger.store import schema as t
from ledger.times import parse_ts

MAX_STEP = 64  # more new rows than this since a cached read: read the whole chain instead


@dataclass(frozen=True)
class StoredRecord:
    index: int
    raw: bytes
    parsed: Record | None = field(default=None, compare=False, repr=False)

    @cached_property
    def record(self) -> Record:
        return self.parsed if self.parsed is not None else parse_record(self.raw)


@dataclass(frozen=True)
class ChainRead:
    """Records of the types asked, in seq order, read at the chain's ``seq`` (0: no chain),
    whose record has id ``head`` (read from its bytes)."""

    records: list[StoredRecord]
    seq: int
    head: str | None


def read_types(conn: sa.Connection, author: str, types: frozenset[str], *,
               superseded: bool = True) -> ChainRead:
    """The author's whole chain's records of ``types`` (see the module docstring), in one
    statement (``whole_chain_sql``; one snapshot).

    ``superseded=False`` (a consent fold): a ``passport.set`` or ``passport.clear`` of a field
    that a later one replaces is compared with its columns off its bytes, as every other row,
    but neither parsed nor returned: the fold would only overwrite it.
    """
    sql = whole_chain_sql(conn.dialect.name, types)
    rows = conn.exec_driver_sql(sql, (author,)).all()
    return from_chain_rows(author, types, [tuple(r) for r in rows], superseded=superseded)


def from_chain_rows(author: str, types: frozenset[str], rows: Sequence[Sequence[Any]], *,
                    superseded: bool = True) -> ChainRead:
    """``read_types`` on the rows ``whole_chain_sql`` answered (the hot path runs it on the
    driver's cursor): (chain seq, idx, seq, type, type column disagrees, raw or NULL), one
    per record in seq order, or a single row of NULLs after the chain seq if there is none."""
    last = int(rows[0][0] or 0) if rows else 0
    chain = [r for r in rows if r[1] is not None]
    bad = [int(r[2]) for r in chain if r[4]]
    if bad:
        raise derived.corrupt(author, min(bad), "type")
    high = int(chain[-1][2]) if chain else 0
    if (chain and (int(chain[0][2]) != 1 or high != len(chain))) or last != high:
        raise derived.corrupt(author, high,
                              "author or seq (a record is missing from the chain)")
    found: list[StoredRecord] = []
    head: str | None = None
    later: set[str] = set()  # fields set or cleared after the row at hand (newest first)
    for _, idx, row_seq, rtype, _, row_raw in reversed(chain):
        if row_raw is None:  # neither of the types asked nor the head: its bytes stayed behind
            continue
        raw, seq = bytes(row_raw), int(row_seq)
        if not superseded and rtype in _VALUES:
            name = _field_of(raw, author, rtype)
            if name in later:
                column = derived.disagrees(author, seq, raw, rtype)
                if column is not None:
                    raise derived.corrupt(author, seq, column)
                continue
            if name is not None:
                later.add(name)
        stored = checked(author, int(idx), seq, rtype, raw)
        if rtype in types:
            found.append(stored)
        if seq == last:
            head = stored.record.id
    if last and head is None:
        raise derived.corrupt(author, last, "author or seq (a record is missing from the chain)")
    found.reverse()
    return ChainRead(found, last, head)


_VALUES = {
    "passport.set": re.compile(rb'"blob":"sha256:[0-9a-f]{64}","commitment":"sha256:[0-9a-f]{64}'
                               rb'","field":"([a-z][a-z0-9_]{0,63})","recipients":'),
    "passport.clear": re.compile(rb'"field":"([a-z][a-z0-9_]{0,63})"},"prev":')}
_TYPE_NAME = re.compile(r"[a-z][a-z.]{0,63}")
_BODY_START = len('{"author":"') + len('","body":{')


def latest_values(records: Sequence[StoredRecord]) -> tuple[StoredRecord, ...]:
    """``records`` without the sets and clears a later one of the same field replaces: what
    ``from_chain_rows(superseded=False)`` leaves out of a whole chain, for records already
    parsed (a view brought forward record by record, and the row stored from it, so they do
    not grow with every change)."""
    later: set[str] = set()
    kept: list[StoredRecord] = []
    for stored in reversed(records):
        rec = stored.record
        if rec.type in _VALUES:
            name = str(rec.body["field"])
            if name in later:
                continue
            later.add(name)
        kept.append(stored)
    return tuple(reversed(kept))


def _field_of(raw: bytes, author: str, rtype: str) -> str | None:
    """The field a set or clear names, read where its canonical bytes hold it (the body's
    members are sorted, right after the author); None if they do not read so."""
    found = _VALUES[rtype].match(raw, _BODY_START + len(author))
    return None if found is None else found.group(1).decode("ascii")


def read_after(conn: sa.Connection, author: str, types: frozenset[str], seq: int, *,
               head: str | None, upto: int) -> ChainRead | None:
    """The records of ``types`` in (seq, upto] of a chain read before at ``seq`` with head
    ``head``; None if they do not lead on from it (or are too many): read the whole chain."""
    if not seq < upto <= seq + MAX_STEP or head is None:
        return None
    rows = conn.execute(_after(), {"author": author, "after": seq, "upto": upto}).all()
    derived.check_contiguous(author, seq, [int(r.seq) for r in rows], upto)
    found: list[StoredRecord] = []
    for row in rows:
        stored = checked(author, int(row.idx), int(row.seq), row.type, bytes(row.raw))
        if stored.record.prev != head:
            return None
        head = stored.record.id
        if row.type in types:
            found.append(stored)
    return ChainRead(found, upto, head)


def checked(author: str, idx: int, seq: int, rtype: str, raw: bytes) -> StoredRecord:
    stored = StoredRecord(idx, raw, _light(raw, rtype))
    rec = stored.record
    if rec.author != author or rec.seq != seq or rec.type != rtype:
        raise derived.corrupt(author, seq, "author, seq or type")
    return stored


# The bodies a consent fold reads, their members in canonical (sorted) order.
class _Set(msgspec.Struct, forbid_unknown_fields=True):
    blob: str
    commitment: str
    field: str
    recipients: dict[str, str]


class _Clear(msgspec.Struct, forbid_unknown_fields=True):
    field: str


class _Grant(msgspec.Struct, forbid_unknown_fields=True):
    expires: str
    fields: list[str]
    grant: str
    grantee: str
    keys: dict[str, str]
    purpose: str


class _Revoke(msgspec.Struct, forbid_unknown_fields=True):
    grant: str


def _envelope(body: Any) -> msgspec.json.Decoder[Any]:
    """A decoder of the whole record with its body typed ``body`` (one C pass)."""
    kind = msgspec.defstruct("_Envelope", [
        ("v", int), ("author", str), ("seq", int), ("prev", "str | None"), ("ts", str),
        ("type", str), ("body", body), ("sig", str)], forbid_unknown_fields=True)
    return msgspec.json.Decoder(kind)


_OTHER = _envelope(msgspec.Raw)  # a type whose body the fold never reads
_BY_TYPE = {"passport.set": _envelope(_Set), "passport.clear": _envelope(_Clear),
            "consent.grant": _envelope(_Grant), "consent.revoke": _envelope(_Revoke)}


def _light(raw: bytes, rtype: str) -> Record | None:
    """``raw`` parsed for a fold, or None (then ``parse_record`` decides); ``rtype`` is its
    type column, a hint for the decoder only (the caller compares it with the bytes)."""
    try:
        env = _BY_TYPE.get(rtype, _OTHER).decode(raw)
        body = env.body
        if isinstance(body, msgspec.Raw):
            body = None
        else:
            body = msgspec.structs.asdict(body)
            if rtype == "consent.grant":
                parse_ts(body["expires"])  # the fold reads it
        ts_ms = parse_ts(env.ts)
        sig = base64.urlsafe_b64decode(env.sig + "==")
    except (msgspec.DecodeError, PassportError, binascii.Error, ValueError):
        return None
    if env.v != 1 or env.type != rtype:
        return None
    return Record(raw=raw, id=record_id(raw), author=env.author, seq=env.seq, prev=env.prev,
                  ts=env.ts, ts_ms=ts_ms, type=env.type, sig=sig, parsed_body=body)


@functools.cache
def _after() -> sa.Select[Any]:
    c = t.records.c
    return (sa.select(c.idx, c.seq, c.type, c.raw)
            .where(c.author == sa.bindparam("author"), c.seq > sa.bindparam("after"),
                   c.seq <= sa.bindparam("upto")).order_by(c.seq))


@functools.lru_cache(maxsize=16)
def whole_chain_sql(dialect: str, types: frozenset[str], marks: bool = False) -> str:
    """One statement for ``read_types``, in the driver's parameter style (one parameter: the
    author): the chain's stored seq, and for every record of the author its idx, seq, type,
    whether the type column disagrees with the end of its bytes, and its bytes if its type is
    one of ``types`` or it is the chain's head (NULL otherwise: they never leave the
    database).  With no record, one row of NULLs after the chain seq.

    ``marks``: a scoped read's read marks and signer's keys ride along (a second parameter,
    the signer): each row starts with the log size and the signer's chain seq, head and key
    history, then the columns above; one round trip instead of two for a cold read.

    The suffix a record's bytes must end with for its type column is compared as bytes:
    SQLite never finds a BLOB equal to a TEXT, hence the cast (``convert_to`` on PostgreSQL).
    The types are written into the statement (checked to be type names), built once.
    """
    if not all(_TYPE_NAME.fullmatch(name) for name in types):
        raise ValueError(f"not record types: {sorted(types)}")
    suffix = "',\"type\":\"' || r.type || '\",\"v\":1}'"
    if dialect == "sqlite":
        p, as_bytes, size = "?", f"CAST({suffix} AS BLOB)", "length"
    else:
        p, as_bytes, size = "%s", f"convert_to({suffix}, 'UTF8')", "octet_length"
    tail = f"substr(r.raw, {size}(r.raw) - {size}({as_bytes}) + 1)"
    listed = ", ".join(f"'{name}'" for name in sorted(types)) or "NULL"
    first, signer, joins = "", "", ""
    if marks:
        # the log size as a subquery run once: joined, an unanalysed log_state (PostgreSQL
        # guesses hundreds of rows) multiplies the plan's estimate until it is JIT-compiled
        first = "(SELECT size FROM log_state), s.seq, s.head, s.key_history, "
        signer = f", CAST({p} AS TEXT) AS signer"
        joins = "LEFT JOIN chains s ON s.author = a.signer "
    return (f"SELECT {first}c.seq, r.idx, r.seq, r.type, "  # noqa: S608 (no value spliced)
            f"CASE WHEN {tail} != {as_bytes} THEN 1 ELSE 0 END, "
            f"CASE WHEN r.type IN ({listed}) OR r.seq = c.seq THEN r.raw END "
            f"FROM (SELECT CAST({p} AS TEXT) AS author{signer}) a {joins}"
            f"LEFT JOIN chains c ON c.author = a.author "
            f"LEFT JOIN records r ON r.author = a.author ORDER BY r.seq")
