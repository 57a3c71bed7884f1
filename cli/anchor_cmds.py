"""``passport verify-proof FILE`` and ``passport node anchor``: anchoring on Ethereum.

web3 is imported only inside the commands, so other ``passport`` commands start as fast as
before.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.ledger_cmds import _pinned
from ledger.errors import LedgerError
from passport_api.anchoring import ENV_CONTRACT, ENV_KEY, ENV_RPC
from passport_api.settings import DEFAULT_HOME, ENV_HOME, NodeSettings

ENV_CHAIN_RPC = "PASSPORT_CHAIN_RPC"


class EvidenceFileError(LedgerError):
    """The evidence file cannot be read or is not JSON."""

    code = "invalid-evidence"


def verify_proof(
    file: Annotated[Path, typer.Argument(help="evidence JSON (passport-evidence/1); - for stdin")],
    rpc: Annotated[str, typer.Option(envvar=ENV_CHAIN_RPC,
                                     help="JSON-RPC URL of the chain to check the anchor on")],
    sender: Annotated[str | None, typer.Option(
        help="require the anchor to come from this account (the node's, learnt elsewhere)")
    ] = None,
    log_key: Annotated[str | None, typer.Option(
        help="require this log public key (hex or did:key) instead of the evidence's")] = None,
    confirmations: Annotated[int, typer.Option(min=1, help="confirmations required")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check evidence that a record existed by a block, against the chain and nothing else."""
    from contracts.evidence import hex0x, verify_evidence  # web3 is imported on use

    if rpc == "inprocess":
        raise EvidenceFileError(
            "--rpc inprocess cannot check evidence from here: the in-process chain lives inside "
            "the node process that anchors on it and vanishes with it, so no other process can "
            "ask it anything; verify against a chain other processes reach (an anvil or a real "
            "chain's JSON-RPC URL), or use 'passport prove' against that node for its proofs")
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        evidence = json.loads(text)
    except (OSError, ValueError) as e:
        raise EvidenceFileError(f"cannot read evidence from {file}: {e}") from e
    verified = verify_evidence(evidence, rpc, min_confirmations=confirmations,
                               expected_sender=sender, log_key=_pinned(log_key))
    if as_json:
        c = verified.claim
        print(json.dumps({"ok": True, "record_id": c.record_id, "index": c.index,
                          "origin": c.origin, "anchored_size": c.anchored_size,
                          "chain_id": c.chain_id, "contract": c.contract, "sender": c.sender,
                          "tx_hash": hex0x(c.tx_hash), "block_number": c.block_number,
                          "confirmations": verified.confirmations}, indent=2))
    else:
        print("ok: " + verified.summary())


def node_anchor(
    db: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL or SQLite file (default: passport.sqlite in the home)")] = None,
    home: Annotated[Path | None, typer.Option(
        help=f"node home, for the log key (default: ${ENV_HOME} or {DEFAULT_HOME})")] = None,
    rpc: Annotated[str | None, typer.Option(
        envvar=ENV_RPC, help="chain JSON-RPC URL, or 'inprocess' (a throwaway EVM)")] = None,
    contract: Annotated[str | None, typer.Option(
        envvar=ENV_CONTRACT, help="Anchor contract address (default: the node's own)")] = None,
    confirmations: Annotated[int, typer.Option(min=1, help="confirmations to wait for")] = 1,
    wait: Annotated[float, typer.Option(help="seconds to wait for confirmation")] = 60.0,
) -> None:
    """Anchor the log's latest signed tree head now (and settle earlier pending anchors)."""
    from contracts.anchoring import AnchorConfig, Anchorer
    from contracts.errors import AnchorConfigError
    from passport_api.app import open_ledger

    if not rpc:
        raise AnchorConfigError(f"no chain: pass --rpc URL or set {ENV_RPC}")
    home = (home or Path(os.environ.get(ENV_HOME, DEFAULT_HOME))).expanduser()
    ledger = open_ledger(NodeSettings(home=home, db=db or str(home / "passport.sqlite")))
    try:
        config = AnchorConfig(rpc=rpc, private_key=os.environ.get(ENV_KEY) or None,
                              contract=contract, confirmations=confirmations)
        anchorer = Anchorer(ledger, config, home=home)
        result = anchorer.anchor_now(wait_s=wait)
        _report(anchorer, result)
    finally:
        ledger.close()


def _report(anchorer: Any, result: Any) -> None:
    print(f"chain {anchorer.chain_id}, contract {anchorer.contract}, sender {anchorer.sender}")
    for row, status in result.settled:
        print(f"{status}: tree size {row.tree_size} in tx 0x{row.tx_hash.hex()}")
    if result.sent is not None:
        print(f"sent: tree size {result.sent.tree_size} in tx 0x{result.sent.tx_hash.hex()}")
    for row in result.pending:
        print(f"pending: tree size {row.tree_size} in tx 0x{row.tx_hash.hex()}"
              + (f" ({row.detail})" if row.detail else ""))
    if result.note:
        print(result.note)


def register(app: typer.Typer) -> None:
    app.command("verify-proof")(verify_proof)
