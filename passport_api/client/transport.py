"""One set of keep-alive connections per process, and problem+json turned into typed errors.

A plain ``http://`` node (the CLI's usual case: a local or LAN node) is spoken to with the
standard library's ``http.client``: importing httpx and building its transport costs a CLI
command about 80 ms, more than the rest of its work.  ``https://`` keeps httpx, which verifies
TLS.  Both paths give the caller the same frozen ``Answer`` and the same errors: a refusal its
typed ``NodeError``, no answer ``NodeUnreachableError`` named the way httpx names the failure.
A forked child builds its own connections (sockets must not cross processes).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from passport_api.client.errors import NodeAnswerError, NodeUnreachableError, node_error

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT_S = 30.0
# Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes them from the
# other side, so a request never goes out on a connection the node is closing.
KEEPALIVE_EXPIRY_S = 2.0
MAX_IDLE = 20  # idle connections kept per node (httpx's default pool keeps as many)
# Methods RFC 9110 calls idempotent: resent once if a kept-alive connection turns out dead
# before any answer came.  POSTs are never resent: a signed one would be refused as a replay
# if the first copy did arrive, and a resent append would come back as a duplicate.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Answer:
    """A node's answer as the client reads it, whichever transport carried it."""

    status_code: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text, in the charset the answer names (UTF-8 if none), never raising."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


class _Failure(Exception):
    """A request that got no answer, with the name httpx gives that failure."""

    def __init__(self, cause: str, *, resend: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.resend = resend  # a kept-alive connection died before any answer came


class _PlainNode:
    """Keep-alive ``http.client`` connections to one ``host:port``, safe across threads."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()

    def request(self, method: str, target: str, body: bytes, headers: dict[str, str],
                timeout: float) -> Answer:
        try:
            return self._once(method, target, body, headers, timeout)
        except _Failure as e:
            if not (e.resend and method in IDEMPOTENT):
                raise
        return self._once(method, target, body, headers, timeout)

    def _once(self, method: str, target: str, body: bytes, headers: dict[str, str],
              timeout: float) -> Answer:
        conn, reused = self._take(timeout)
        phase = "Write"
        try:
            conn.request(method, target, body=body or None, headers=headers)
            phase = "Read"
            response = conn.getresponse()
            phase = "Body"
            content = response.read()
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            conn.close()
            raise _Failure(_cause(phase, e), resend=reused and phase != "Body") from None
        answer = Answer(response.status, _lower(response.getheaders()), content)
        if response.will_close:
            conn.close()
        else:
            self._give(conn)
        return answer

    def _take(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """An idle live connection, or a new one (connecting is retried once, as httpx does)."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < KEEPALIVE_EXPIRY_S and not _dropped(conn):
                    assert conn.sock is not None  # _dropped() said it is open
                    conn.sock.settimeout(timeout)
                    return conn, True
                conn.close()
        for attempt in (1, 2):
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                if attempt == 2:
                    raise _Failure(_cause("Connect", e)) from None
            else:
                return conn, False
        raise AssertionError("unreachable")  # pragma: no cover

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the node (readable means EOF or stray bytes)."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def _cause(phase: str, e: BaseException) -> str:
    """httpx's name for the failure, so both transports report it in the same words."""
    if isinstance(e, http.client.RemoteDisconnected) or (
            isinstance(e, http.client.HTTPException) and not isinstance(e, OSError)):
        return "RemoteProtocolError"
    stage = "Read" if phase == "Body" else phase
    return f"{stage}Timeout" if isinstance(e, TimeoutError) else f"{stage}Error"


def _lower(pairs: list[tuple[str, str]]) -> Mapping[str, str]:
    """Headers by lower-case name, repeated ones joined with commas (read-only)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return MappingProxyType(out)


_lock = threading.Lock()
_plain: dict[tuple[int, str, int], _PlainNode] = {}
_tls: dict[int, httpx.Client] = {}


def _plain_node(host: str, port: int) -> _PlainNode:
    key = (os.getpid(), host, port)
    with _lock:
        node = _plain.get(key)
        if node is None:
            node = _plain[key] = _PlainNode(host, port)
        return node


def shared_https() -> httpx.Client:
    """The process's httpx pool for ``https://`` nodes (TLS verified); httpx loads only here."""
    import httpx  # noqa: PLC0415 (a plain-http process never pays for importing it)

    key = os.getpid()
    with _lock:
        pool = _tls.get(key)
        if pool is None:
            pool = _tls[key] = httpx.Client(
                timeout=DEFAULT_TIMEOUT_S,
                transport=httpx.HTTPTransport(verify=True, retries=1, limits=httpx.Limits(
                    keepalive_expiry=KEEPALIVE_EXPIRY_S)))
        return pool


def _httpx_exchange(url: str, method: str, path_and_query: str, *, content: bytes,
                    headers: dict[str, str], timeout: float) -> Answer:
    """One exchange through httpx (``https://`` nodes)."""
    import httpx  # noqa: PLC0415 (see shared_https)

    try:
        r = shared_https().request(method, url.rstrip("/") + path_and_query, content=content,
                                   headers=headers, timeout=timeout)
    except httpx.TransportError as e:
        raise NodeUnreachableError(url, type(e).__name__) from None
    return Answer(r.status_code, _lower(list(r.headers.items())), r.content)


def _plain_exchange(url: str, method: str, path_and_query: str, *, content: bytes,
                    headers: dict[str, str], timeout: float) -> Answer:
    """One exchange through ``http.client`` (``http://`` nodes)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise NodeUnreachableError(url, "UnsupportedProtocol")
    try:
        port = parts.port or 80
    except ValueError:
        raise NodeUnreachableError(url, "InvalidURL") from None
    sent = {"accept": "*/*", "user-agent": "passport-client", **headers}
    try:
        return _plain_node(parts.hostname, port).request(
            method, parts.path.rstrip("/") + path_and_query, content, sent, timeout)
    except _Failure as e:
        raise NodeUnreachableError(url, e.cause) from None


def send(url: str, method: str, path_and_query: str, *, content: bytes = b"",
         headers: dict[str, str] | None = None, timeout: float | None = None) -> Answer:
    """One request; a refusal raises its typed ``NodeError``, no answer ``NodeUnreachableError``."""
    exchange = _httpx_exchange if url.startswith("https://") else _plain_exchange
    answer = exchange(url, method, path_and_query, content=content, headers=dict(headers or {}),
                      timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)
    if answer.status_code >= 400:
        raise node_error(answer.status_code, _problem(answer))
    return answer


def _problem(answer: Answer) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"detail": answer.text[:200]}


def json_of(answer: Answer) -> dict[str, Any]:
    """The answer's JSON object, or ``NodeError`` if the node sent something else."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise NodeAnswerError(answer.status_code, {"type": "bad-answer", "detail":
                                                   "the node's answer is not a JSON object"})
    return body
