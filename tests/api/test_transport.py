"""The node client's two transports against a real node: the same answers, the same errors.

Plain ``http://`` goes through ``http.client`` (no httpx import), ``https://`` through httpx;
each outcome below is produced by both on the same node and compared.  Kept-alive connections
are reused, and one the node closed while idle is never used for a request.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ledger import keys
from ledger.chain import Author
from passport_api.client import (
    NodeClient,
    NodeError,
    NodeNotFoundError,
    NodeUnreachableError,
    transport,
)
from tests.api.conftest import ROOT, Node, free_port

UVICORN_KEEPALIVE_S = 5.0  # uvicorn's default timeout_keep_alive, which the node keeps


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One SQLite node: the transport does not depend on the node's database."""
    tmp = tmp_path_factory.mktemp("transport")
    started = Node(tmp / "home", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a caller sees: the value, or the error's class, status and problem."""
    try:
        return ("ok", call())
    except NodeError as e:
        return (type(e).__name__, e.status, e.problem, str(e))


@pytest.fixture
def silent() -> Iterator[str]:
    """A URL whose port accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def scenario(node: Node, forged: bytes, closed: str, silent: str) -> list[tuple[Any, ...]]:
    client = NodeClient(node.url, keys.generate())
    checkpoint = client.call("GET", "/checkpoint", signed=False)
    return [
        outcome(client.health),
        outcome(lambda: client.record("sha256:" + "ab" * 32)),  # problem+json 404
        outcome(lambda: client.append(forged)),  # problem+json 422, a typed code
        outcome(lambda: client.blob("sha256:" + "00" * 32)),  # a signed request, refused
        ("checkpoint", checkpoint.status_code, checkpoint.headers["content-type"],
         checkpoint.content, checkpoint.text),
        outcome(lambda: client._get("/checkpoint")),  # 200 but not JSON: NodeAnswerError
        outcome(lambda: NodeClient(closed, timeout=2).health()),  # connection refused
        outcome(lambda: NodeClient(silent, timeout=0.5).health()),  # no answer in time
    ]


def test_plain_http_and_httpx_give_identical_answers_and_errors(
        node: Node, silent: str, monkeypatch: pytest.MonkeyPatch) -> None:
    member = Author(keys.generate())
    forged = Author(keys.generate(), did=member.did).next("passport.clear", {"field": "x"}).raw
    closed = f"http://127.0.0.1:{free_port()}"
    plain = scenario(node, forged, closed, silent)
    monkeypatch.setattr(transport, "_plain_exchange", transport._httpx_exchange)
    through_httpx = scenario(node, forged, closed, silent)
    assert plain == through_httpx
    kinds = [o[0] for o in plain]
    assert kinds == ["ok", "NodeNotFoundError", "NodeRecordRefusedError", "NodeNotFoundError",
                     "checkpoint", "NodeAnswerError", "NodeUnreachableError",
                     "NodeUnreachableError"]
    assert "ConnectError" in plain[6][3] and "ReadTimeout" in plain[7][3]


def test_plain_http_never_imports_httpx_and_https_verifies_tls(node: Node) -> None:
    probe = ("import sys; from passport_api.client import NodeClient; "
             f"NodeClient({node.url!r}).health(); print('httpx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert done.stdout.strip() == "False"
    # https:// goes through httpx and insists on TLS: the plain node cannot pass the handshake.
    with pytest.raises(NodeUnreachableError) as refused:
        NodeClient(node.url.replace("http://", "https://"), timeout=5).health()
    assert "ConnectError" in str(refused.value)


def test_one_kept_alive_connection_is_reused(node: Node) -> None:
    host, port = "127.0.0.1", node.port
    pool = transport._plain_node(host, port)
    NodeClient(node.url).health()
    first = pool._idle[-1][0]
    NodeClient(node.url).log_head()
    assert pool._idle[-1][0] is first and len(pool._idle) == 1
    assert transport._plain_node(host, port) is pool


def test_a_connection_the_node_closed_while_idle_is_not_used(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn closes an idle kept-alive connection after 5 s.  The client checks an idle
    connection before using it; if that check is beaten (the node closes it just then), a GET
    is resent once on a new connection, a POST is not (its first copy may have arrived)."""
    monkeypatch.setattr(transport, "KEEPALIVE_EXPIRY_S", 60.0)  # only the check can save us
    checked, raced_get, raced_post = (transport._PlainNode("127.0.0.1", node.port)
                                      for _ in range(3))
    get = ("GET", "/v1/health", b"", {})
    for pool in (checked, raced_get, raced_post):
        assert pool.request(*get, 5.0).status_code == 200
    idle = [pool._idle[-1][0] for pool in (checked, raced_get, raced_post)]
    time.sleep(UVICORN_KEEPALIVE_S)
    waited_until = time.monotonic() + 20  # a busy node closes them a little late
    while not all(transport._dropped(c) for c in idle) and time.monotonic() < waited_until:
        time.sleep(0.1)
    assert all(transport._dropped(conn) for conn in idle)  # the node closed all three

    assert checked.request(*get, 5.0).status_code == 200
    assert checked._idle[-1][0] is not idle[0]  # a new connection, the dead one dropped

    monkeypatch.setattr(transport, "_dropped", lambda _conn: False)  # the check is beaten
    assert raced_get.request(*get, 5.0).status_code == 200  # resent once
    assert raced_get._idle[-1][0] is not idle[1]

    member = Author(keys.generate())
    record = member.next("passport.clear", {"field": "x"})
    body = json.dumps({"record": record.raw.decode(), "blobs": {}}).encode()
    with pytest.raises(transport._Failure):
        raced_post.request("POST", "/v1/records", body,
                           {"content-type": "application/json"}, 5.0)
    with pytest.raises(NodeNotFoundError):  # not resent: the node never took it
        NodeClient(node.url).record(record.id)

