"""A hash chain over the evidence the node makes, and the node's signature on its last link.

Receipts, equivocations, erasure orders and fork evidence are rows the node writes, not records
a member signed into the log.  Each such row gets an entry here: its table (``kind``), its key
(``ref``), the sha256 of all its columns (``digest``) and ``link = sha256(previous link || n ||
kind || ref || digest)``; ``evidence_head`` holds the node's signature over the last link.
Editing a row changes its digest; deleting one leaves an entry without a row; deleting entries
breaks the links or the signed head, which needs the log key to forge.  The audit re-derives all
of it (``ledger.store.audit_evidence``).

The digest covers the columns the schema has now: a migration that adds a column to one of
these tables must give old rows a value that keeps their digest, or chain them anew.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ledger.encoding import JSONValue, canonical
from ledger.store import schema as t

DOMAIN = b"passport/evidence/v1\x00"
GENESIS = b"\x00" * 32
KINDS: dict[str, sa.Table] = {"receipts": t.receipts, "equivocations": t.equivocations,
                              "erasures": t.erasures, "fork_evidence": t.fork_evidence}

Signer = Callable[[bytes, bytes], bytes]  # (domain, payload) -> signature by the log key


def row_digest(table: sa.Table, row: Mapping[Any, Any]) -> bytes:
    """sha256 of every column of an evidence row, canonically encoded.  Keys as plain ``str``:
    a column's name is a ``str`` subclass, which sends ``canonical`` down its slow pure-Python
    path (the same bytes, 10x the time)."""
    return hashlib.sha256(canonical({str(c.name): _plain(row[c.name]) for c in table.columns})
                          ).digest()


def _plain(value: object) -> JSONValue:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    assert value is None or isinstance(value, int | str)
    return value


def ref_of(table: sa.Table, row: Mapping[Any, Any]) -> str:
    key = [row[c.name] for c in table.primary_key.columns]
    return ":".join(bytes(k).hex() if isinstance(k, bytes | memoryview) else str(k) for k in key)


def link(previous: bytes, n: int, kind: str, ref: str, digest: bytes) -> bytes:
    return hashlib.sha256(previous + canonical([n, str(kind), ref, digest.hex()])).digest()


def head_payload(n: int, last: bytes) -> bytes:
    return canonical({"n": n, "link": last.hex()})


def record(conn: sa.Connection, table: sa.Table, keys: Mapping[Any, Any],
           sign: Signer) -> None:
    """Chain the row of ``table`` with primary key ``keys`` (written in this transaction)."""
    row = conn.execute(sa.select(table).where(*(table.c[k] == v for k, v in keys.items()))
                       ).one()._mapping
    head = conn.execute(sa.select(t.evidence_head.c.n, t.evidence_head.c.link)
                        .where(t.evidence_head.c.id == 1).with_for_update()).one_or_none()
    n, previous = (0, GENESIS) if head is None else (int(head.n), bytes(head.link))
    digest = row_digest(table, row)
    ref = ref_of(table, row)
    new = link(previous, n + 1, table.name, ref, digest)
    conn.execute(t.evidence.insert().values(n=n + 1, kind=table.name, ref=ref, digest=digest,
                                            link=new))
    sig = sign(DOMAIN, head_payload(n + 1, new))
    if head is None:
        conn.execute(t.evidence_head.insert().values(id=1, n=n + 1, link=new, sig=sig))
    else:
        conn.execute(t.evidence_head.update().where(t.evidence_head.c.id == 1)
                     .values(n=n + 1, link=new, sig=sig))


def record_many(conn: sa.Connection, table: sa.Table, keys: Sequence[Mapping[Any, Any]],
                sign: Signer) -> None:
    """``record`` for several rows of ``table`` written in this transaction, in order: the
    same links, and one signature over the last (a group of receipts: one signing, not one
    per receipt)."""
    if not keys:
        return
    head = conn.execute(sa.select(t.evidence_head.c.n, t.evidence_head.c.link)
                        .where(t.evidence_head.c.id == 1).with_for_update()).one_or_none()
    n, previous = (0, GENESIS) if head is None else (int(head.n), bytes(head.link))
    entries = []
    for row in _rows(conn, table, keys):
        ref = ref_of(table, row)
        digest = row_digest(table, row)
        n += 1
        previous = link(previous, n, table.name, ref, digest)
        entries.append({"n": n, "kind": table.name, "ref": ref, "digest": digest,
                        "link": previous})
    conn.execute(t.evidence.insert(), entries)  # one executemany, not a round trip per row
    sig = sign(DOMAIN, head_payload(n, previous))
    if head is None:
        conn.execute(t.evidence_head.insert().values(id=1, n=n, link=previous, sig=sig))
    else:
        conn.execute(t.evidence_head.update().where(t.evidence_head.c.id == 1)
                     .values(n=n, link=previous, sig=sig))


def _rows(conn: sa.Connection, table: sa.Table, keys: Sequence[Mapping[Any, Any]]
          ) -> list[Mapping[Any, Any]]:
    """The rows with primary keys ``keys``, in that order: one query when the key is a single
    column (receipts), else one per row.  A key without a row raises (as ``.one()`` would)."""
    names = {name for key in keys for name in key}
    if len(names) != 1:
        return [conn.execute(sa.select(table).where(*(table.c[k] == v for k, v in key.items()))
                             ).one()._mapping for key in keys]
    (name,) = names
    column = table.c[name]
    found = {row._mapping[name]: row._mapping for row in conn.execute(
        sa.select(table).where(column.in_([key[name] for key in keys])))}
    missing = [key[name] for key in keys if key[name] not in found]
    if missing:
        raise sa.exc.NoResultFound(f"no {table.name} row with {name} = {missing[0]!r}")
    return [found[key[name]] for key in keys]


def chain_existing(conn: sa.Connection) -> int:
    """Chain every evidence row not chained yet (migration 0005); the head is signed later by
    ``sign_head_if_missing``.  Returns how many were chained."""
    last = conn.execute(sa.select(t.evidence.c.n, t.evidence.c.link)
                        .order_by(t.evidence.c.n.desc()).limit(1)).one_or_none()
    n, previous = (0, GENESIS) if last is None else (int(last.n), bytes(last.link))
    done = {str(r) for (r,) in conn.execute(sa.select(t.evidence.c.kind + "/" +
                                                      t.evidence.c.ref))}
    added = 0
    for table in KINDS.values():
        for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
            m = row._mapping
            ref = ref_of(table, m)
            if f"{table.name}/{ref}" in done:
                continue
            digest = row_digest(table, m)
            n += 1
            previous = link(previous, n, table.name, ref, digest)
            conn.execute(t.evidence.insert().values(n=n, kind=table.name, ref=ref,
                                                    digest=digest, link=previous))
            added += 1
    return added


def sign_head_if_missing(conn: sa.Connection, sign: Signer) -> None:
    """Sign the chain as it is when there is no head: a new ledger (the empty chain, so the
    head row exists for writers to lock) or one a migration chained.  The audit names a chain
    whose entries reach past its signed head."""
    if conn.execute(sa.select(t.evidence_head.c.id)).first() is not None:
        return
    last = conn.execute(sa.select(t.evidence.c.n, t.evidence.c.link)
                        .order_by(t.evidence.c.n.desc()).limit(1)).one_or_none()
    n, link_ = (0, GENESIS) if last is None else (int(last.n), bytes(last.link))
    conn.execute(t.evidence_head.insert().values(id=1, n=n, link=link_,
                                                 sig=sign(DOMAIN, head_payload(n, link_))))
