"""The people demo behind ``make demo``: a member, a space and a ride service, each with a
wallet of its own, talking to a real node process over HTTP.

Every step goes through the same code as the ``passport`` commands (``wallet.*``) and checks
its result; each line says what one party saw, and "ok" only after it was verified.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from ledger.errors import LedgerError
from ledger.times import now_ms
from passport_api.client import NodeClient
from wallet import checkin, keystore
from wallet.errors import NodeRefusedError
from wallet.wallet import Wallet

PASSPHRASE = "demo passphrase, not for real use"  # noqa: S105 (printed by the demo)
DAY_MS = 86_400_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = (root / "node.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-c", "from cli.main import main; main()", "node", "serve",
         "--port", str(port), "--home", str(root / "node")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PASSPORT_VERIFY_WORKERS": "0"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LedgerError(f"the demo node exited; see {root / 'node.log'}")
        if NodeClient(url, timeout=1).is_ready():
            return proc, url
        time.sleep(0.1)
    proc.terminate()
    raise LedgerError(f"the demo node did not start; see {root / 'node.log'}")


def _wallet(root: Path, name: str, role: str, url: str) -> Wallet:
    home = root / name
    store = keystore.create(role)
    keystore.save(store, home, PASSPHRASE, profile="interactive")
    wallet = Wallet(home, store, PASSPHRASE, url)
    wallet.sync()
    wallet.set("name", name)
    return wallet


def run(root: Path, out: Console) -> None:
    root.mkdir(parents=True, exist_ok=True)
    proc, url = _start_node(root)
    out.print(f"node on {url} (its database and log key in {root / 'node'})")
    try:
        _story(root, url, out)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _story(root: Path, url: str, out: Console) -> None:
    alice = _wallet(root, "Alice", "member", url)
    desk = _wallet(root, "Seats2meet Utrecht", "space", url)
    rides = _wallet(root, "RideShare", "service", url)
    ok = "[green]ok[/green]"
    values = {"activity": "Designing a ride-sharing service", "city": "Utrecht",
              "expertise": "python, cryptography", "leaving_at": "17:30"}
    for field, value in values.items():
        alice.set(field, value)
    stored = b"".join(p.read_bytes() for p in (root / "node").glob("passport.sqlite*"))
    if any(v.encode() in stored for v in values.values()):
        raise LedgerError("a field value is in clear in the node's database")
    out.print(f"{ok} Alice ({alice.did[:24]}...) set 4 fields; none of the values is in the "
              "node's database files in clear")

    gid = alice.grant(rides.did, ["activity", "city"], "ride matching", now_ms() + 7 * DAY_MS)
    seen = rides.read(alice.did, ["activity", "city"])["fields"]
    out.print(f"{ok} RideShare read what Alice granted it, verified and decrypted: "
              + ", ".join(f"{f}={v['value']!r}" for f, v in seen.items()))
    try:
        rides.read(alice.did, ["expertise"])
        raise LedgerError("the service read a field it was not granted")
    except NodeRefusedError as e:
        out.print(f"{ok} RideShare asking for 'expertise' was refused: {e}")
    receipts = alice.receipts()
    out.print(f"{ok} Alice sees {len(receipts)} receipt, signed by the node: RideShare read "
              + ", ".join(f["field"] for f in receipts[0]["fields"]))

    alice.revoke(gid)
    if rides.did in alice.set("city", "Rotterdam").body["recipients"]:
        raise LedgerError("a value was sealed to a revoked service")
    try:
        rides.read(alice.did, ["city"])
        raise LedgerError("a revoked service could still read")
    except NodeRefusedError:
        out.print(f"{ok} Alice revoked the grant: RideShare's next read is refused, and her new "
                  "city is not sealed to it")

    alice.grant(desk.did, ["name"], "front desk", now_ms() + DAY_MS)
    challenge = checkin.issue(desk)
    record = checkin.check_in(alice, challenge.token())
    verified = checkin.desk_verify(desk, now_ms() - DAY_MS)
    out.print(f"{ok} Alice checked in at the desk (record {record.id[:20]}...); the desk "
              f"verified it and sees only what she granted it: {verified[0]['fields']}")

    new_key = alice.rotate()
    alice.set("looking_for", "a co-founder")
    out.print(f"{ok} Alice rotated to her pre-committed key {new_key[:24]}... and kept "
              f"writing; her did is unchanged")

    for path in (root / "Alice").iterdir():
        if path.name != keystore.FILE_NAME:  # her own copy too: rebuilt from the node alone
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = Wallet(root / "Alice", keystore.load(root / "Alice", PASSPHRASE), PASSPHRASE, url)
    again.sync()
    fields = {f: v.value for f, v in again.fields().items()}
    out.print(f"{ok} from the key store alone, Alice's wallet rebuilt her passport: {fields}")
    for w in (alice, desk, rides, again):
        w.close()
    out.print(f"\nThe wallets are in {root}/ (passphrase: {PASSPHRASE!r}). To look again:\n"
              f"  passport node serve --home {root / 'node'} &\n"
              f"  PASSPORT_PASSPHRASE='{PASSPHRASE}' passport show --home {root / 'Alice'}")
