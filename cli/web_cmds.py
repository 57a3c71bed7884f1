"""Local web pages served by the wallet itself: ``passport ui`` (member) and ``passport desk
serve`` (a space's kiosk).  127.0.0.1 only; the printed URL carries the page's secret token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from cli import desk_cmds
from cli.common import Home, Node, opened, out

Port = Annotated[int, typer.Option(min=0, max=65535,
                                   help="port on 127.0.0.1 (0: any free port)")]


def _announce(what: str, token: str) -> Callable[[int], None]:
    def ready(port: int) -> None:
        # One line a person can open, and a script can parse (the first line of stdout).
        print(f"http://127.0.0.1:{port}/?token={token}", flush=True)
        out.print(f"{what} on 127.0.0.1 only; keep the link private (it holds the page's "
                  "token). Ctrl-C to stop.", markup=False)
    return ready


def ui(home: Home = None, node: Node = None, port: Port = 8420) -> None:
    """(member) Your passport in a browser: fields, grants (with revoke), who read what."""
    from wallet.web import member_ui
    from wallet.web.server import Guard, new_token, serve

    guard = Guard(new_token())
    with opened(home, node) as w:
        serve(member_ui.create_app(w, guard), port,
              _announce("your passport", guard.token))


def serve_desk(home: Home = None, node: Node = None, port: Port = 8410) -> None:
    """(space) The check-in kiosk: the current challenge as a QR code, today's check-ins."""
    from wallet.web import kiosk
    from wallet.web.server import Guard, new_token, serve

    guard = Guard(new_token())
    with opened(home, node) as w:
        desk_cmds.require_space(w, "serves the check-in kiosk")
        name = str(w.field("name").value) if w.view().value("name") is not None else w.did
        serve(kiosk.create_app(kiosk.Desk(w, name), guard), port,
              _announce("the check-in kiosk", guard.token))


def register(main: typer.Typer) -> None:
    main.command("ui")(ui)  # ``desk serve`` is registered by cli.desk_cmds, with its group
