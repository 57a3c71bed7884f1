"""Request bodies bounded before anything parses them: in size, and in nesting depth.

FastAPI parses JSON bodies with the stdlib's recursive C scanner.  Once an import has raised
the interpreter's recursion limit (py_ecc, under web3, sets it to 100,000), a body nested some
200,000 deep overflows the C stack and kills the worker.  So every body is read here first,
refused if it is over the size limit or nests deeper than ``ledger.encoding.MAX_DEPTH`` (a
linear pre-scan that parses nothing), and only then handed to the app.  The node and the
matcher both install this middleware.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.encoding import MAX_DEPTH, too_deep
from passport_api.errors import ApiError, NestedTooDeepError, PayloadTooLargeError
from passport_api.problem_json import problem

MAX_BODY_BYTES = 32 * 1024 * 1024  # a full batch: 10,000 records of up to 64 KiB is more
SCAN_IN_THREAD = 1024 * 1024  # larger bodies are scanned off the event loop


def nests_too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """``too_deep`` for a body in any encoding the stdlib's JSON parser would accept."""
    encoding = json.detect_encoding(body)
    if encoding != "utf-8":  # UTF-16/32: a quote or bracket byte may sit inside a character
        try:
            body = body.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
        except UnicodeError:
            return False  # no parser will read it either: it is refused as not JSON
    return too_deep(body, limit)


class BodyGuard:
    """Read the whole body, refuse it if over ``limit`` bytes or nested over ``depth``, then
    replay it to the app.  A declared length over the limit is refused before reading."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, depth: int = MAX_DEPTH
                 ) -> None:
        self.app, self.limit, self.depth = app, limit, depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send, self._too_large())
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and await self._too_deep(body):
            await self._refuse(scope, receive, send, NestedTooDeepError(
                f"the body nests arrays and objects more than {self.depth} levels deep"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _too_deep(self, body: bytes) -> bool:
        if len(body) < SCAN_IN_THREAD:
            return nests_too_deep(body, self.depth)
        return await run_in_threadpool(nests_too_deep, body, self.depth)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"request bodies are limited to {self.limit} bytes")

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
        response = problem(error.code, error.detail, error.status)
        await response(scope, receive, send)
