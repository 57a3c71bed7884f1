"""Consent views kept in the database for cold reads (table ``consent_views``).

A worker that has no view of a member read their whole chain, checked every row against its
bytes and folded it (``chains_read``): on a 1M-record ledger one random page per record, for
nearly every read, since each worker keeps a bounded number of views.  So the first worker to
fold a member's view stores the records it folded (the consent records, superseded values
left out), with the chain seq and head it read them at, and any worker's next cold read of
that member takes them in the statement that reads the marks: one row instead of the chain.

The columns are not trusted, any more than the records' are (``chains_read``): the stored
records come with a MAC under a key derived from the node's log key, which is not in the
database, over the member, seq, head and records.  A row that fails it, or names another
seq or head than the member's chain row, is not used: the read folds the chain as before
(and stores a fresh row).  A row behind the chain is brought forward like a worker's own
kept view, with the records since its seq (``chains_read.read_after``, which checks they
lead on from its head).  What a row can never do is hide a record the chain holds: a
revoke moves the chain's seq, and a row at an older seq only starts the fold.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import msgspec

from ledger.store import chains_read
from ledger.store.chains_read import ChainRead

_DOMAIN = b"passport.consent-view.v1\x00"
_KEY_LABEL = b"passport consent-view mac key v1"
_Row = tuple[int, int, str, bytes]  # idx, seq, type, raw
_decoder = msgspec.msgpack.Decoder(list[tuple[int, int, str, bytes]])


def mac_key(log_key_seed: bytes) -> bytes:
    """The MAC key of stored views, derived from the node's log key (never the key itself)."""
    return hmac.new(log_key_seed, _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class ViewState:
    """A row of ``consent_views``: what a fold read, sealed for the database."""

    author: str
    seq: int
    head: str
    records: bytes
    mac: bytes


def seal(key: bytes, author: str, read: ChainRead) -> ViewState | None:
    """The row to store for ``read`` (None for a member with no chain: nothing to keep)."""
    if read.head is None:
        return None
    records = msgspec.msgpack.encode([(s.index, s.record.seq, s.record.type, s.raw)
                                      for s in read.records])
    return ViewState(author, read.seq, read.head, records,
                     _mac(key, author, read.seq, read.head, records))


def opened(key: bytes, state: ViewState) -> ChainRead | None:
    """The stored read, if its MAC holds for its member, seq and head; else None."""
    author = state.author
    if not hmac.compare_digest(_mac(key, author, state.seq, state.head, state.records),
                               state.mac):
        return None
    rows: list[_Row] = _decoder.decode(state.records)
    found = [chains_read.checked(author, idx, rseq, rtype, raw) for idx, rseq, rtype, raw in rows]
    return ChainRead(found, state.seq, state.head)


def _mac(key: bytes, author: str, seq: int, head: str, records: bytes) -> bytes:
    # the header is msgpack (self-delimiting), so no two inputs share a MAC message
    header = msgspec.msgpack.encode((author, seq, head))
    return hmac.new(key, _DOMAIN + header + records, hashlib.sha256).digest()
