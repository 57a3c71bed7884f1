"""Every ``passport`` command, registered: imported only when a command runs (cli.lazy).

A command that runs loads only the module that defines it (``build([module])``), so ``passport
set`` never imports the node's web stack or the database layer; the whole set is built for
the command index and for a name the index does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

import typer

from cli.quickhelp import HELP

# Sub-command groups (``passport ledger ...``): name -> module whose ``app`` it is.
GROUPS = {"ledger": "cli.ledger_cmds", "node": "cli.node_cmds", "agent": "cli.agent_cmds"}
# Modules whose ``register(app)`` adds top-level commands, in the order they are listed.
REGISTERING = ("cli.wallet_cmds", "cli.consent_cmds", "cli.profile_cmds", "cli.anchor_cmds",
               "cli.attest_cmds", "cli.portable_cmds", "cli.desk_cmds", "cli.device_cmds",
               "cli.match_cmds", "cli.web_cmds", "cli.vc_cmds")
MODULES = (*GROUPS.values(), *REGISTERING)


def build(modules: Sequence[str] | None = None) -> typer.Typer:
    """The CLI with the commands of ``modules`` (default: all of them)."""
    wanted = MODULES if modules is None else modules
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False, help=HELP)
    app.callback()(_group)  # a group even when ``modules`` define a single command
    for name, module in GROUPS.items():
        if module in wanted:
            app.add_typer(import_module(module).app, name=name)
    for module in REGISTERING:
        if module in wanted:
            import_module(module).register(app)
    return app


def _group() -> None:
    """Passport: member-owned passports on a signed, append-only ledger."""
