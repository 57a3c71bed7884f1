"""The ``passport`` command: every failure ends as one clear line on stderr, never a traceback.

The commands themselves load lazily (cli.lazy): ``passport --help`` imports none of them.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from cli.quickhelp import plain_help
from ledger.errors import PassportError

if TYPE_CHECKING:
    import typer


def root() -> typer.Typer:
    import typer  # noqa: PLC0415  (Typer is not needed for a bare --help)

    from cli.lazy import LazyGroup  # noqa: PLC0415
    from cli.quickhelp import HELP  # noqa: PLC0415

    app = typer.Typer(cls=LazyGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                      rich_markup_mode=None,  # plain help: rich rendering cost the most
                      add_completion=False, help=HELP)

    @app.callback()
    def _root() -> None:
        """Passport: member-owned passports on a signed, append-only ledger."""

    return app


EXIT_FAILED = 1
EXIT_USAGE = 2


def main() -> None:
    if sys.argv[1:] == ["--help"]:  # the command list, from the index: no Typer, no command
        print(plain_help())
        sys.exit(0)
    import typer  # noqa: PLC0415

    try:
        code = root()(standalone_mode=False)
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
