"""What the wallet's local pages share: loopback only, a secret token, strict headers.

The member view and the desk kiosk are served by the wallet's own process, so keys never
leave it.  Loopback is not enough on its own: other users of the machine, and any web site the
browser visits, can reach 127.0.0.1.  So every page needs a random token (printed once, in the
URL), compared in constant time; every POST needs the same token in its form (a site that can
make the browser post cannot read the token); and a Host other than 127.0.0.1/localhost is
refused, so a DNS-rebinding site cannot make its own origin talk to the wallet.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from wallet.errors import UsageError

LOOPBACK = "127.0.0.1"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
TOKEN_BYTES = 32
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    # The token is in the URL: never sent to another origin (none is linked anyway).  Not
    # "no-referrer": Chromium then sends "Origin: null" on our own form posts.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class Guard:
    """The page token: who knows it may look and act; compared in constant time."""

    def __init__(self, token: str) -> None:
        self.token = token

    def matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context), status_code=status)


def host_is_local(request: Request) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOCAL_HOSTS


def build_app(routes: list[BaseRoute], guard: Guard) -> Starlette:
    """Routes behind the Host check and the token (static files need only the Host check)."""

    async def protect(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not host_is_local(request):
            response: Response = PlainTextResponse("this page is served to 127.0.0.1 only",
                                                   status_code=403)
        elif not request.url.path.startswith("/static/") and not guard.matches(
                request.query_params.get("token")):
            response = render("no_token.html", status=403)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    # One stylesheet for every Passport page: the node's explorer.css, served from its package.
    static = Mount("/static", StaticFiles(directory=HERE / "static",
                                          packages=[("passport_api", "static")]), name="static")
    return Starlette(routes=[*routes, static],
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=protect)])


def serve(app: Starlette, port: int, ready: Callable[[int], None]) -> None:
    """Serve on 127.0.0.1 only, until interrupted; ``ready`` gets the port (0 picks one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {LOOPBACK}:{port} ({e.strerror}); choose another "
                         "--port, or --port 0 for any free one") from None
    sock.listen(128)  # connections made as soon as the URL is out wait for the server
    ready(int(sock.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
