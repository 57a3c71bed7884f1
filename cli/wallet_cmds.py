"""The member's, space's and service's everyday commands: ``passport init``, ``set``, ``grant`` ...

Each command opens the wallet (through the wallet agent if one runs, else with the passphrase
from PASSPORT_PASSPHRASE or a prompt; ``cli.common``), syncs with the node (the records new
since the last command, and its tree head), acts, and prints for a person, or JSON with --json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import output
from cli.args import check_fields, split_fields
from cli.common import (
    AsJson,
    Home,
    Node,
    confirm,
    emit,
    home_of,
    names_for,
    node_of,
    opened,
    out,
    passphrase,
    table,
)
from ledger.times import now_ms
from wallet import keystore
from wallet.addressbook import learn
from wallet.errors import UsageError
from wallet.fields import STANDARD_FIELDS
from wallet.grants import readers_by_field
from wallet.profile import PUBLIC_ROLES, publish
from wallet.wallet import Wallet

ROLES = ("member", *PUBLIC_ROLES)


def init(name: Annotated[str, typer.Option(help="your name (members: a sealed 'name' field; "
                                           "spaces and services: a public profile)")],
         role: Annotated[str, typer.Option(help="member, space or service")] = "member",
         city: Annotated[str | None, typer.Option(help="(space) its city, in the profile")
                         ] = None,
         description: Annotated[str | None, typer.Option(
             help="(space, service) a short public description")] = None,
         web: Annotated[str | None, typer.Option(help="(space, service) its web address")
                        ] = None,
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Create a wallet: a new key, encrypted under your passphrase, and your chain on the node.
    A space or a service also publishes its public profile (name, kind, city, ...)."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "member" and (city or description or web):
        raise UsageError("members stay private: --city, --description and --web are for a "
                         "space's or a service's public profile")
    if not name.strip():
        raise UsageError("--name: give a name")
    where = home_of(home)
    if keystore.path_in(where).exists():
        raise UsageError(f"a wallet already exists at {where}; use another --home")
    if where.exists() and any(where.iterdir()):
        raise UsageError(f"{where} is not empty; use another --home")
    store = keystore.create(role)
    secret = passphrase(confirm=True)
    # Made aside and moved in place only once the node holds the chain: a node that is down
    # (or refuses) leaves no half-made wallet behind.
    where.parent.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=f".{where.name}.init-", dir=where.parent))
    try:
        keystore.save(store, aside, secret)
        wallet = Wallet(aside, store, secret, node_of(node))
        try:
            wallet.sync()
            if role in PUBLIC_ROLES:
                publish(wallet, name=name, city=city, description=description, web=web)
            wallet.set("name", name)
        finally:
            wallet.close()
        if where.exists():
            where.rmdir()
        aside.rename(where)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    public = " (public profile published)" if role in PUBLIC_ROLES else ""
    emit(as_json, {"did": store.did, "role": role, "name": name, "home": str(where)},
         f"{role} {name}: {store.did}{public}\nkeys in {keystore.path_in(where)} (keep it and "
         "your passphrase: they are all you need to recover)")


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
         custom: Annotated[bool, typer.Option(
             "--custom", help="allow a field name that is not a standard field")] = False,
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Set a field: sealed to you and to every service with a live grant on it.  Structured
    fields (plan, trip, space, leaving_at) are checked first (docs/protocol.md §22)."""
    from matching.fields import check

    check_fields([name], custom)
    if not value.strip():
        raise UsageError(f"{name}: the value is empty; to remove the value, "
                         f"'passport clear {name}'")
    parsed: Any = value
    if json_value:
        try:
            parsed = json.loads(value)
        except ValueError as e:
            raise UsageError(f"--json-value: VALUE is not JSON ({e})") from None
    parsed = check(name, parsed, now_ms())
    with opened(home, node) as w:
        record = w.set(name, parsed)
    note = " (a field of your own)" if custom and name not in STANDARD_FIELDS else ""
    emit(as_json, {"field": name, "record": record.id, "seq": record.seq},
         f"{name} set (record {record.id}){note}")


def get(name: Annotated[str, typer.Argument(help="field name")],
        home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Print one field's current value, opened with your key."""
    with opened(home, node) as w:
        value = w.field(name)
    emit(as_json, value.__dict__, "(erased)" if value.erased else output.value_text(value.value))


def show(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Your whole passport: every field with a value, and who may read it."""
    with opened(home, node) as w:
        values = w.fields()
        readers = readers_by_field(w.view(), values, now_ms())
        if as_json:
            emit(True, {"did": w.did, "fields": {f: {**v.__dict__, "readers": readers[f]}
                                                 for f, v in values.items()}})
            return
        names = names_for(w)
        shown = {d: names.of(d).label() for f in values for d in readers[f]}
    out.print(table(("field", "value", "readers", "set at"), [
        [f, "(erased)" if v.erased else output.value_text(v.value),
         ", ".join(shown[d] for d in readers[f]) or "only you", output.local_time(v.ts)]
        for f, v in values.items()], title=w.did))


def clear(name: Annotated[str, typer.Argument(help="field name")],
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The field no longer has a value (past values stay sealed on the ledger)."""
    with opened(home, node) as w:
        record = w.clear(name)
    emit(as_json, {"field": name, "record": record.id}, f"{name} cleared")


def erase(name: Annotated[str, typer.Argument(help="field name")],
          yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask (for scripts)")
                         ] = False,
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Crypto-shred every value the field ever had; the records stay, the values are gone."""
    with opened(home, node) as w:
        count = sum(1 for r in w.chain if r.type == "passport.set" and r.body["field"] == name)
        if count:
            confirm([f"Erase {name}: {count} value(s) destroyed on the node for good (this "
                     "cannot be undone)"], f"Erase every value of {name}?", yes)
        erased = w.erase(name)
    emit(as_json, {"field": name, "erased_blobs": erased},
         f"{name}: {len(erased)} value(s) erased from the node")


def read(did: Annotated[str, typer.Argument(help="the member's did:key")],
         fields: Annotated[str, typer.Option(help="comma-separated field names")],
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(service) Read fields a member granted you: verified against the log, then decrypted."""
    names = split_fields(fields)
    with opened(home, node) as w:
        member = names_for(w).of(did)
        result = w.read(did, names)
        if "name" in result["fields"]:  # a granted name: remember who this is, here only
            learn(w.home, did, result["fields"]["name"]["value"], "granted name")
    if not member.known and not as_json:
        print(f"(unknown member {did}: not in your contacts)", file=sys.stderr)
    emit(as_json, result, "\n".join(f"{n}: {output.value_text(v['value'])}"
                                    for n, v in result["fields"].items()))


def sync(full: Annotated[bool, typer.Option(
        "--full", help="verify your whole chain again from seq 1, not just what is new")] = False,
        home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Fetch what is new on your chain, check the node's tree head is consistent with the
    last one seen."""
    with opened(home, node, full=full) as w:
        data = {"did": w.did, "seq": w.author.seq, "fetched": w.served, "tree_size": w.state.size,
                "log": w.state.origin, "fields": sorted(f for f, r in w.view().values.items()
                                                        if r is not None)}
    emit(as_json, data, f"in sync: {data['seq']} records on your chain ({data['fetched']} "
         f"fetched from the node now), log size "
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
    with opened(home, node, unlock=True) as w:
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
    from rich.console import Console

    from cli import people_demo

    people_demo.run(directory, Console(highlight=False, emoji=False))


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (init, "init"), (whoami, "whoami"), (set_, "set"), (get, "get"), (show, "show"),
        (clear, "clear"), (erase, "erase"), (read, "read"), (sync, "sync"),
        (rotate_key, "rotate-key"), (prove, "prove"), (gossip, "gossip"), (demo, "demo")]
    for fn, name in commands:
        app.command(name)(fn)
