"""The ``passport`` command: every failure ends as one clear line on stderr, never a traceback."""

from __future__ import annotations

import os
import sys

import typer

from cli import (
    anchor_cmds,
    attest_cmds,
    desk_cmds,
    device_cmds,
    ledger_cmds,
    match_cmds,
    node_cmds,
    portable_cmds,
    vc_cmds,
    wallet_cmds,
    web_cmds,
)
from ledger.errors import PassportError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Passport: member-owned passports on a signed, append-only ledger.")
app.add_typer(ledger_cmds.app, name="ledger")
app.add_typer(node_cmds.app, name="node")
wallet_cmds.register(app)
anchor_cmds.register(app)
attest_cmds.register(app)
portable_cmds.register(app)
desk_cmds.register(app)
device_cmds.register(app)
match_cmds.register(app)
web_cmds.register(app)
vc_cmds.register(app)

EXIT_FAILED = 1


EXIT_USAGE = 2


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("passport: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as e:  # a wrong or missing option or command: one line
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "passport"
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        print(f"passport: error: {message} (see '{where} --help')", file=sys.stderr)
        sys.exit(int(getattr(e, "exit_code", EXIT_USAGE)))
    except PassportError as e:  # every error raised on purpose (ledger, wallet, node, API)
        print(f"passport: error: {e}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print("passport: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # a bug or an environment fault: still one line, unless debugging
        if os.environ.get("PASSPORT_DEBUG"):
            raise
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"passport: internal error ({type(e).__name__}): {detail} "
              "(set PASSPORT_DEBUG=1 to see where)", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)
