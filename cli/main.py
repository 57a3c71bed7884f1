"""The ``passport`` command: every failure ends as one clear line on stderr, never a traceback."""

from __future__ import annotations

import sys

import typer

from cli import ledger_cmds
from ledger.errors import LedgerError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Passport: member-owned passports on a signed, append-only ledger.")
app.add_typer(ledger_cmds.app, name="ledger")

EXIT_FAILED = 1


def main() -> None:
    try:
        app()
    except LedgerError as e:
        print(f"passport: error: {e}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print("passport: interrupted", file=sys.stderr)
        sys.exit(130)
