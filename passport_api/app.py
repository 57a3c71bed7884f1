"""The node as an ASGI app: one ``Ledger`` per worker process, routes under /v1.

``create_app`` takes settings; ``app_from_env`` is the factory each uvicorn worker calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger.store.access import AccessStore
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from passport_api import problems
from passport_api.anchoring import start_anchoring
from passport_api.bodyguard import BodyGuard
from passport_api.federation import start_following
from passport_api.routes import (
    access,
    anchors,
    attestations,
    consent_feed,
    desk,
    explorer,
    federation,
    log,
    records,
)
from passport_api.settings import NodeSettings


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
    app.add_middleware(BodyGuard)
    app.include_router(records.router)
    app.include_router(log.router)
    app.include_router(access.router)
    app.include_router(anchors.router)
    app.include_router(desk.router)
    app.include_router(attestations.router)
    app.include_router(consent_feed.router)
    app.include_router(federation.router)
    app.include_router(explorer.router)
    return app


def app_from_env() -> FastAPI:
    return create_app(NodeSettings.from_env())
