"""Every ``passport`` command, registered: imported only when a command runs (cli.lazy)."""

from __future__ import annotations

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
from cli.quickhelp import HELP


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False, help=HELP)
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
    return app
