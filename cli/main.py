"""The ``passport`` command: every failure ends as one clear line on stderr, never a traceback.

The commands themselves load lazily (cli.lazy): ``passport --help`` imports none of them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from cli.quickhelp import plain_help
from ledger.errors import PassportError

if TYPE_CHECKING:
    import typer


def root() -> typer.Typer:
    import typer  # noqa: PLC0415  (Typer is not needed for a bare --help)

    from cli import fastparams  # noqa: PLC0415
    from cli.lazy import LazyGroup  # noqa: PLC0415
    from cli.quickhelp import HELP  # noqa: PLC0415

    fastparams.install()

    app = typer.Typer(cls=LazyGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                      rich_markup_mode=None,  # plain help: rich rendering cost the most
                      add_completion=False, help=HELP)

    @app.callback()
    def _root() -> None:
        """Passport: member-owned passports on a signed, append-only ledger."""

    return app


# The exit codes the README documents (section "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(code: str, message: str, exit_code: int) -> None:
    """One line on stderr: ``passport: error: ...``, or with ``--json`` a JSON problem
    (``type``, ``title``, ``detail``, ``exit_code``) so a program can branch on the type."""
    if "--json" in sys.argv[1:]:
        print(json.dumps({"type": f"/v1/problems/{code}", "title": code.replace("-", " "),
                          "detail": message, "exit_code": exit_code}, ensure_ascii=False),
              file=sys.stderr)
    else:
        print(f"passport: {'' if code == 'interrupted' else 'error: '}{message}",
              file=sys.stderr)
    sys.exit(exit_code)


def main() -> None:
    if sys.argv[1:] == ["--help"]:  # the command list, from the index: no Typer, no command
        print(plain_help())
        sys.exit(0)
    if "httpx" not in sys.modules:
        # httpx imports its own command line (click, rich.progress, pygments: about half of
        # its import time) unless that module is absent, and says so; this CLI never runs it.
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    import typer  # noqa: PLC0415

    try:
        code = root()(standalone_mode=False)
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
