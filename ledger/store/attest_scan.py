"""The attest records about one subject: a scan of the log, not an index.

Apart from ``Ledger`` because it is a query of its own (a byte search inside the signed
records), with nothing of the append or proof machinery.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger.encoding import canonical
from ledger.store import schema as t
from ledger.store.chains_read import StoredRecord


def attestations_about(engine: sa.Engine, subject: str, *, after_index: int = -1,
                       limit: int = 100) -> list[StoredRecord]:
    """Up to ``limit`` ``attest`` records whose ``body.subject`` is ``subject``, in log order
    after ``after_index``.

    A scan of the attest records, not an index (an index table is future work): SQL picks
    the rows of type 'attest' whose raw bytes contain the canonical text
    ``"subject":"<did>"`` (``instr`` on SQLite, an escaped bytea ``LIKE`` on PostgreSQL),
    then each body is parsed and kept only if its subject is exactly ``subject`` (the same
    text could sit inside a claim).
    """
    c = t.records.c
    text = canonical({"subject": subject})[1:-1]
    if engine.dialect.name == "sqlite":  # instr on two blobs: a byte-exact search
        like = sa.func.instr(c.raw, sa.literal(text, sa.LargeBinary)) > 0
    else:  # bytea LIKE, whose escape character is the backslash
        escaped = (text.replace(b"\\", b"\\\\").replace(b"%", b"\\%")
                   .replace(b"_", b"\\_"))
        like = c.raw.op("LIKE")(sa.literal(b"%" + escaped + b"%", sa.LargeBinary))
    found: list[StoredRecord] = []
    with engine.connect() as conn:
        while len(found) < limit:
            rows = conn.execute(sa.select(c.idx, c.raw)
                                .where(c.type == "attest", c.idx > after_index, like)
                                .order_by(c.idx).limit(limit)).all()
            for i, r in rows:
                stored = StoredRecord(int(i), bytes(r))
                rec = stored.record  # the type column is a copy: the bytes decide
                if rec.type == "attest" and rec.body.get("subject") == subject:
                    found.append(stored)
            if len(rows) < limit:
                break
            after_index = int(rows[-1].idx)
    return found[:limit]
