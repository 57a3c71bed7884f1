"""``passport export`` and ``import``: a member's passport moves to another node, verified."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.common import AsJson, Home, Node, emit, home_of, node_of, opened
from passport_api.client import NodeClient
from wallet import keystore, portable
from wallet.keeper import talking_to


def export(file: Annotated[Path, typer.Argument(help="where to write the export (JSON)")],
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Write your whole chain, your values' blobs and the node's proofs to one file."""
    with opened(home, node) as w:
        document = portable.export(w)
    portable.write(document, file)
    verified = portable.verify_export(document)
    emit(as_json, {"file": str(file), **portable.summary(verified)},
         f"exported {len(verified.records)} record(s) and {len(verified.blobs)} value(s) of "
         f"{verified.member} to {file} (proved in the tree of size {verified.head.size}"
         + (f"; {len(verified.erased)} erased value(s) listed" if verified.erased else "")
         + ")")


def import_(file: Annotated[Path, typer.Argument(help="an export file from 'passport export'")],
            follow: Annotated[bool, typer.Option(
                help="re-pin the wallet at --home, if it is the exported member's, to --node")
            ] = True,
            home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Verify an export file offline, then append its records and blobs to --node."""
    data = portable.read(file)
    report = portable.import_export(data, node_of(node), home_of(home) if follow else None)
    emit(as_json, report.__dict__,
         f"imported {report.member} into {report.node}: {report.records} record(s) verified, "
         f"{report.appended} appended, {report.duplicates} already there, {report.blobs} "
         f"value(s); tree size {report.tree_size}"
         + (f"\nyour wallet at {report.wallet} now follows {report.node}" if report.wallet
            else ""))


def publish(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Put the copy of your chain and values this wallet keeps on --node (a node that lost
    them, or a new one); your wallet then follows that node."""
    from wallet import localcopy

    where, url = home_of(home), node_of(node)
    did = str(keystore.header(where)["did"])
    with talking_to(url):
        report = localcopy.publish(where, did, url)
        portable.follow(NodeClient(url), where)
    emit(as_json, report.__dict__,
         f"published your chain on {url}: {report.records} record(s) kept here, "
         f"{report.appended} appended, {report.blobs} value(s); your wallet now follows it")


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [(export, "export"), (import_, "import"),
                                                       (publish, "publish")]
    for fn, name in commands:
        app.command(name)(fn)
