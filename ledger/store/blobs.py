"""The values of a ledger: sealed blobs, their erasure, and the orders that authorise it.

A mixin of ``Ledger`` (``ledger.store.ledger``), kept apart so each file stays readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa

from ledger.encoding import digest_name, is_digest_name, parse_digest_name
from ledger.errors import BlobError, NotFoundError
from ledger.store import bulk
from ledger.store import evidence as ev
from ledger.store import schema as t


class Blobs:
    engine: sa.Engine
    _clock: Callable[[], int]

    # Provided by the host class, ``Ledger``; declared here so the mixin type-checks alone.
    def _write(self) -> sa.Connection:
        raise NotImplementedError  # reason: Ledger._write overrides it (a write connection)

    def sign_statement(self, domain: bytes, payload: bytes) -> bytes:
        raise NotImplementedError  # reason: Ledger.sign_statement overrides it (the log key)

    def blob(self, name: str) -> bytes:
        """The sealed bytes of a blob; ``BlobError`` if it was erased."""
        digest = digest_of(name)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.blobs.c.data, t.blobs.c.erased_ms)
                               .where(t.blobs.c.digest == digest)).one_or_none()
        if row is None:
            raise NotFoundError(f"no blob {name}")
        if row.data is None:
            raise BlobError(f"blob {name} was erased by its author")
        return bytes(row.data)

    def blob_author(self, name: str) -> str:
        with self.engine.connect() as conn:
            author = conn.execute(sa.select(t.blobs.c.author)
                                  .where(t.blobs.c.digest == digest_of(name))).scalar_one_or_none()
        if author is None:
            raise NotFoundError(f"no blob {name}")
        return str(author)

    def erase_blob(self, name: str, author: str, request: bytes) -> None:
        """Crypto-shred a value: the bytes go, the record (and so the chain) stays valid.

        ``author`` must be the blob's author; ``request`` is their signed order (the DELETE
        request, as ``passport_api.erasure`` checks it), kept as the erasure's evidence and
        chained with the node's other evidence.  Erasing an erased value again is a no-op.
        """
        digest = digest_of(name)
        with self._write() as conn, conn.begin():
            row = conn.execute(sa.select(t.blobs.c.author, t.blobs.c.erased_ms)
                               .where(t.blobs.c.digest == digest)).one_or_none()
            if row is None:
                raise NotFoundError(f"no blob {name}")
            if row.author != author:
                raise BlobError(f"blob {name} belongs to another member; only its author may "
                                "erase it")
            if row.erased_ms is not None:
                return
            now = self._clock()
            conn.execute(t.blobs.update().where(t.blobs.c.digest == digest)
                         .values(data=None, erased_ms=now))
            self._keep_order(conn, digest, author, request, now)

    def _keep_order(self, conn: sa.Connection, digest: bytes, author: str, request: bytes,
                    now: int) -> None:
        if conn.execute(sa.select(t.erasures.c.digest)
                        .where(t.erasures.c.digest == digest)).first() is None:
            conn.execute(t.erasures.insert().values(digest=digest, author=author,
                                                    request=request, received_ms=now))
            ev.record(conn, t.erasures, {"digest": digest}, self.sign_statement)

    def erase_ordered(self, orders: Mapping[str, bytes]) -> int:
        """Erase values whose authors' orders came from elsewhere (a peer): ``orders`` maps
        blob name to the signed order, each already checked against the blob's author
        (``passport_api.erasure.accepted``).  Returns how many values were here and are gone."""
        count = 0
        with self._write() as conn, conn.begin():
            for name, request in sorted(orders.items()):
                digest = digest_of(name)
                author = conn.execute(sa.select(t.blobs.c.author)
                                      .where(t.blobs.c.digest == digest)).scalar_one_or_none()
                if author is None:
                    continue
                now = self._clock()
                gone = conn.execute(t.blobs.update().where(t.blobs.c.digest == digest,
                                                           t.blobs.c.data.is_not(None))
                                    .values(data=None, erased_ms=now))
                if gone.rowcount:
                    count += 1
                    self._keep_order(conn, digest, str(author), request, now)
        return count

    def erasure_orders(self, names: Iterable[str]) -> dict[str, bytes]:
        """The kept orders of the erased values among ``names``."""
        digests = sorted({digest_of(n) for n in names})
        with self.engine.connect() as conn:
            rows = bulk.select_in(conn, t.erasures, ("digest", "request"), "digest", digests)
        return {digest_name(bytes(d)): bytes(r) for d, r in rows if r is not None}


def in_order(names: Sequence[str], digests: Sequence[bytes],
             found: Mapping[bytes, bytes | None]) -> list[bytes]:
    """The values of ``names`` (whose digests are ``digests``) from ``found`` (digest -> data,
    None once erased), in the order asked; refused if one is missing or erased."""
    out = []
    for name, digest in zip(names, digests, strict=True):
        if digest not in found:
            raise NotFoundError(f"no blob {name}")
        data = found[digest]
        if data is None:
            raise BlobError(f"blob {name} was erased by its author")
        out.append(bytes(data))
    return out


def digest_of(name: str) -> bytes:
    if not is_digest_name(name):
        raise NotFoundError(f"{name[:80]!r} is not a blob name (sha256:<64 hex>)")
    return parse_digest_name(name)
