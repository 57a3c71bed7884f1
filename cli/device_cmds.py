"""``passport device ...``: a second device (a phone, a laptop) with a key of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import AsJson, Home, Node, emit, home_of, opened, out, passphrase, public_notice
from cli.common import table as make_table
from ledger import keys
from wallet import keystore
from wallet.errors import UsageError

app = typer.Typer(no_args_is_help=True, help="Devices that may sign for your passport.")


@app.command("init")
def init(member: Annotated[str, typer.Option(help="the did:key of your passport")],
         home: Home = None, as_json: AsJson = False) -> None:
    """(on the new device) Make this device's key; then add it from your main device."""
    where: Path = home_of(home)
    if keystore.path_in(where).exists():
        raise UsageError(f"a wallet already exists at {where}; use another --home")
    store = keystore.create_device(member)
    keystore.save(store, where, passphrase(confirm=True))
    device = keys.did_of(store.signing_keys[0])
    emit(as_json, {"member": member, "device": device, "home": str(where)},
         f"this device's key: {device}\non your main device run: passport device add "
         f"{device} --label <name>")


@app.command("add")
def add(device: Annotated[str, typer.Argument(help="the new device's did:key")],
        label: Annotated[str, typer.Option(
            help="a name for it, e.g. phone (public: stored in clear on the ledger)")],
        home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(main device) Let the device sign records of your passport and read your values."""
    keys.public_key_from_did(device)
    with opened(home, node) as w:
        record = w.add_device(device, label)
    public_notice(f"the device label {label[:60]!r}")
    emit(as_json, {"device": device, "record": record.id},
         f"{device} ({label}) may now sign for {w.did}; current values re-sealed to it")


@app.command("remove")
def remove(device: Annotated[str, typer.Argument(help="the device's did:key")],
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(main device) Cut a device off, e.g. a lost phone: one record."""
    with opened(home, node) as w:
        record = w.remove_device(device)
    emit(as_json, {"device": device, "record": record.id}, f"{device} removed")


@app.command("list")
def list_(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The devices of your passport, in force or removed."""
    with opened(home, node) as w:
        found = [{"device": keys.did_from_public_key(k), "from_seq": first,
                  "removed_at_seq": gone} for k, first, gone in w.devices()]
    if as_json:
        emit(True, found)
        return
    out.print(make_table(("device", "since seq", "status"), [
        [str(d["device"]), str(d["from_seq"]), "in force" if d["removed_at_seq"] is None
         else f"removed at seq {d['removed_at_seq']}"] for d in found]) if found
        else "no devices")


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="device")

