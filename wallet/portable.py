"""Export a member's passport from one node and import it into another (DESIGN §10).

A chain verifies on its own, so it can move: the export file (``passport-export/1``, see
docs/protocol.md "Export file") holds the member's records as signed, the blobs of their
values, and the exporting node's signed tree head with an inclusion proof per record.
``verify_export`` checks all of it offline; ``import_export`` then appends the records, in
order, with their blobs, to another node, which checks them again as it would any append.
The member carries on there with the same seq, ids and signatures.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing

from ledger import keys, merkle
from ledger.chain import validate_chain
from ledger.checkpoint import TreeHead, parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode, sha256_name
from ledger.errors import LedgerError
from ledger.records import Record, parse_record
from ledger.times import format_ts, now_ms
from passport_api import erasure
from passport_api.client import BlobErasedError, NodeClient, NodeNotFoundError
from wallet import keystore
from wallet.errors import ExportInvalidError, KeystoreError, NodeRefusedError, UntrustedNodeError
from wallet.evidence import evidence_for
from wallet.keeper import talking_to
from wallet.state import WalletState, accept_head
from wallet.wallet import Wallet

FORMAT = "passport-export/1"
IMPORT_BATCH_RECORDS = 1000
TOP_KEYS = frozenset({"format", "member", "exported_at", "node", "log", "records", "blobs",
                      "erased"})
# passport-evidence/1 of the records anchored so far; the member's signed order behind each
# erased value (name -> order), which lets another node take the record without its value
OPTIONAL_KEYS = frozenset({"anchors", "erasures"})


@dataclass(frozen=True)
class VerifiedExport:
    member: str
    records: list[Record]
    blobs: dict[str, bytes]
    erased: list[str]
    head: TreeHead
    orders: dict[str, bytes] = field(default_factory=dict)  # erased name -> signed order


@dataclass
class ImportReport:
    node: str
    member: str
    records: int
    appended: int = 0
    duplicates: int = 0
    blobs: int = 0
    tree_size: int = 0
    wallet: str | None = None  # the wallet home re-pinned to this node, if any
    notes: list[str] = field(default_factory=list)


# --- export -------------------------------------------------------------------------------------


def export(wallet: Wallet) -> dict[str, Any]:
    """The member's whole passport as an export document, checked here before it is returned.

    ``wallet`` must be synced: its chain is validated and its tree head checked and pinned.
    """
    state = wallet.state
    if state.log_key is None or not wallet.chain:
        raise NodeRefusedError("nothing to export: sync with the node first")
    size = state.size
    indexes = _indexes(wallet, len(wallet.chain))
    records_out = []
    with talking_to(wallet.node):
        for record in wallet.chain:
            index = indexes[record.id]
            proof = wallet.client.inclusion_proof(index, size)
            records_out.append({"record": record.raw.decode("utf-8"), "index": index,
                                "inclusion": list(proof.hashes)})
    blobs, erased = _blobs(wallet)
    orders = _orders(wallet, erased)
    anchors = _anchors(wallet)
    document = {"format": FORMAT, "member": wallet.did, "exported_at": format_ts(now_ms()),
                "node": wallet.node,
                "log": {"public_key": state.log_key, "checkpoint": state.checkpoint},
                "records": records_out,
                "blobs": {name: b64url_encode(data) for name, data in sorted(blobs.items())},
                "erased": sorted(erased)}
    if anchors:
        document["anchors"] = anchors
    if orders:
        document["erasures"] = orders
    try:
        verify_export(document)
    except ExportInvalidError as e:
        raise UntrustedNodeError(f"the node's proofs for this export do not verify ({e})") from None
    return document


def _anchors(wallet: Wallet) -> list[dict[str, Any]]:
    """The node's evidence that each anchored record of the chain existed by a block."""

    found = []
    for record in wallet.chain:
        try:
            found.append(evidence_for(wallet.node, record.id))
        except LedgerError:
            break  # anchored in log order: the rest are not anchored yet (or no anchoring)
    return found


def _indexes(wallet: Wallet, count: int) -> dict[str, int]:
    """Log index of each of the first ``count`` records of the member's chain."""
    with talking_to(wallet.node):
        out = {served.id: served.index
               for served in wallet.client.chain(wallet.did, up_to_seq=count)}
    missing = [r.id for r in wallet.chain if r.id not in out]
    if missing:
        raise UntrustedNodeError(f"the node no longer serves record {missing[0]} of your chain")
    return out


def _blobs(wallet: Wallet) -> tuple[dict[str, bytes], list[str]]:
    blobs: dict[str, bytes] = {}
    erased: list[str] = []
    with talking_to(wallet.node):
        for record in wallet.chain:
            if record.type != "passport.set" or record.body["blob"] in blobs:
                continue
            name = record.body["blob"]
            try:
                blobs[name] = wallet.client.blob(name)
            except BlobErasedError:
                erased.append(name)
    return blobs, erased


def _orders(wallet: Wallet, erased: list[str]) -> dict[str, str]:
    """The signed order behind each erased value, as the node kept it (none for a value erased
    before nodes kept orders: such a passport verifies, and another node refuses it)."""
    found: dict[str, str] = {}
    with talking_to(wallet.node):
        for name in erased:
            try:
                found[name] = wallet.client.erasure_order(name).decode("utf-8")
            except NodeNotFoundError:
                continue
    return found


def write(document: Mapping[str, Any], path: Path) -> None:
    keystore.write_private(path, json.dumps(document, indent=1).encode("utf-8") + b"\n")


# --- verification (offline) ---------------------------------------------------------------------


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportInvalidError(f"no export file at {path}") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ExportInvalidError(f"{path} is not a JSON export file ({e})") from None
    if not isinstance(data, dict):
        raise ExportInvalidError(f"{path} is not a JSON object")
    return data


def verify_export(data: Mapping[str, Any]) -> VerifiedExport:
    """Check an export document completely, without a node; ``ExportInvalidError`` names the fault.

    The chain validates from seq 1 and is all the member's; every record is included, at the
    index given, in the tree whose head the log key signed; every value's blob hashes to its
    name; every blob the chain names is there or listed as erased, and nothing else is there.
    """
    try:
        return _verify(data)
    except ExportInvalidError:
        raise
    except LedgerError as e:
        raise ExportInvalidError(f"the export does not verify: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ExportInvalidError(f"the export is malformed ({type(e).__name__}: {e})") from None


def _verify(data: Mapping[str, Any]) -> VerifiedExport:
    if data.get("format") != FORMAT:
        raise ExportInvalidError(f"not a {FORMAT} file (format: {str(data.get('format'))[:40]!r})")
    if not TOP_KEYS <= set(data) <= TOP_KEYS | OPTIONAL_KEYS:
        raise ExportInvalidError(f"the export's keys are {sorted(data)}, not {sorted(TOP_KEYS)} "
                            f"(and optionally {sorted(OPTIONAL_KEYS)})")
    member = data["member"]
    keys.public_key_from_did(member)
    log_key = bytes.fromhex(data["log"]["public_key"])
    if len(log_key) != 32:
        raise ExportInvalidError("log.public_key is not a 32-byte Ed25519 key in hex")
    head = parse_checkpoint(data["log"]["checkpoint"].encode("utf-8"),
                            nacl.signing.VerifyKey(log_key))
    entries = data["records"]
    if not isinstance(entries, list) or not entries:
        raise ExportInvalidError("the export holds no records")
    records = []
    for n, entry in enumerate(entries, start=1):
        try:
            record = parse_record(entry["record"].encode("utf-8"))
        except LedgerError as e:
            raise ExportInvalidError(f"record {n} of the export: {e}") from None
        if record.author != member:
            raise ExportInvalidError(
                f"record {n} of the export is by {record.author}, not {member}")
        index = entry["index"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < head.size:
            raise ExportInvalidError(f"record {n} of the export: index {index!r} is outside the "
                                f"signed tree of size {head.size}")
        try:
            merkle.verify_inclusion(merkle.leaf_hash(record.raw), index, head.size,
                                    [b64url_decode(h) for h in entry["inclusion"]], head.root)
        except LedgerError as e:
            raise ExportInvalidError(f"record {n} of the export (seq {record.seq}) is not in the "
                                f"signed tree head at index {index}: {e}") from None
        records.append(record)
    try:
        final = validate_chain(records)
    except LedgerError as e:
        raise ExportInvalidError(f"the exported chain does not validate: {e}") from None
    blobs = {}
    for name, text in data["blobs"].items():
        blob = b64url_decode(text, what=f"blob {name[:80]}")
        got = sha256_name(blob)
        if not hmac.compare_digest(got, name):
            raise ExportInvalidError(f"blob {name[:80]} of the export hashes to {got}: it was "
                                "altered or swapped")
        blobs[name] = blob
    erased = list(data["erased"])
    named = {r.body["blob"] for r in records if r.type == "passport.set"}
    stray = (set(blobs) | set(erased)) - named
    if stray:
        raise ExportInvalidError(f"blob {min(stray)[:80]} of the export is named by no record")
    lost = named - set(blobs) - set(erased)
    if lost:
        raise ExportInvalidError(f"blob {min(lost)} is named by the chain but neither in the "
                            "export nor listed as erased")
    if set(blobs) & set(erased):
        raise ExportInvalidError("a blob is both present and listed as erased")
    orders = _verify_orders(data.get("erasures", {}), set(erased), member,
                            [e.key for e in final.epochs])
    _verify_anchors(data.get("anchors", []), {r.id for r in records}, log_key)
    return VerifiedExport(member=member, records=records, blobs=blobs, erased=sorted(erased),
                          head=head, orders=orders)


def _verify_orders(orders: Any, erased: set[str], member: str,
                   member_keys: list[bytes]) -> dict[str, bytes]:
    """Each erasure order is the member's, for a value the export lists as erased."""
    if not isinstance(orders, dict):
        raise ExportInvalidError("erasures must map erased blob names to signed orders")
    out: dict[str, bytes] = {}
    for name, order in orders.items():
        if name not in erased:
            raise ExportInvalidError(
                f"erasures names {str(name)[:80]}, which is not listed as erased")
        problem = erasure.check(str(order).encode("utf-8"), name, member, member_keys)
        if problem is not None:
            raise ExportInvalidError(f"the erasure order for {name}: {problem}")
        out[name] = str(order).encode("utf-8")
    return out


def _verify_anchors(anchors: Any, ids: set[str], log_key: bytes) -> None:
    """Each anchor evidence's proofs (the chain itself is checked by ``verify-proof``)."""
    if not anchors:
        return
    from contracts.evidence import check_proofs  # noqa: PLC0415 (web3 loads only here)

    if not isinstance(anchors, list):
        raise ExportInvalidError("anchors must be a list of passport-evidence/1 documents")
    for n, evidence in enumerate(anchors, start=1):
        claim = check_proofs(evidence, log_key=log_key)
        if claim.record_id not in ids:
            raise ExportInvalidError(f"anchor evidence {n} is for {claim.record_id}, which is not "
                                "a record of this chain")


# --- import -------------------------------------------------------------------------------------


def import_export(data: Mapping[str, Any], node: str, home: Path | None = None) -> ImportReport:
    """Verify ``data``, then append its records and blobs to ``node``, in order.

    If ``home`` holds the exported member's wallet, it is re-pinned to ``node`` (its log key
    and tree head), so the member carries on there.  Records the node already holds come back
    as duplicates.  Batches are all-or-nothing; a file of more than ``IMPORT_BATCH_RECORDS``
    records goes in several, and a refusal stops at the batch refused.
    """
    verified = verify_export(data)
    report = ImportReport(node=node, member=verified.member, records=len(verified.records))
    unordered = [n for n in verified.erased if n not in verified.orders]
    if unordered:
        raise ExportInvalidError(f"{len(unordered)} value(s) of this passport were erased before "
                            f"nodes kept their authors' orders (first: {unordered[0]}); a node "
                            "takes a record without its value only with that order")
    with NodeClient(node) as client, talking_to(node):
        for start in range(0, len(verified.records), IMPORT_BATCH_RECORDS):
            chunk = verified.records[start:start + IMPORT_BATCH_RECORDS]
            named = {r.body["blob"] for r in chunk if r.type == "passport.set"}
            names = named & verified.blobs.keys()
            out = client.append_batch([r.raw for r in chunk],
                                      {n: verified.blobs[n] for n in names},
                                      {n: verified.orders[n] for n in named - names})
            if list(out.ids) != [r.id for r in chunk]:
                raise UntrustedNodeError("the node stored other records than the ones sent")
            report.duplicates += out.duplicates
            report.appended += len(chunk) - out.duplicates
            report.blobs += len(names)
            report.tree_size = out.tree_head.size
        if home is not None and _wallet_of(home) == verified.member:
            follow(client, home)
            report.wallet = str(home)
    return report


def _wallet_of(home: Path) -> str | None:
    """The did of the wallet at ``home``, if there is a readable one."""
    try:
        return str(keystore.header(home).get("did"))
    except KeystoreError:
        return None


def follow(client: NodeClient, home: Path) -> None:
    """Pin the member's wallet to the node it moved to: its log key and current tree head."""
    log_key = client.health().log_key
    state = WalletState()
    accept_head(state, client.log_head().checkpoint, log_key, None)
    state.save(home)


def summary(verified: VerifiedExport) -> dict[str, Any]:
    return {"member": verified.member, "records": len(verified.records),
            "blobs": len(verified.blobs), "erased": verified.erased,
            "tree_size": verified.head.size,
            "root": base64.b64encode(verified.head.root).decode("ascii")}
