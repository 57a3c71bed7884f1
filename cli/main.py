"""The ``passport`` command: every failure ends as one clear line on stderr, never a traceback."""

from __future__ import annotations

import os
import sys

import typer

from cli import (
    anchor_cmds,
    attest_cmds,
    consent_cmds,
    desk_cmds,
    device_cmds,
    ledger_cmds,
    match_cmds,
    node_cmds,
    portable_cmds,
    profile_cmds,
    vc_cmds,
    wallet_cmds,
    web_cmds,
)
from cli.output import error_json
from ledger.errors import PassportError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Passport: member-owned passports on a signed, append-only ledger.")
app.add_typer(ledger_cmds.app, name="ledger")
app.add_typer(node_cmds.app, name="node")
wallet_cmds.register(app)
consent_cmds.register(app)
profile_cmds.register(app)
anchor_cmds.register(app)
attest_cmds.register(app)
portable_cmds.register(app)
desk_cmds.register(app)
device_cmds.register(app)
match_cmds.register(app)
web_cmds.register(app)
vc_cmds.register(app)

# The exit codes the README documents (section "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(code: str, message: str, exit_code: int) -> None:
    """One line on stderr: ``passport: error: ...``, or with ``--json`` a JSON problem
    (``type``, ``title``, ``detail``, ``exit_code``) so a program can branch on the type."""
    if "--json" in sys.argv[1:]:
        print(error_json(code, message, exit_code), file=sys.stderr)
    else:
        print(f"passport: {'' if code == 'interrupted' else 'error: '}{message}",
              file=sys.stderr)
    sys.exit(exit_code)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", "interrupted", EXIT_INTERRUPTED)
    except typer.TyperException as e:  # a wrong or missing option or command: one line
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "passport"
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        fail("usage", f"{message} (see '{where} --help')",
             int(getattr(e, "exit_code", EXIT_USAGE)))
    except PassportError as e:  # every error raised on purpose (ledger, wallet, node, API)
        fail(e.code, str(e), EXIT_FAILED)
    except Exception as e:  # a bug or an environment fault: still one line, unless debugging
        if os.environ.get("PASSPORT_DEBUG"):
            raise
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        fail("internal-error", f"internal error ({type(e).__name__}): {detail} "
             "(set PASSPORT_DEBUG=1 to see where)", EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
