"""Erasure orders: a member's signed ``DELETE /v1/blobs/<name>`` request, kept as evidence.

The request's RFC 9421 signature covers the method, the path (which names the blob), the query
and the digest of the (empty) body, but not the host: the same order is valid evidence at any
node that holds the value, so peers and an imported passport carry it with the erasure.  It is
checked offline, at the time it was signed (its own ``created``), under any key the author's
chain ever held.  ``check`` is pure; ``accepted`` reads the author's chain from the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import nacl.signing

from ledger import erasure as core
from ledger.chain import ChainState, advance
from ledger.encoding import canonical
from ledger.errors import BlobError, LedgerError
from ledger.records import Record, parse_record
from ledger.store.ledger import Ledger
from passport_api.signing import sign_request

ORDER_KEYS = core.ORDER_KEYS


def encode(proof: Mapping[str, str]) -> bytes:
    """The order as kept: the signed request's parts, canonical JSON."""
    return canonical({k: proof[k] for k in ORDER_KEYS})


def check(request: bytes, name: str, author: str, keys: Sequence[bytes]) -> str | None:
    """None if ``request`` is ``author``'s signed order to erase blob ``name``, else why not
    (the core's check, ``ledger.erasure.check``, which the audit runs too)."""
    return core.check(request, name, author, keys)


def sign_order(key: nacl.signing.SigningKey, name: str, did: str | None = None) -> bytes:
    """An order signed with ``key`` (for ``did``, by default the key's own did:key), as a
    wallet's DELETE request makes it: for tests and the demo, which erase without HTTP."""
    path = f"/v1/blobs/{name}"
    headers = sign_request(key, "DELETE", path, "", b"", keyid=did)
    return encode({"method": "DELETE", "path": path, "query": "", **headers})


def keys_ever(ledger: Ledger, author: str, batch: Sequence[Record] = ()) -> list[bytes]:
    """Every key ``author``'s chain held: as stored, then as ``batch`` (records about to be
    appended, e.g. an imported passport) carries it on."""
    state = ledger.chain_state(author) or ChainState.genesis(author)
    found = [e.key for e in state.epochs]
    for rec in sorted((r for r in batch if r.author == author), key=lambda r: r.seq):
        if rec.seq != state.seq + 1:
            continue
        try:
            state = advance(state, rec)
        except LedgerError:
            break
        found += [e.key for e in state.epochs if e.key not in found]
    return found


def accepted(ledger: Ledger, raws: Sequence[bytes], orders: Mapping[str, bytes], *,
             strict: bool) -> dict[str, bytes]:
    """The orders among ``orders`` (blob name -> order) that hold for a ``passport.set`` in
    ``raws`` or already stored: what ``Ledger.append_batch(erased=...)`` may take.  ``strict``
    raises ``BlobError`` naming the first that does not hold (an import); otherwise such orders
    are left out (a peer's), so the record they concern is refused for lack of its value."""
    records = []
    for raw in raws:
        try:
            records.append(parse_record(raw))
        except LedgerError:
            continue  # the append names it
    author_of = {r.body["blob"]: r.author for r in records if r.type == "passport.set"}
    out: dict[str, bytes] = {}
    for name, order in orders.items():
        author = author_of.get(name)
        if author is None:
            try:
                author = ledger.blob_author(name)
            except LedgerError:
                author = None
        problem = ("no record of this batch names it" if author is None
                   else check(order, name, author, keys_ever(ledger, author, records)))
        if problem is None:
            out[name] = order
        elif strict:
            raise BlobError(f"erasure order for {name}: {problem}")
    return out
