"""The node as an ASGI app: one ``Ledger`` per worker process, routes under /v1.

``create_app`` takes settings; ``app_from_env`` is the factory each uvicorn worker calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.store.access import AccessStore
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from passport_api import access_log, problems
from passport_api.anchoring import start_anchoring
from passport_api.errors import PayloadTooLarge
from passport_api.federation import start_following
from passport_api.routes import (
    access,
    anchors,
    attestations,
    consent_feed,
    desk,
    directory,
    explorer,
    federation,
    log,
    records,
)
from passport_api.settings import NodeSettings

MAX_BODY_BYTES = 32 * 1024 * 1024  # a full batch: 10,000 records of up to 64 KiB is more


def open_ledger(settings: NodeSettings) -> Ledger:
    settings.home.mkdir(parents=True, exist_ok=True)
    return Ledger.open(settings.db, log_key=load_or_create_log_key(settings.home),
                       verify_workers=settings.verify_workers)


def create_app(settings: NodeSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = open_ledger(settings)
        app.state.access = AccessStore(app.state.ledger.engine)
        stop_anchoring = start_anchoring(settings, app.state.ledger)
        stop_following = start_following(app.state.ledger, load_or_create_log_key(settings.home))
        try:
            yield
        finally:
            stop_following()
            stop_anchoring()
            app.state.ledger.close()

    app = FastAPI(title="Passport node", version="1", lifespan=lifespan,
                  summary="Member-owned passports on a signed, append-only Merkle log.",
                  docs_url="/v1/docs", openapi_url="/v1/openapi.json", redoc_url=None)
    problems.install(app)
    app.add_middleware(BodyLimit)
    if access_log.enabled():
        access_log.configure()
        app.add_middleware(access_log.AccessLog)
    app.include_router(records.router)
    app.include_router(log.router)
    app.include_router(access.router)
    app.include_router(anchors.router)
    app.include_router(desk.router)
    app.include_router(attestations.router)
    app.include_router(consent_feed.router)
    app.include_router(federation.router)
    app.include_router(explorer.router)
    app.include_router(directory.router)
    return app


class BodyLimit:
    """Refuse bodies over ``limit`` bytes: by their declared length, or while they stream in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = PayloadTooLarge(f"request bodies are limited to {self.limit} bytes")
        response = problems.problem(too_large.code, too_large.detail, too_large.status)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def app_from_env() -> FastAPI:
    return create_app(NodeSettings.from_env())
