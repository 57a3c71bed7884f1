"""The reference a scoped read is measured against: the minimal signed FastAPI route.

``python -m bench.reference_node --port P --workers N [--mode sync|async]`` serves
``POST /v1/reads`` with the node's uvicorn options (``passport node serve``: same host, worker
count, log level, no access log, no proxy headers), the same body model (``ReadRequest``) and
one Ed25519 request check (``passport_api.signing.verify_request`` against the caller's did
key), and no database: no consent, no proofs, no receipt, no replay guard.  Whatever the node
does beyond this is the cost of a read.  ``sync`` checks the signature in the route thread
pool, like the node's ``caller`` dependency; ``async`` checks it on the event loop.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from ledger import keys
from passport_api.schemas_access import ReadRequest
from passport_api.signing import verify_request

ENV_MODE = "PASSPORT_REFERENCE_MODE"
MAX_SKEW_S = 300


def _keys_of(did: str) -> list[bytes]:
    return [keys.public_key_from_did(did)]


def _check(request: Request, body: bytes) -> str:
    path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
    return verify_request(request.method, path, query, request.headers, body,
                          now=int(time.time()), max_skew_s=MAX_SKEW_S, keys_of=_keys_of).did


async def _signer_in_pool(request: Request) -> str:
    return await run_in_threadpool(_check, request, await request.body())


async def _signer_on_loop(request: Request) -> str:
    return _check(request, await request.body())


def app() -> FastAPI:
    mode = os.environ.get(ENV_MODE, "sync")
    api = FastAPI(title="reference: a minimal signed route")
    if mode == "async":
        @api.post("/v1/reads")
        async def read_async(body: ReadRequest,
                             who: Annotated[str, Depends(_signer_on_loop)]) -> dict[str, Any]:
            return {"member": body.member, "service": who, "fields": body.fields}
    else:
        @api.post("/v1/reads")
        def read_sync(body: ReadRequest,
                      who: Annotated[str, Depends(_signer_in_pool)]) -> dict[str, Any]:
            return {"member": body.member, "service": who, "fields": body.fields}
    return api


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.reference_node")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--mode", choices=("sync", "async"), default="sync")
    args = p.parse_args(argv)
    os.environ[ENV_MODE] = args.mode
    # the options of `passport node serve` (cli/node_cmds.py)
    uvicorn.run("bench.reference_node:app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False,
                proxy_headers=False)


if __name__ == "__main__":
    main()
