"""The wallet's verified chain state, kept between processes (``chain.json``, mode 0600).

A command used to fetch and re-verify the member's whole chain from seq 1 before acting, so
its cost grew with the chain.  Now the state verified last time is kept here: the chain
state (seq, head, keys in force, pre-rotation commitment) and the few records the member's
consent view is folded from (per field its latest ``passport.set`` or ``passport.clear``,
every ``consent.grant`` and ``consent.revoke``).  The next process loads it, asks the node
only for the records after it, checks each with ``ledger.chain.advance``, and acts.

The file is a cache of what the node's signed records already prove, never the only copy:
absent, for another member or node, torn or damaged, it is ignored with one log line and
the wallet verifies the whole chain again (``Wallet.sync``).  It holds no secret.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ledger import consent
from ledger.chain import ChainState
from ledger.errors import LedgerError
from ledger.records import Record, parse_record
from wallet.keystore import write_private

FILE_NAME = "chain.json"
VERSION = 1
FIELD_TYPES = frozenset({"passport.set", "passport.clear"})
GRANT_TYPES = frozenset({"consent.grant", "consent.revoke"})

log = logging.getLogger(__name__)


class ConsentTrail:
    """The member's consent view and the records it can be folded again from.

    Only the latest set or clear of each field matters to the view, and every grant and
    revoke (anomalies included), so replaying those in seq order rebuilds the same view.
    """

    def __init__(self, member: str) -> None:
        self.view = consent.PassportView(member)
        self._fields: dict[str, Record] = {}
        self._grants: list[Record] = []

    def apply(self, record: Record) -> None:
        self.view.apply(record)
        if record.type in FIELD_TYPES:
            self._fields[record.body["field"]] = record
        elif record.type in GRANT_TYPES:
            self._grants.append(record)

    def records(self) -> list[Record]:
        return sorted([*self._fields.values(), *self._grants], key=lambda r: r.seq)

    @classmethod
    def replay(cls, member: str, records: list[Record], seq: int) -> ConsentTrail:
        """The trail of a chain at ``seq`` from its kept records (in seq order)."""
        trail = cls(member)
        for record in records:
            trail.apply(record)
        trail.view.seq = seq  # the records in between touch no field and no grant
        return trail


@dataclass(frozen=True)
class Held:
    """A chain state verified by an earlier process, and its consent trail."""

    state: ChainState
    trail: ConsentTrail


def path_in(home: Path) -> Path:
    return home / FILE_NAME


def save(home: Path, node: str, state: ChainState, trail: ConsentTrail) -> None:
    """Replace the kept state atomically (temp file, rename; no fsync: a cache, rebuilt from
    the node when lost or torn)."""
    data = {"v": VERSION, "did": state.author, "node": node, "state": state.to_json(),
            "consent": [r.raw.decode("utf-8") for r in trail.records()]}
    write_private(path_in(home), json.dumps(data, separators=(",", ":")).encode("utf-8"),
                  durable=False)


def load(home: Path, did: str, node: str) -> Held | None:
    """The state kept for ``did`` at ``node``; None (one log line if it was there) otherwise."""
    path = path_in(home)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return _ignored(path, f"unreadable ({e})")
    try:
        if data["v"] != VERSION:
            return _ignored(path, f"version {data['v']!r}, not {VERSION}")
        if data["did"] != did or data["node"] != node:
            return None  # another member's or another node's: not an error, just not ours
        state = ChainState.from_json(data["state"])
        records = [parse_record(str(raw).encode("utf-8")) for raw in data["consent"]]
        if state.author != did or state.seq < 1 or not isinstance(state.head, str) or any(
                r.author != did or r.seq > state.seq for r in records):
            return _ignored(path, "inconsistent")
        return Held(state, ConsentTrail.replay(did, records, state.seq))
    except (KeyError, TypeError, ValueError, LedgerError) as e:
        return _ignored(path, f"damaged ({type(e).__name__}: {e})")


def _ignored(path: Path, why: str) -> Held | None:
    log.warning("passport: note: %s is %s; verifying your whole chain from the node instead",
                path, why)
    return None


def forget(home: Path) -> None:
    path_in(home).unlink(missing_ok=True)
