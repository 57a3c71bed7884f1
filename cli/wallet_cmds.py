"""The member's, space's and service's everyday commands: ``passport init``, ``set``, ``grant`` ...

Each command opens the wallet (the passphrase from PASSPORT_PASSPHRASE or a prompt), syncs
with the node (checking its tree head), acts, and prints for a person, or JSON with --json.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column
from rich.table import Table as RichTable
from rich.text import Text

from ledger.times import format_ts, now_ms, parse_ts
from wallet import keystore
from wallet.errors import KeystoreError, UsageError
from wallet.fields import STANDARD_FIELDS, is_standard
from wallet.grants import readers_by_field
from wallet.wallet import DEFAULT_NODE, Wallet, grant_json

ENV_HOME, ENV_NODE, ENV_PASSPHRASE = "PASSPORT_HOME", "PASSPORT_NODE", "PASSPORT_PASSPHRASE"
DEFAULT_HOME = "~/.passport/wallet"
DURATION = re.compile(r"(\d+)([mhdw])")
UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}

Home = Annotated[Path | None, typer.Option(
    help=f"wallet directory (default: ${ENV_HOME} or {DEFAULT_HOME})", show_default=False)]
Node = Annotated[str | None, typer.Option(
    help=f"node URL (default: ${ENV_NODE} or {DEFAULT_NODE})", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON for programs")]

out = Console(highlight=False, soft_wrap=True, emoji=False, markup=False)


def table(columns: tuple[str, ...], rows: list[list[str]], title: str | None = None
          ) -> RichTable:
    """Cells as plain text (a value is never read as markup), folded rather than cut: ids
    shown here are meant to be copied."""
    shown = RichTable(*[Column(c, overflow="fold") for c in columns], title=title)
    for cells in rows:
        shown.add_row(*(Text(c) for c in cells))
    return shown


def home_of(home: Path | None) -> Path:
    return (home or Path(os.environ.get(ENV_HOME, DEFAULT_HOME))).expanduser()


def node_of(node: str | None) -> str:
    return (node or os.environ.get(ENV_NODE) or DEFAULT_NODE).rstrip("/")


def passphrase(*, confirm: bool = False) -> str:
    given = os.environ.get(ENV_PASSPHRASE)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise KeystoreError(f"no passphrase: set {ENV_PASSPHRASE} or run in a terminal")
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise KeystoreError("the two passphrases differ")
    return first


@contextmanager
def opened(home: Path | None, node: str | None) -> Iterator[Wallet]:
    where = home_of(home)
    keystore.header(where)  # "no wallet here" before asking for a passphrase
    secret = passphrase()
    wallet = Wallet(where, keystore.load(where, secret), secret, node_of(node))
    try:
        wallet.sync()
        yield wallet
    finally:
        wallet.close()


def emit(as_json: bool, data: Any, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=1, ensure_ascii=False, default=str))
    elif text is not None:
        out.print(text, markup=False)


def public_notice(what: str) -> None:
    """One line on stderr (so ``--json`` stays clean): free text the member wrote is public."""
    print(f"passport: note: {what} is public: anyone who reads the ledger sees it in clear",
          file=sys.stderr)


def duration_ms(text: str) -> int | None:
    """``30d`` -> milliseconds; None if ``text`` is not a duration."""
    match = DURATION.fullmatch(text.strip())
    return int(match.group(1)) * UNIT_MS[match.group(2)] if match else None


def expiry_ms(text: str) -> int:
    duration = duration_ms(text)
    if duration is not None:
        return now_ms() + duration
    try:
        return parse_ts(text)
    except Exception:
        raise UsageError(f"--expires {text!r}: give a duration like 30d, 12h, 90m or 2w, or an "
                         "RFC 3339 time like 2026-12-31T18:00:00Z") from None


def split_fields(text: str) -> list[str]:
    fields = [f.strip() for f in text.split(",") if f.strip()]
    if not fields:
        raise UsageError("--fields: name at least one field, e.g. --fields activity,city")
    return fields


def init(name: Annotated[str, typer.Option(help="your name, set as the 'name' field")],
         role: Annotated[str, typer.Option(help="member, space or service")] = "member",
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Create a wallet: a new key, encrypted under your passphrase, and your chain on the node."""
    where = home_of(home)
    if keystore.path_in(where).exists():
        raise UsageError(f"a wallet already exists at {where}; use another --home")
    store = keystore.create(role)
    secret = passphrase(confirm=True)
    keystore.save(store, where, secret)
    wallet = Wallet(where, store, secret, node_of(node))
    try:
        wallet.sync()
        wallet.set("name", name)
    finally:
        wallet.close()
    emit(as_json, {"did": store.did, "role": role, "home": str(where)},
         f"{role} {name}: {store.did}\nkeys in {keystore.path_in(where)} (keep it and your "
         "passphrase: they are all you need to recover)")


def whoami(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Your did, role, key in force and the node's tree head your wallet trusts."""
    with opened(home, node) as w:
        data = {"did": w.did, "role": w.store.role, "seq": w.author.seq,
                "signing_key": w.author.signing_key.verify_key.encode().hex(),
                "node": w.node, "log": w.state.origin, "tree_size": w.state.size}
    emit(as_json, data, "\n".join(f"{k}: {v}" for k, v in data.items()))


def set_(name: Annotated[str, typer.Argument(help="field name, e.g. activity")],
         value: Annotated[str, typer.Argument(help="the value")],
         json_value: Annotated[bool, typer.Option(
             "--json-value", help="VALUE is JSON (an object, a list, a number)")] = False,
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Set a field: sealed to you and to every service with a live grant on it.  Structured
    fields (plan, trip, space, leaving_at) are checked first (docs/protocol.md §22)."""
    from matching.fields import check

    parsed: Any = value
    if json_value:
        try:
            parsed = json.loads(value)
        except ValueError as e:
            raise UsageError(f"--json-value: VALUE is not JSON ({e})") from None
    parsed = check(name, parsed, now_ms())
    with opened(home, node) as w:
        record = w.set(name, parsed)
    note = "" if is_standard(name) else f" (a free-form field; standard ones: " \
        f"{', '.join(STANDARD_FIELDS)})"
    emit(as_json, {"field": name, "record": record.id, "seq": record.seq},
         f"{name} set (record {record.id}){note}")


def get(name: Annotated[str, typer.Argument(help="field name")],
        home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Print one field's current value, opened with your key."""
    with opened(home, node) as w:
        value = w.field(name)
    emit(as_json, value.__dict__, "(erased)" if value.erased else str(value.value))


def show(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Your whole passport: every field with a value, and who may read it."""
    with opened(home, node) as w:
        values = w.fields()
        readers = readers_by_field(w.view(), values, now_ms())
    if as_json:
        emit(True, {"did": w.did, "fields": {f: {**v.__dict__, "readers": readers[f]}
                                             for f, v in values.items()}})
        return
    out.print(table(("field", "value", "readers", "set at"), [
        [f, "(erased)" if v.erased else str(v.value), ", ".join(readers[f]) or "only you", v.ts]
        for f, v in values.items()], title=w.did))


def clear(name: Annotated[str, typer.Argument(help="field name")],
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The field no longer has a value (past values stay sealed on the ledger)."""
    with opened(home, node) as w:
        record = w.clear(name)
    emit(as_json, {"field": name, "record": record.id}, f"{name} cleared")


def erase(name: Annotated[str, typer.Argument(help="field name")],
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Crypto-shred every value the field ever had; the records stay, the values are gone."""
    with opened(home, node) as w:
        erased = w.erase(name)
    emit(as_json, {"field": name, "erased_blobs": erased},
         f"{name}: {len(erased)} value(s) erased from the node")


def grant(did: Annotated[str, typer.Argument(help="the service's or space's did:key")],
          fields: Annotated[str, typer.Option(help="comma-separated field names")],
          purpose: Annotated[str, typer.Option(
              help="why, in a few words (public: stored in clear on the ledger)")],
          expires: Annotated[str, typer.Option(help="30d, 12h, 2w, or an RFC 3339 time")] = "30d",
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Let a service or space read these fields until the grant expires or you revoke it."""
    names = split_fields(fields)
    with opened(home, node) as w:
        gid = w.grant(did, names, purpose, expiry_ms(expires))
        g = w.view().grants[gid]
    public_notice(f"the purpose {purpose[:60]!r}")
    emit(as_json, grant_json(g, now_ms()),
         f"grant {gid}: {did} may read {', '.join(names)} until {format_ts(g.expires_ms)}")


def revoke(grant_id: Annotated[str, typer.Argument(help="the grant id (see 'passport grants')")],
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """End a grant now: the node stops serving it, later values leave the grantee out."""
    with opened(home, node) as w:
        record = w.revoke(grant_id)
    emit(as_json, {"grant": grant_id, "record": record.id, "status": "revoked"},
         f"grant {grant_id} revoked")


def grants(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Every grant you made: who, which fields, until when, and whether it is live."""
    with opened(home, node) as w:
        now = now_ms()
        listed = [grant_json(g, now) for g in w.view().grants.values()]
    if as_json:
        emit(True, listed)
        return
    out.print(table(("grant", "grantee", "fields", "purpose", "expires", "status"), [
        [g["grant"], g["grantee"], ", ".join(g["fields"]), g["purpose"], g["expires"],
         g["status"]] for g in listed]) if listed else "no grants")


def receipts(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Who read what of your passport, and when: every scoped read leaves a signed receipt."""
    with opened(home, node) as w:
        listed = w.receipts()
    if as_json:
        emit(True, listed)
        return
    out.print(table(("when", "service", "fields", "grant", "served by"), [
        [r["served"], r["service"], ", ".join(f["field"] for f in r["fields"]),
         ", ".join(sorted({f["grant"] for f in r["fields"]})), r["node"]] for r in listed])
        if listed else "no reads of your passport yet")


def read(did: Annotated[str, typer.Argument(help="the member's did:key")],
         fields: Annotated[str, typer.Option(help="comma-separated field names")],
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(service) Read fields a member granted you: verified against the log, then decrypted."""
    names = split_fields(fields)
    with opened(home, node) as w:
        result = w.read(did, names)
    emit(as_json, result, "\n".join(f"{n}: {v['value']}" for n, v in result["fields"].items()))


def sync(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Fetch your chain, check the node's tree head is consistent with the last one seen."""
    with opened(home, node) as w:
        data = {"did": w.did, "seq": w.author.seq, "tree_size": w.state.size,
                "log": w.state.origin, "fields": sorted(f for f, r in w.view().values.items()
                                                        if r is not None)}
    emit(as_json, data, f"in sync: {data['seq']} records on your chain, log size "
         f"{data['tree_size']}, consistent with every head this wallet saw")


def gossip(other: Annotated[str, typer.Argument(help="URL of another node that follows yours")],
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Compare the tree head your node showed you with what another node has seen of it."""
    with opened(home, node) as w:
        verdict = w.gossip(other.rstrip("/"))
    emit(as_json, verdict, f"{other} has not seen {w.node}'s log (nothing to compare)"
         if not verdict["known"] else f"consistent: {other} holds the same history of "
         f"{w.node}'s log as you were shown")


def rotate_key(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Rotate to your pre-committed next key; your did stays the same."""
    with opened(home, node) as w:
        new = w.rotate()
    emit(as_json, {"did": w.did, "signing_key": new}, f"rotated: now signing with {new}")


def prove(record_id: Annotated[str, typer.Argument(help="sha256:<hex> record id")],
          rpc: Annotated[str | None, typer.Option(
              envvar="PASSPORT_CHAIN_RPC", help="check the Ethereum anchor on this chain RPC "
              "(without it, the anchor's proofs are checked, not the chain)")] = None,
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The record's inclusion proof in the node's latest signed tree head, verified here, and
    the evidence that it existed by a block, once the node has anchored it."""
    with opened(home, node) as w:
        proof = w.prove(record_id)
        log_key = None if w.state.log_key is None else bytes.fromhex(w.state.log_key)
        proof["anchor"] = anchor_evidence(w.node, record_id, rpc, log_key)
    text = (f"{record_id} is record {proof['index']} of the log, included in the signed tree "
            f"head of size {proof['tree_head']['size']} (verified)")
    anchor = proof["anchor"]
    if anchor["status"] == "anchored":
        ev = anchor["evidence"]["anchor"]
        text += (f"\nanchored: tree size {ev['tree_size']} in block {ev['block_number']} of "
                 f"chain {ev['chain_id']}, transaction {ev['tx_hash']} ("
                 + ("checked on the chain" if anchor["chain_checked"] else
                    "proofs checked; pass --rpc to check the chain") + ")")
    else:
        text += f"\nnot anchored on Ethereum: {anchor['reason']}"
    emit(as_json, proof, text)


def anchor_evidence(node: str, record_id: str, rpc: str | None,
                    log_key: bytes | None) -> dict[str, Any]:
    """The node's passport-evidence/1 for the record, verified; or why there is none."""
    from contracts.errors import NotAnchoredError  # web3 loads only for this command
    from contracts.evidence import verify_evidence
    from wallet.evidence import evidence_for

    try:
        evidence = evidence_for(node, record_id)
    except NotAnchoredError as e:
        return {"status": "not-anchored", "reason": str(e)}
    verified = verify_evidence(evidence, rpc, log_key=log_key)
    return {"status": "anchored", "chain_checked": verified.chain_checked,
            "confirmations": verified.confirmations, "block_number": verified.block_number,
            "evidence": evidence}


def demo(directory: Annotated[Path, typer.Option("--dir", help="where the demo writes")] = Path(
        "demo/people")) -> None:
    """A member, a space and a ride service on a node of their own: what each one saw."""
    from cli import people_demo

    people_demo.run(directory, Console(highlight=False, emoji=False))


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (init, "init"), (whoami, "whoami"), (set_, "set"), (get, "get"), (show, "show"),
        (clear, "clear"), (erase, "erase"), (grant, "grant"), (revoke, "revoke"),
        (grants, "grants"), (receipts, "receipts"), (read, "read"), (sync, "sync"),
        (rotate_key, "rotate-key"), (prove, "prove"), (gossip, "gossip"), (demo, "demo")]
    for fn, name in commands:
        app.command(name)(fn)
