"""One HTTP connection pool per process, and problem+json turned into typed errors.

Creating an ``httpx.Client`` that verifies TLS loads the CA bundle (tens of milliseconds), so a
plain-``http://`` URL gets a pool that loads none, and every client of the process shares the
pool of its scheme.  A forked child builds its own (sockets must not cross processes).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx

from passport_api.client.errors import NodeAnswerError, NodeUnreachableError, node_error

DEFAULT_TIMEOUT_S = 30.0
# Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes them from the
# other side, so a request never goes out on a connection the node is closing.
KEEPALIVE_EXPIRY_S = 2.0

_lock = threading.Lock()
_pools: dict[tuple[int, bool], httpx.Client] = {}


def shared_http(url: str) -> httpx.Client:
    """The process's pool for ``url``'s scheme (TLS verified for https, no bundle for http)."""
    tls = url.startswith("https://")
    key = (os.getpid(), tls)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = httpx.Client(
                timeout=DEFAULT_TIMEOUT_S,
                transport=httpx.HTTPTransport(verify=tls, retries=1, limits=httpx.Limits(
                    keepalive_expiry=KEEPALIVE_EXPIRY_S)))
            _pools[key] = pool
        return pool


def send(url: str, method: str, path_and_query: str, *, content: bytes = b"",
         headers: dict[str, str] | None = None, timeout: float | None = None) -> httpx.Response:
    """One request; a refusal raises its typed ``NodeError``, no answer ``NodeUnreachableError``."""
    pool = shared_http(url)
    try:
        response = pool.request(method, url.rstrip("/") + path_and_query, content=content,
                                headers=headers,
                                timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)
    except httpx.TransportError as e:
        raise NodeUnreachableError(url, type(e).__name__) from None
    if response.status_code >= 400:
        raise node_error(response.status_code, _problem(response))
    return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"detail": response.text[:200]}


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or ``NodeError`` if the node sent something else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise NodeAnswerError(response.status_code, {"type": "bad-answer", "detail":
                                               "the node's answer is not a JSON object"})
    return body
