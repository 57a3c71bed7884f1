"""``passport node ...``: run the ledger node."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from passport_api.app import open_ledger
from passport_api.settings import DEFAULT_HOME, ENV_HOME, NodeSettings

app = typer.Typer(no_args_is_help=True, help="Run the Passport node.")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8400,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    db: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL or SQLite file (default: passport.sqlite in the home)")] = None,
    home: Annotated[Path | None, typer.Option(
        help=f"node home, for the log key (default: ${ENV_HOME} or {DEFAULT_HOME})")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (use PostgreSQL for "
                                                     "more than one)")] = 1,
) -> None:
    """Serve the node's HTTP API; GET /v1/health answers once it is ready."""
    home = (home or Path(os.environ.get(ENV_HOME, DEFAULT_HOME))).expanduser()
    settings = NodeSettings(home=home, db=db or str(home / "passport.sqlite"))
    # Create the log key, the schema and the empty signed head once, before any worker
    # starts, so workers never race to initialise the same database.
    open_ledger(settings).close()
    os.environ.update(settings.to_env())
    uvicorn.run("passport_api.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", access_log=False)
