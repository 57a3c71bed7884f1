"""Hostile input at the HTTP boundary (a real node, SQLite and PostgreSQL): named hostile bodies
(oversized, deeply nested, non-UTF-8, lone surrogates, non-canonical, duplicate keys, huge
numbers, too many records) and generated ones are each answered with a 4xx problem that says
why, never a 5xx, and the log's size does not move.  ``tests/api/test_schemathesis.py`` covers
the schema-shaped requests; this file covers the bytes a schema generator does not produce.
The parsers alone are ``test_hostile_parsers.py``.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from passport_api.signing import sign_request
from tests.api.conftest import Node
from tests.faults.hostile import (
    GOOD_RECORD,
    HTTP_EXAMPLES,
    NESTED,
    SLOW_EXAMPLES,
    count,
    hostile_json_bytes,
    mutated,
    report_counts,  # noqa: F401  (autouse: prints the inputs tried)
)
from tests.store.support import set_update

# --- the HTTP boundary ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(web3_node: Node) -> Node:
    """This module's hostile bodies go to a node that imported web3 first (conftest)."""
    return web3_node


def size_of(http: httpx.Client) -> int:
    return int(http.get("/v1/health").json()["size"])


def assert_refused(r: httpx.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert r.headers.get("content-type", "").startswith("application/problem+json"), what
    problem = r.json()
    assert problem["type"].startswith("/v1/problems/") and problem["detail"], what


def good_payload() -> dict[str, Any]:
    author = Author(keys.generate())
    raw, blobs = set_update(author, "today", "hostile")
    return {"record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}}


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def hostile_bodies() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(name, path, body, extra headers) for every kind of hostile body we name."""
    p = good_payload()
    record = json.loads(p["record"])
    jsn = {"content-type": "application/json"}
    spaced = json.dumps(record, separators=(", ", ": "), sort_keys=True)
    unsorted = json.dumps(dict(reversed(list(record.items()))), separators=(",", ":"))
    dup = p["record"][:-1] + ',"v":1}'
    escaped = p["record"].replace('"today"', '"\\u0074oday"', 1)
    big_record = {**record, "body": {**record["body"], "field": "x" * 70_000}}
    return [
        ("oversized body (33 MiB)", "/v1/records", b"{" + b" " * (33 * 1024 * 1024) + b"}", jsn),
        ("deeply nested array", "/v1/records", NESTED[0], jsn),
        ("deeply nested object", "/v1/records", NESTED[1], jsn),
        ("unterminated nesting", "/v1/records/batch", NESTED[2], jsn),
        ("nested record value", "/v1/records",
         json_bytes({"record": "[" * 50_000 + "]" * 50_000}), jsn),
        ("not UTF-8", "/v1/records", b'{"record":"\xff\xfe\xfd"}', jsn),
        ("UTF-16 with BOM", "/v1/records", "\ufeff{}".encode("utf-16"), jsn),
        ("lone surrogate in the record", "/v1/records",
         b'{"record":"{\\"v\\":\\"\\ud800\\"}"}', jsn),
        ("lone surrogate in a blob name", "/v1/records",
         json.dumps({"record": p["record"], "blobs": {"sha256:\ud800": "AA"}}).encode(), jsn),
        ("lone surrogate in a record, escaped", "/v1/records",
         json.dumps({**p, "record": p["record"].replace("today", "\udc00")}).encode(), jsn),
        ("lone surrogate in a batch", "/v1/records/batch",
         b'{"records":["\\udfff"]}', jsn),
        ("not JSON", "/v1/records", b"record=1", jsn),
        ("empty body", "/v1/records", b"", jsn),
        ("text/plain", "/v1/records", json_bytes(p), {"content-type": "text/plain"}),
        ("NaN", "/v1/records", b'{"record":NaN}', jsn),
        ("huge number", "/v1/records", b'{"record":1' + b"0" * 5000 + b"}", jsn),
        ("1e400", "/v1/records", b'{"record":"x","blobs":1e400}', jsn),
        ("record spaced", "/v1/records", json_bytes({**p, "record": spaced}), jsn),
        ("record unsorted", "/v1/records", json_bytes({**p, "record": unsorted}), jsn),
        ("record duplicate key", "/v1/records", json_bytes({**p, "record": dup}), jsn),
        ("record needless escape", "/v1/records", json_bytes({**p, "record": escaped}), jsn),
        ("record over 64 KiB", "/v1/records",
         json_bytes({"record": json.dumps(big_record, separators=(",", ":"), sort_keys=True)}),
         jsn),
        ("record with a huge seq", "/v1/records",
         json_bytes({"record": p["record"].replace('"seq":1', '"seq":' + "9" * 400)}), jsn),
        ("record with a float", "/v1/records",
         json_bytes({"record": p["record"].replace('"seq":1', '"seq":1.0')}), jsn),
        ("record with NUL", "/v1/records",
         json_bytes({**p, "record": p["record"].replace("today", "to\u0000day")}), jsn),
        ("blob over 1 MiB", "/v1/records",
         json_bytes({**p, "blobs": {next(iter(p["blobs"])): "A" * (1_500_000)}}), jsn),
        ("blob not base64url", "/v1/records",
         json_bytes({**p, "blobs": {next(iter(p["blobs"])): "@@@="}}), jsn),
        ("extra member", "/v1/records", json_bytes({**p, "admin": True}), jsn),
        ("10,001 records", "/v1/records/batch",
         json_bytes({"records": ["{}"] * 10_001}), jsn),
        ("records not a list", "/v1/records/batch", json_bytes({"records": {"a": 1}}), jsn),
        ("reads, nested member", "/v1/reads", json_bytes({"member": [[[]]], "fields": []}),
         jsn),
        ("checkin verify, deep", "/v1/checkin/verify", NESTED[1], jsn),
        ("checkin verify, lone surrogate", "/v1/checkin/verify",
         b'{"record_id":"sha256:\\udfff"}', jsn),
        ("gossip, lone surrogate", "/v1/gossip/heads",
         b'{"checkpoint":"\\ud800\\n","log_key":"' + b"ab" * 32 + b'"}', jsn),
        ("gossip, deeply nested", "/v1/gossip/heads", NESTED[1], jsn),
        ("reads, lone surrogates", "/v1/reads",
         b'{"member":"did:key:z6Mk\\ud800","fields":["\\ud800"]}', jsn),
    ]


def test_named_hostile_bodies_are_refused_with_a_reason(node: Node) -> None:
    """Signed by a fresh key, so that signed routes read the body too."""
    signer = keys.generate()
    with httpx.Client(base_url=node.url, timeout=120) as http:
        before = size_of(http)
        for name, path, body, headers in hostile_bodies():
            count("http named")
            signed = sign_request(signer, "POST", path, "", body)
            r = http.post(path, content=body, headers=headers | signed)
            assert_refused(r, name)
            assert http.get("/v1/health").status_code == 200, f"{name}: the node fell over"
        assert size_of(http) == before


def raw_status(node: Node, head: bytes, body: bytes) -> int | None:
    """Send bytes no HTTP client would; the status the node answers, None if it hangs up."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer:
        return None
    return int(answer.split(b" ", 2)[1])


def test_a_declared_length_that_lies_is_refused(node: Node) -> None:
    with httpx.Client(base_url=node.url, timeout=30) as http:
        before = size_of(http)
    for length in (b"-1", b"abc", str(10**30).encode(), b"99999999999", b"5, 7"):
        count("http named")
        status = raw_status(node, b"POST /v1/records HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: " + length,
                            b"{}")
        assert status is None or 400 <= status < 500, (length, status)
    count("http named")
    status = raw_status(node, b"POST /v1/records HTTP/1.1\r\nHost: x\r\n"
                              b"Transfer-Encoding: chunked\r\nContent-Type: application/json",
                        b"ffffffffffffffff\r\n{}\r\n0\r\n\r\n")
    assert status is None or 400 <= status < 500, status
    with httpx.Client(base_url=node.url, timeout=30) as http:
        assert size_of(http) == before


def http_inputs() -> tuple[st.SearchStrategy[tuple[str, bytes]], set[str]]:
    """Generated (path, body) pairs, and the valid records among the material they mutate."""
    good, record = good_payload(), good_payload()
    paths = st.sampled_from(["/v1/records", "/v1/records/batch", "/v1/reads",
                             "/v1/checkin/verify", "/v1/checkin/challenges",
                             "/v1/gossip/heads", "/v1/federation/blobs"])
    bodies = (st.binary(max_size=512) | mutated(json_bytes(good)) | mutated(json_bytes(record))
              | hostile_json_bytes()
              | st.builds(lambda b: json_bytes({"record": b.decode("utf-8", "surrogateescape")}),
                          mutated(GOOD_RECORD))
              | st.builds(lambda b: json_bytes({"records": [b.decode("latin-1")]}),
                          mutated(GOOD_RECORD)))
    return st.tuples(paths, bodies), {good["record"], record["record"]}


def post_hostile(node: Node, generated: tuple[st.SearchStrategy[tuple[str, bytes]], set[str]],
                 examples: int, signer: nacl.signing.SigningKey | None) -> None:
    """A mutation may leave a request valid (a space added outside the record's string): it
    may then store one of the untouched valid records, and nothing else."""
    inputs, valid = generated
    stored: set[str] = set()
    with httpx.Client(base_url=node.url, timeout=60) as http:
        before = size_of(http)

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(inputs)
        def one(case: tuple[str, bytes]) -> None:
            path, body = case
            count("http generated")
            headers = {"content-type": "application/json"}
            if signer is not None:
                headers |= sign_request(signer, "POST", path, "", body)
            r = http.post(path, content=body, headers=headers)
            if r.status_code == 201 and path != "/v1/checkin/challenges":
                sent = json.loads(body)
                records = [sent["record"]] if "record" in sent else sent["records"]
                assert set(records) <= valid, r.text  # only untouched, valid records
                answer = r.json()
                stored.update(answer.get("ids") or [answer["id"]])
            elif r.status_code >= 300:
                assert_refused(r, f"{path} {body[:80]!r}")

        one()
        assert size_of(http) == before + len(stored)


def test_generated_hostile_bodies_unsigned(node: Node) -> None:
    post_hostile(node, http_inputs(), HTTP_EXAMPLES, None)


def test_generated_hostile_bodies_signed(node: Node) -> None:
    post_hostile(node, http_inputs(), HTTP_EXAMPLES, keys.generate())


@pytest.mark.slow
def test_many_generated_hostile_bodies(node: Node) -> None:
    post_hostile(node, http_inputs(), SLOW_EXAMPLES, None)
    post_hostile(node, http_inputs(), SLOW_EXAMPLES // 2, keys.generate())
