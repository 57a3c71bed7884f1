"""A member's records of some types read back for a decision (the consent view of a scoped
read), with the index columns they were found by checked against their signed bytes.

Consent rests on these rows, so the columns are not trusted: a revoke relabelled, moved to
another author or deleted would otherwise silently restore a grant.  Two reads:

- ``read_types``, the whole chain: one aggregate inside the database counts the rows whose
  type column is not what their bytes end with and checks the seqs run 1..the chain's stored
  seq; the rows of the types asked (and the head row, for its id) are then parsed and their
  author, seq and type compared.  The bytes of other records never leave the database.
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
    """The author's whole chain's records of ``types`` (see the module docstring).

    ``superseded=False`` (a consent fold): a ``passport.set`` or ``passport.clear`` of a field
    that a later one replaces is compared with its columns off its bytes, as every other row,
    but neither parsed nor returned: the fold would only overwrite it.
    """
    summary, wanted, first_bad = _chain_checks(conn.dialect.name, types)
    count, low, high, mislabelled, last = conn.execute(summary, {"author": author}).one()
    if mislabelled:
        seq = conn.execute(first_bad, {"author": author}).scalar()
        raise derived.corrupt(author, int(seq or 0), "type")
    if (count and (low != 1 or high != count)) or int(last or 0) != (high or 0):
        raise derived.corrupt(author, int(high or 0),
                              "author or seq (a record is missing from the chain)")
    last = int(last or 0)
    rows = conn.execute(wanted, {"author": author, "last": last}).all()
    found: list[StoredRecord] = []
    head: str | None = None
    later: set[str] = set()  # fields set or cleared after the row at hand (newest first)
    for row in reversed(rows):
        if not superseded and row.type in _VALUES:
            name = _field_of(bytes(row.raw), author, row.type)
            if name in later:
                column = derived.disagrees(author, int(row.seq), bytes(row.raw), row.type)
                if column is not None:
                    raise derived.corrupt(author, int(row.seq), column)
                continue
            if name is not None:
                later.add(name)
        stored = _checked(author, row)
        if row.type in types:
            found.append(stored)
        if row.seq == last:
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
        stored = _checked(author, row)
        if stored.record.prev != head:
            return None
        head = stored.record.id
        if row.type in types:
            found.append(stored)
    return ChainRead(found, upto, head)


def _checked(author: str, row: Any) -> StoredRecord:
    raw = bytes(row.raw)
    stored = StoredRecord(int(row.idx), raw, _light(raw, row.type))
    rec = stored.record
    if rec.author != author or rec.seq != row.seq or rec.type != row.type:
        raise derived.corrupt(author, int(row.seq), "author, seq or type")
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
def _chain_checks(dialect: str, types: frozenset[str]
                  ) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """(the aggregate of a chain's rows that ``read_types`` checks, the rows of ``types`` and
    the head row, the first seq whose type column disagrees with its bytes).

    Built once per dialect and set of types: building a statement cost more than running it.
    The suffix a record's bytes must end with for its type column is compared as bytes:
    SQLite never finds a BLOB equal to a TEXT, hence the cast (``convert_to`` on PostgreSQL).
    """
    c = t.records.c
    suffix = sa.literal(',"type":"') + c.type + sa.literal('","v":1}')
    if dialect == "sqlite":
        as_bytes: sa.ColumnElement[Any] = sa.cast(suffix, sa.LargeBinary)
        size = sa.func.length
    else:
        as_bytes = sa.func.convert_to(suffix, "UTF8")
        size = sa.func.octet_length
    tail = sa.func.substr(c.raw, size(c.raw) - size(as_bytes) + 1)
    mine = c.author == sa.bindparam("author")
    last = sa.select(t.chains.c.seq).where(t.chains.c.author == sa.bindparam("author"))
    summary = sa.select(sa.func.count(), sa.func.min(c.seq), sa.func.max(c.seq),
                        sa.func.coalesce(sa.func.sum(sa.case((tail != as_bytes, 1), else_=0)),
                                         0),
                        last.scalar_subquery()).where(mine)
    at_last = c.seq == sa.bindparam("last")
    # The types written into the statement: a bound list is re-rendered at every execution.
    if not all(_TYPE_NAME.fullmatch(name) for name in types):
        raise ValueError(f"not record types: {sorted(types)}")
    listed: list[sa.ColumnElement[Any]] = [sa.literal_column(f"'{name}'")
                                           for name in sorted(types)]
    wanted = (sa.select(c.idx, c.seq, c.type, c.raw)
              .where(mine, c.seq <= sa.bindparam("last"),
                     sa.or_(c.type.in_(listed), at_last)).order_by(c.seq))
    first_bad = sa.select(sa.func.min(c.seq)).where(mine, tail != as_bytes)
    return summary, wanted, first_bad
