"""One unauthenticated request never kills the node, whatever another import did first.

Issue 17: once a request made the node import web3 (py_ecc raises the recursion limit to
100,000), a body nested 200,000 deep segfaulted the worker in the stdlib's JSON parser, on every
JSON route, and with ``--workers 2`` on PostgreSQL both workers died.  Here a real node (SQLite,
and PostgreSQL with two workers) first answers evidence requests (the import), then every route
that takes a body gets arrays and objects nested far past the protocol's 128 levels, unsigned
and signed: each is a 4xx problem, and the node stays up and answering.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.encoding import MAX_DEPTH, too_deep
from passport_api.bodyguard import nests_too_deep
from passport_api.signing import sign_request
from tests.api.conftest import Node, free_port
from tests.cli.support import passport, start

DEEP = 200_000
RECORD_ID = "sha256:" + "0" * 64


def deep_array(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def body_routes(node: Node) -> list[tuple[str, str]]:
    """(method, path) of every route that may take a body, path parameters filled in."""
    spec = httpx.get(f"{node.url}/v1/openapi.json", timeout=30).json()
    fill = {"{did}": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "{record_id}": RECORD_ID, "{name}": "sha256:" + "1" * 64,
            "{nonce_hash}": "0" * 64, "{size}": "1"}
    out = []
    for template, operations in spec["paths"].items():
        path = template
        for key, value in fill.items():
            path = path.replace(key, value)
        out.extend((method.upper(), path) for method in operations
                   if method in ("post", "put", "patch", "delete"))
    assert ("POST", "/v1/records") in out and ("POST", "/v1/gossip/heads") in out
    return out


@pytest.fixture(scope="module")
def loaded_node(web3_node: Node) -> Node:
    """The deep bodies go to a node that imported web3 first (conftest)."""
    return web3_node


def assert_refused_and_alive(node: Node, r: httpx.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:200]}"
    assert r.headers["content-type"].startswith("application/problem+json"), what
    assert node.proc.poll() is None, f"{what}: the node exited"
    for _ in range(2 * node.workers):  # every worker still answers
        assert httpx.get(f"{node.url}/v1/health", timeout=30).status_code == 200, what


def test_deep_bodies_on_every_route_are_refused_and_the_node_lives(loaded_node: Node) -> None:
    node = loaded_node
    bodies = {"array": deep_array(DEEP), "object": deep_object(DEEP),
              "unclosed": b"[" * DEEP, "utf-16": deep_array(DEEP).decode().encode("utf-16")}
    for method, path in body_routes(node):
        for kind, body in bodies.items():
            for _ in range(node.workers):  # fresh connections: each worker gets its share
                r = httpx.request(method, node.url + path, content=body, timeout=60,
                                  headers={"content-type": "application/json"})
                assert_refused_and_alive(node, r, f"{method} {path} {kind}")
    r = httpx.post(node.url + "/v1/records", content=deep_array(DEEP), timeout=60,
                   headers={"content-type": "application/json"})
    assert r.json()["type"] == "/v1/problems/nested-too-deep"


def test_a_signed_deep_read_is_refused_and_the_node_lives(loaded_node: Node) -> None:
    node = loaded_node
    key = keys.generate()
    body = b'{"fields":' + deep_array(100_000) + b',"member":"' + keys.did_of(key).encode() + b'"}'
    for _ in range(2 * node.workers):
        headers = sign_request(key, "POST", "/v1/reads", "", body)
        r = httpx.post(node.url + "/v1/reads", content=body, timeout=60,
                       headers={**headers, "content-type": "application/json"})
        assert_refused_and_alive(node, r, "signed /v1/reads")


def test_bodies_at_the_limit_still_reach_the_routes(loaded_node: Node) -> None:
    """The guard refuses depth, not JSON: 128 levels pass it (and the schema refuses them)."""
    body = json.dumps({"record": "x", "blobs": {}, "extra": json.loads(deep_array(MAX_DEPTH - 1))})
    r = httpx.post(loaded_node.url + "/v1/records", content=body, timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["type"] != "/v1/problems/nested-too-deep"


@pytest.mark.parametrize(("raw", "deep"), [
    (deep_array(MAX_DEPTH), False), (deep_array(MAX_DEPTH + 1), True),
    (b'"' + b"[" * 500 + b'"', False),  # brackets inside a string do not nest
    (b'["\\"' + b"[" * 500 + b'"]', False),  # nor after an escaped quote
    (b'["\\\\"' + b"[" * 500, True),  # an escaped backslash closes nothing: these nest
    (b'"' + b'\\"' * 100_000, False),  # an unterminated string runs to the end
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"[" * MAX_DEPTH, False),
])
def test_the_pre_scan_counts_nesting_outside_strings(raw: bytes, deep: bool) -> None:
    assert too_deep(raw) is deep
    assert nests_too_deep(raw.decode("utf-8").encode("utf-16")) is deep


def test_the_matcher_refuses_deep_bodies_and_lives(tmp_path: Path) -> None:
    """The matcher is a FastAPI service of its own: the same guard sits in front of it."""
    node = Node(tmp_path / "node", str(tmp_path / "node.sqlite"))
    matcher = None
    try:
        home = tmp_path / "matcher"
        assert passport("init", "--name", "Matcher", "--role", "service", "--home", str(home),
                        node=node.url).returncode == 0
        port = free_port()
        matcher = start("match", "serve", "--home", str(home), "--port", str(port),
                        node=node.url)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert matcher.poll() is None, "the matcher exited"
                time.sleep(0.1)
        spec = httpx.get(url + "/v1/openapi.json", timeout=30).json()
        routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m in ("post", "put", "patch", "delete") and "{" not in p]
        assert ("POST", "/v1/members") in routes
        for method, path in routes:
            r = httpx.request(method, url + path, content=deep_array(DEEP), timeout=60,
                              headers={"content-type": "application/json"})
            assert r.status_code == 400 and r.json()["type"] == "/v1/problems/nested-too-deep"
            assert matcher.poll() is None and httpx.get(url + "/v1/health").status_code == 200
    finally:
        if matcher is not None:
            matcher.terminate()
            matcher.communicate(timeout=15)
        node.stop()


def nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


TRICKY = st.text(alphabet='ab"\\[]{}', max_size=6)
JSON = st.recursive(st.none() | st.integers() | TRICKY,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TRICKY, inner, max_size=3), max_leaves=30)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON, st.integers(0, 8))
def test_the_pre_scan_is_exact_on_json(value: object, limit: int) -> None:
    """On any JSON text (strings full of quotes, backslashes and brackets) the scan says
    exactly whether the nesting is over the limit."""
    raw = json.dumps(value).encode()
    assert too_deep(raw, limit) is (nesting(value) > limit)
