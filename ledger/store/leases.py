"""Named leases in the database: one holder at a time across worker processes.

The anchoring loop and the federation follower each run in every uvicorn worker; a lease row
lets exactly one of them work at a time, and passes to another worker when its holder stops
renewing it.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger.store import schema as t


class Leases:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _write(self) -> sa.Connection:
        return self.engine.connect().execution_options(passport_write=True)

    def take_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holds it."""
        c = t.leases.c
        try:
            with self._write() as conn, conn.begin():
                row = conn.execute(sa.select(c.holder, c.expires_ms).where(c.name == name)
                                   .with_for_update()).one_or_none()
                if row is None:
                    conn.execute(t.leases.insert().values(name=name, holder=holder,
                                                          expires_ms=now_ms + ttl_ms))
                    return True
                if row.holder != holder and int(row.expires_ms) > now_ms:
                    return False
                conn.execute(t.leases.update().where(c.name == name).values(
                    holder=holder, expires_ms=now_ms + ttl_ms))
                return True
        except sa.exc.IntegrityError:
            return False  # another process inserted the row first

    def release_lease(self, name: str, holder: str) -> None:
        c = t.leases.c
        with self._write() as conn, conn.begin():
            conn.execute(t.leases.delete().where(c.name == name, c.holder == holder))
