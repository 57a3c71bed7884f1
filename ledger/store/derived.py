"""The index columns of a stored record, read back off its signed bytes.

``records.author``, ``seq`` and ``type`` are copies of what the record's canonical bytes say,
kept so SQL can select by them.  The node never acts on such a copy alone: where a decision
rests on them (consent, a member's chain), the rows are checked against the bytes here, and a
row that disagrees stops the request with a ``StoreError`` instead of serving a wrong answer.

A stored record passed ``parse_record`` when it was appended, so its bytes are RFC 8785
canonical JSON with exactly the keys author, body, prev, seq, sig, ts, type, v, in that order.
``author`` is therefore the first key, ``type`` the second last (and ``v`` is 1), and ``seq``
is the last ``,"seq":`` before it (sig, ts and type cannot contain that text); so the three
columns are read with a few byte searches, without parsing the body.
"""

from __future__ import annotations

from ledger.chain import ChainState
from ledger.encoding import digest_name
from ledger.errors import LedgerError, StoreError

_AUTHOR = b'{"author":"'
_TYPE = b',"type":"'
_TAIL = b'","v":1}'
_SEQ = b',"seq":'
TAIL_BYTES = 64  # enough of the end of a record for its type (types are short)


def author_of(raw: bytes) -> str | None:
    if not raw.startswith(_AUTHOR):
        return None
    end = raw.find(b'"', len(_AUTHOR))
    return None if end < 0 else raw[len(_AUTHOR):end].decode("utf-8", "replace")


def type_of(raw: bytes) -> str | None:
    """The record type from the bytes (or from their last ``TAIL_BYTES`` bytes)."""
    if not raw.endswith(_TAIL):
        return None
    i = raw.rfind(_TYPE)
    return None if i < 0 else raw[i + len(_TYPE):-len(_TAIL)].decode("utf-8", "replace")


def seq_of(raw: bytes) -> int | None:
    i = raw.rfind(_TYPE)
    j = raw.rfind(_SEQ, 0, i)
    if i < 0 or j < 0:
        return None
    k = raw.find(b",", j + len(_SEQ))
    digits = raw[j + len(_SEQ):k]
    return int(digits) if digits.isdigit() else None


def disagrees(author: str, seq: int, raw: bytes, rtype: str | None = None) -> str | None:
    """Which index column of the row disagrees with its bytes, or None."""
    if author_of(raw) != author:
        return "author"
    if seq_of(raw) != seq:
        return "seq"
    if rtype is not None and type_of(raw) != rtype:
        return "type"
    return None


def corrupt(author: str, seq: int, column: str) -> StoreError:
    return StoreError(f"the stored {column} of {author}'s record at seq {seq} disagrees with "
                      "its signed bytes (the database was edited); nothing was served: run "
                      "`passport ledger verify`")


def check_contiguous(author: str, after_seq: int, seqs: list[int], last: int | None) -> None:
    """A chain page must hold seq after_seq+1, +2, ...; ``last`` is the chain's stored seq
    when the page should reach it (a short page), else None."""
    expected = after_seq + 1
    for seq in seqs:
        if seq != expected:
            raise corrupt(author, expected, "seq (a record is missing from the chain)")
        expected += 1
    if last is not None and expected - 1 < last:
        raise corrupt(author, expected, "author (a record is missing from the chain)")


def restore_state(author: str, seq: int, head: bytes, keys_json: str | None,
                  key: bytes | None = None) -> ChainState:
    """A chain's stored state; a ``StoreError`` naming the chain if its key history is corrupt.
    ``key``: the author's did key, if a verify worker already decoded it."""
    try:
        return ChainState.restore(author, seq, digest_name(head), keys_json, key)
    except (ValueError, TypeError, KeyError, AttributeError, LedgerError) as e:
        raise StoreError(f"the stored key history of {author} is corrupt ({type(e).__name__}); "
                         "run `passport ledger verify`") from None
