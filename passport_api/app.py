"""The node as an ASGI app: one ``Ledger`` per worker process, routes under /v1 (and the
log's tlog-tiles at /checkpoint and /tile/).

``create_app`` takes settings; ``app_from_env`` is the factory each uvicorn worker calls.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI

from ledger.store.access import AccessStore
from ledger.store.async_reads import AsyncReader
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from ledger.store.tiles import TileStore
from passport_api import access_log, lanes, problems
from passport_api.anchoring import start_anchoring
from passport_api.appender import GroupAppender
from passport_api.bodyguard import BodyGuard
from passport_api.federation import start_following
from passport_api.ratelimit import Limiter, RateLimitByAddress
from passport_api.read_cache import ReadCache
from passport_api.reads import ReceiptWriter, warm_in_background
from passport_api.reads_async import AsyncReads
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
    tiles,
)
from passport_api.settings import NodeSettings


def open_ledger(settings: NodeSettings) -> Ledger:
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private_sqlite(settings.db)
    # no memory map: every group commit of receipts would make each reading connection
    # unmap and map the whole file again (ledger/store/db.py, SQLITE_MMAP_BYTES)
    return Ledger.open(settings.db, log_key=load_or_create_log_key(settings.home),
                       verify_workers=settings.verify_workers, mapped=False)


def sqlite_path(db: str) -> Path | None:
    """The file of a SQLite database (a path, or a ``sqlite:///`` URL); None for a server."""
    if "://" not in db:
        return Path(db)
    if db.startswith("sqlite:///") and not db.startswith("sqlite:///:memory:"):
        return Path(db[len("sqlite:///"):].split("?", 1)[0])
    return None


def create_private_sqlite(db: str) -> None:
    """Create a new SQLite database file 0600 (its directory 0700 if the node makes it).

    The file holds receipts, challenges and spent nonces; SQLite gives the ``-wal`` and
    ``-shm`` files it creates later the mode of the database file.  An existing file is left
    as the operator made it (a read-only one must stay read-only).
    """
    path = sqlite_path(db)
    if path is None or path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first, the same way
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def size_thread_pool(ledger: Ledger) -> None:
    """As many route threads as pooled connections, less one for each group commit's lane
    (``lanes``) and one for the event loop's SQLite reads (``ReadCache.on_loop``): a request
    waits in one queue (for a thread), never again for a connection while holding one."""
    connections = ledger.pool_capacity()
    if connections is not None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(
            1, connections - lanes.LANES - 1)


def create_app(settings: NodeSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = open_ledger(settings)
        app.state.access = AccessStore(app.state.ledger.engine)
        app.state.read_cache = ReadCache(app.state.ledger)
        app.state.async_reads = (None if app.state.read_cache.on_loop
                                 else AsyncReads(AsyncReader(app.state.ledger.engine)))
        warm_in_background(app.state.ledger)
        app.state.tiles = TileStore(app.state.ledger.engine)
        app.state.receipt_writer = ReceiptWriter(app.state.access,
                                                 app.state.ledger.sign_statement)
        app.state.appender = GroupAppender(app.state.ledger)
        size_thread_pool(app.state.ledger)
        stop_anchoring = start_anchoring(settings, app.state.ledger)
        stop_following = start_following(app.state.ledger, load_or_create_log_key(settings.home))
        try:
            yield
        finally:
            stop_following()
            stop_anchoring()
            if app.state.async_reads is not None:
                await app.state.async_reads.close()
            app.state.ledger.close()

    app = FastAPI(title="Passport node", version="1", lifespan=lifespan,
                  summary="Member-owned passports on a signed, append-only Merkle log.",
                  docs_url="/v1/docs", openapi_url="/v1/openapi.json", redoc_url=None,
                  # POST /v1/reads/ is a 404 problem naming the route, not a bare 307
                  redirect_slashes=False)
    problems.install(app)
    app.state.limiter = Limiter(settings.limits)
    app.add_middleware(BodyGuard)
    # outermost: a flood from one address is turned away before its bodies are even read
    app.add_middleware(RateLimitByAddress, limiter=app.state.limiter)
    if access_log.enabled():  # outermost of all: refused requests are logged too
        access_log.configure()
        app.add_middleware(access_log.AccessLog)
    # The scoped reads' router first: routes are matched in order, and no route of another
    # router matches one of its paths and methods (only 405 partial matches, which routing
    # resolves the same in any order), so a read skips the others' patterns.
    app.include_router(access.router)
    app.include_router(records.router)
    app.include_router(log.router)
    app.include_router(anchors.router)
    app.include_router(desk.router)
    app.include_router(attestations.router)
    app.include_router(consent_feed.router)
    app.include_router(federation.router)
    app.include_router(explorer.router)
    app.include_router(directory.router)
    app.include_router(tiles.router)
    return app


# A young-generation collection every 20,000 net allocations instead of 700.  A read allocates
# thousands of short-lived objects, and a worker keeps tens of thousands of long-lived ones
# (consent views, proof rows); with the default thresholds the cyclic collector took about 6% of
# a worker's CPU under 100 reading clients (perf: gc_collect_main, visit_decref, ...).
GC_THRESHOLDS = (20_000, 10, 10)


def tune_collector() -> None:
    """For a worker process: what its imports made is never collected (``gc.freeze``: the
    collector stops walking it on every full pass), and young collections come less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def app_from_env() -> FastAPI:
    """The factory each uvicorn worker calls: its own process, so the collector is tuned."""
    tune_collector()
    return create_app(NodeSettings.from_env())
