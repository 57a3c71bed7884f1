"""The member's own copy of their passport: every record of their chain as signed, and the
sealed values (ciphertext) they appended, kept in the wallet's home (``own/``, mode 0600).

A node is a convenience, not the only copy: if it loses the member's data, ``publish`` puts
the chain back, on it or on another node, with the same seqs, ids and signatures, and the
member carries on there (``export`` works again once a node holds it).  Erasing a value
deletes it here too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.chain import validate_chain
from ledger.encoding import parse_digest_name
from ledger.errors import LedgerError
from ledger.records import Record, parse_record
from passport_api.client import NodeClient
from wallet.errors import KeystoreError, UntrustedNodeError, UsageError
from wallet.keystore import write_private

DIR = "own"
RECORDS = "records.jsonl"
BATCH = 1000


def _dir(home: Path) -> Path:
    return home / DIR


def records(home: Path) -> list[Record]:
    """The chain kept here, in seq order (empty when none is kept)."""
    path = _dir(home) / RECORDS
    if not path.exists():
        return []
    try:
        return [parse_record(line.encode("utf-8"))
                for line in path.read_text(encoding="utf-8").splitlines() if line]
    except LedgerError as e:
        raise KeystoreError(f"{path} is damaged ({e})") from None


def count(home: Path) -> int:
    """How many records are kept here (lines; nothing parsed)."""
    path = _dir(home) / RECORDS
    return path.read_bytes().count(b"\n") if path.exists() else 0


def keep_chain(home: Path, chain: Sequence[Record]) -> None:
    """Keep ``chain`` (the whole chain, as verified) if it is longer than the copy here."""
    if len(chain) <= count(home):
        return
    _dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(_dir(home) / RECORDS, b"".join(r.raw + b"\n" for r in chain))


def keep(home: Path, record: Record, blobs: dict[str, bytes] | None) -> None:
    """After an append: the record, one line more (the copy is whole after every sync), and
    the sealed values that went with it."""
    folder = _dir(home) / "blobs"
    for name, data in (blobs or {}).items():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(folder / parse_digest_name(name).hex(), data)
    _dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(_dir(home) / RECORDS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as f:
        f.write(record.raw + b"\n")


def blob(home: Path, name: str) -> bytes | None:
    path = _dir(home) / "blobs" / parse_digest_name(name).hex()
    return path.read_bytes() if path.exists() else None


def forget_blob(home: Path, name: str) -> None:
    """An erased value is gone from here too."""
    path = _dir(home) / "blobs" / parse_digest_name(name).hex()
    if path.exists():
        os.unlink(path)


def check_node_holds(home: Path, held: int, node: str) -> None:
    """Refuse to build on a node that holds fewer (``held``) of the member's records than are
    kept here: writing there would fork the member's own chain."""
    kept = count(home)
    if kept > held:
        lost = kept - held
        raise UsageError(f"the node at {node} holds {held} of the {kept} "
                         f"records of your chain kept in this wallet ({lost} missing: did it "
                         "lose data?); put them back with 'passport publish' (or --node "
                         "another node), then carry on")


@dataclass
class Published:
    node: str
    records: int
    appended: int
    blobs: int
    missing_blobs: list[str]


def publish(home: Path, did: str, node: str) -> Published:
    """Append the chain kept here to ``node``, after what it already holds, with the values."""
    chain = records(home)
    if not chain:
        raise UsageError("this wallet keeps no copy of your chain (made before it did?); "
                         "'passport sync' against a node that holds it first")
    if chain[0].author != did:
        raise UntrustedNodeError("the chain kept here is not this wallet's")
    validate_chain(chain)
    client = NodeClient(node)
    held = sum(1 for _ in client.chain(did))
    todo = chain[held:]
    if held and next(iter(client.chain(did, held - 1))).id != chain[held - 1].id:
        raise UntrustedNodeError(f"the node at {node} holds another history of your chain: "
                            "not publishing over it")
    missing = []
    sent_blobs = 0
    appended = 0
    for start in range(0, len(todo), BATCH):
        chunk = todo[start:start + BATCH]
        names = [r.body["blob"] for r in chunk if r.type == "passport.set"]
        found = {n: b for n in names if (b := blob(home, n)) is not None}
        missing += [n for n in names if n not in found]
        if missing:
            raise UsageError(f"{len(missing)} sealed value(s) of your chain are not kept here "
                             "(erased, or set before this wallet kept copies): a node takes a "
                             "value's record only with the value")
        out = client.append_batch([r.raw for r in chunk], found)
        if list(out.ids) != [r.id for r in chunk]:
            raise UntrustedNodeError("the node stored other records than the ones sent")
        appended += len(chunk) - out.duplicates
        sent_blobs += len(found)
    return Published(node, len(chain), appended, sent_blobs, missing)
