"""``passport ledger ...``: the operator's tools over a ledger database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from ledger.errors import KeyFormatError
from ledger.keys import public_key_from_did

if TYPE_CHECKING:
    from ledger.store.audit import AuditReport

app = typer.Typer(no_args_is_help=True, help="Operator tools for the ledger database.")
err = Console(stderr=True, emoji=False, highlight=False)
out = Console(emoji=False, highlight=False, soft_wrap=True)

DEFAULT_DB = "passport.sqlite"
PROGRESS_MIN_RECORDS = 10_000


def _pinned(log_key: str | None) -> bytes | None:
    if log_key is None:
        return None
    if log_key.startswith("did:key:"):
        return public_key_from_did(log_key)
    try:
        key = bytes.fromhex(log_key)
    except ValueError as e:
        raise KeyFormatError("--log-key takes the log's public key as 64 hex digits or a "
                             "did:key") from e
    if len(key) != 32:
        raise KeyFormatError("--log-key must be a 32-byte Ed25519 public key")
    return key


@app.command()
def verify(
    db: Annotated[str, typer.Option(help="SQLAlchemy URL or SQLite file of the ledger")] = (
        DEFAULT_DB),
    log_key: Annotated[str | None, typer.Option(
        help="pin the log's public key (hex or did:key) instead of trusting the stored one")] = (
        None),
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Re-check every signature, chain link, blob hash and the tree against the signed heads."""
    pinned = _pinned(log_key)
    from ledger.store.audit import audit  # imported here: the CLI starts fast without SQL
    from ledger.store.db import open_engine

    engine = open_engine(db, create=False)
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                      transient=True, disable=as_json) as bar:
            task = bar.add_task("auditing", total=None)

            def tick(done: int, total: int) -> None:
                if total >= PROGRESS_MIN_RECORDS:
                    bar.update(task, completed=done, total=total)

            report = audit(engine, public_key=pinned, progress=tick)
    finally:
        engine.dispose()
    if as_json:
        out.print_json(json.dumps(_as_dict(report)))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _as_dict(report: AuditReport) -> dict[str, object]:
    return {"ok": report.ok, "origin": report.origin, "size": report.size,
            "records": report.records, "tree_heads": report.tree_heads, "chains": report.chains,
            "blobs": report.blobs, "truncated": report.truncated,
            "problems": [{"check": p.check, "index": p.index, "record_id": p.record_id,
                          "message": p.message} for p in report.problems]}


def _print(report: AuditReport) -> None:
    summary = (f"{report.records} records, {report.chains} chains, {report.tree_heads} signed "
               f"tree heads, {report.blobs} blobs in log {report.origin}")
    if report.ok:
        out.print(f"[green]ok[/green]: {summary}: every check passed")
        return
    more = " (more not listed)" if report.truncated else ""
    out.print(f"[red]FAILED[/red]: {summary}: {len(report.problems)} problems{more}")
    for problem in report.problems:
        out.print(f"  {problem}", markup=False, highlight=False)


@app.command("demo")
def demo_cmd(
    db: Annotated[str, typer.Option(help="ledger database (created)")] = "demo/passport.sqlite",
    home: Annotated[Path, typer.Option(help="node home for the log key")] = Path("demo"),
) -> None:
    """Append members' records, prove them, and audit the ledger: the core end to end."""
    from cli import demo

    demo.run(db, home, out)
