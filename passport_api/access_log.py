"""The node's access log: one line per request on stderr, for the operator.

Method, path, status, bytes out and milliseconds; never a query string (a kiosk or a page may
carry a token there), never a header or a body (signatures, values).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_ACCESS_LOG = "PASSPORT_ACCESS_LOG"
log = logging.getLogger("passport.access")


def enabled() -> bool:
    return os.environ.get(ENV_ACCESS_LOG, "") == "1"


def configure() -> None:
    """Send ``passport.access`` lines to stderr, whatever uvicorn's own log level."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def line(method: str, path: str, status: int, size: int, ms: float) -> str:
    """``GET /v1/log/head 200 412B 3.1ms``: the path only, control characters escaped."""
    shown = path.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)[:300]
    return f"{method} {shown} {status} {size}B {ms:.1f}ms"


class AccessLog:
    """ASGI middleware writing one ``line`` per HTTP request once its response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 500, 0

        async def counted(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            log.info(line(str(scope.get("method", "?")), str(scope.get("path", "?")), status,
                          size, (time.perf_counter() - started) * 1000))
