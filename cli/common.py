"""What every command module shares: the --home, --node and --json options, the synced
wallet (through the wallet agent if one runs, else unlocked with the passphrase), asking before
an act that cannot be undone, and printing for a person or as JSON.

Kept apart from the commands so that a module of commands imports only this, not the commands
of ``cli.wallet_cmds``.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import output
from wallet import agent, keystore
from wallet.addressbook import AddressBook
from wallet.errors import KeystoreError, UsageError
from wallet.keystore import Keystore
from wallet.names import Names
from wallet.wallet import DEFAULT_NODE, Wallet

ENV_HOME, ENV_NODE, ENV_PASSPHRASE = "PASSPORT_HOME", "PASSPORT_NODE", "PASSPORT_PASSPHRASE"
DEFAULT_HOME = "~/.passport/wallet"

Home = Annotated[Path | None, typer.Option(
    help=f"wallet directory (default: ${ENV_HOME} or {DEFAULT_HOME})", show_default=False)]
Node = Annotated[str | None, typer.Option(
    help=f"node URL (default: ${ENV_NODE} or {DEFAULT_NODE})", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON for programs")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask (for scripts)")]

out = output.Out()


def table(columns: tuple[str, ...], rows: list[list[str]], title: str | None = None
          ) -> output.Table:
    """Cells as plain text (a value is never read as markup), never wrapped: a table when the
    terminal is wide enough, else one record per line (``cli.output.Table``)."""
    return output.Table(columns, rows, title)


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
    if confirm and len(first) < keystore.MIN_PASSPHRASE_CHARS:  # before asking it twice
        raise KeystoreError(f"the passphrase must have at least "
                            f"{keystore.MIN_PASSPHRASE_CHARS} characters")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise KeystoreError("the two passphrases differ")
    return first


def unlocked(where: Path) -> tuple[Keystore, str | None]:
    """The wallet's keys: through its running agent (no passphrase, no Argon2id), else
    unlocked here with the passphrase (which is then returned too)."""
    did = str(keystore.header(where)["did"])  # "no wallet here" before asking anything
    held = agent.keystore_from(where, did)
    if held is not None:
        return held, None
    secret = passphrase()
    return keystore.load(where, secret), secret


@contextmanager
def opened(home: Path | None, node: str | None, *, unlock: bool = False,
           full: bool = False) -> Iterator[Wallet]:
    """The synced wallet; ``unlock``: with the passphrase even when an agent runs (a command
    that saves the key store); ``full``: re-verify the whole chain from seq 1."""
    where = home_of(home)
    store: Keystore
    secret: str | None
    if unlock:
        keystore.header(where)
        secret = passphrase()
        store = keystore.load(where, secret)
    else:
        store, secret = unlocked(where)
    wallet = Wallet(where, store, secret, node_of(node))
    try:
        wallet.sync(full=full)
        yield wallet
    finally:
        wallet.close()


def emit(as_json: bool, data: Any, text: str | None = None) -> None:
    output.emit(as_json, data, text)


def names_for(w: Wallet) -> Names:
    """Who a did is: the node's directory, then this wallet's own contacts."""
    return Names(w.client, AddressBook.load(w.home))


def confirm(lines: list[str], question: str, yes: bool) -> None:
    """Show what is about to happen (on stderr, so --json output stays clean) and ask; refuse
    without --yes when nobody is at a terminal to answer."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: nobody at a terminal to confirm (stdin is "
                         "not a terminal); check it, then run again with --yes")
    print("\n".join(lines), file=sys.stderr)
    if not typer.confirm(question, default=False, err=True):
        raise NotConfirmedError("not confirmed: nothing was done")


class NotConfirmedError(UsageError):
    code = "cancelled"



def public_notice(what: str) -> None:
    """One line on stderr (so ``--json`` stays clean): free text the member wrote is public."""
    print(f"passport: note: {what} is public: anyone who reads the ledger sees it in clear",
          file=sys.stderr)

