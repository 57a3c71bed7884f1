"""Hostile input: fuzzing the parsers and the HTTP boundary with hypothesis.

Parsers (no node): every input is answered with a value or a specific ``LedgerError`` /
``ApiError``, never another exception; and what a parser accepts is what it should (a record it
accepts is canonical; a mutated proof, checkpoint or signature never verifies).

HTTP (a real node, SQLite and PostgreSQL): named hostile bodies (oversized, deeply nested,
non-UTF-8, lone surrogates, non-canonical, duplicate keys, huge numbers, too many records) and
generated ones are each answered with a 4xx problem that says why, never a 5xx, and the log's
size does not move.  ``tests/api/test_schemathesis.py`` covers the schema-shaped requests; this
file covers the bytes a schema generator does not produce.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import httpx
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import keys, merkle
from ledger.chain import Author
from ledger.checkpoint import TreeHead, parse_checkpoint, sign_tree_head
from ledger.encoding import b64url_encode, canonical, parse_canonical, parse_checked
from ledger.errors import LedgerError
from ledger.records import parse_record
from passport_api.errors import ApiError
from passport_api.signing import sign_request, verify_request
from tests.api.conftest import Node
from tests.store.support import set_update

EXAMPLES = int(os.environ.get("PASSPORT_FUZZ_EXAMPLES", "100"))
HTTP_EXAMPLES = int(os.environ.get("PASSPORT_FUZZ_HTTP_EXAMPLES", "40"))
SLOW_EXAMPLES = 3000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
TRIED: dict[str, int] = {}  # target → inputs tried, for the figures in docs/security.md


def count(target: str) -> None:
    TRIED[target] = TRIED.get(target, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Any:
    yield
    if TRIED:
        print("\nhostile inputs tried: " + ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
              + f", total {sum(TRIED.values())}")


# --- material: a real record, checkpoint and signed request to mutate -----------------------

AUTHOR = Author(keys.generate())
GOOD_RECORD, _ = set_update(AUTHOR, "today", "a value to mutate")
LOG_KEY = keys.generate()
HEAD = TreeHead(origin="passport.local/log/fuzz", size=7, root=b"\x01" * 32,
                timestamp_ms=1_800_000_000_000)
GOOD_NOTE = sign_tree_head(HEAD, LOG_KEY)
NOW = 1_800_000_000
PATH = "/v1/reads"
BODY = b'{"fields":["today"],"member":"did:key:z6Mk"}'
GOOD_HEADERS = sign_request(LOG_KEY, "POST", PATH, "", BODY, created=NOW)

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> bytes:
    """``good`` with a few byte-level edits: flips, deletions, insertions, truncation."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8)
                               | st.sampled_from([b" ", b"\\u0000", b"\xff", b"\xed\xa0\x80",
                                                  b'"', b"{", b"[", b",", b"1e400"]))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


def hostile_json_bytes() -> st.SearchStrategy[bytes]:
    """JSON text the way an attacker writes it: any spacing, order, escapes and encodings."""
    def dump(value: Any, sort: bool, ascii_: bool, sep: tuple[str, str]) -> bytes:
        try:
            return json.dumps(value, sort_keys=sort, ensure_ascii=ascii_,
                              separators=sep).encode("utf-8", "surrogatepass")
        except (ValueError, TypeError):
            return b"{}"
    return st.builds(dump, st.dictionaries(st.text(max_size=8), json_values, max_size=6),
                     st.booleans(), st.booleans(),
                     st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]))


NESTED = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
          b"[" * 100_000]


# --- the parsers -------------------------------------------------------------------------------


def parse_record_or_refuse(raw: bytes) -> None:
    count("parse_record")
    try:
        record = parse_record(raw)
    except LedgerError:
        return
    assert canonical(parse_checked(raw)) == raw  # only canonical bytes are ever accepted
    assert record.raw == raw


@FUZZ
@given(st.binary(max_size=2048) | mutated(GOOD_RECORD) | hostile_json_bytes()
       | st.sampled_from(NESTED))
def test_parse_record_refuses_with_a_ledger_error(raw: bytes) -> None:
    parse_record_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=2048) | hostile_json_bytes() | mutated(GOOD_RECORD)
       | st.sampled_from(NESTED))
def test_parse_canonical_accepts_only_canonical_bytes(raw: bytes) -> None:
    count("parse_canonical")
    try:
        obj = parse_canonical(raw)
    except LedgerError:
        return
    assert canonical(obj) == raw


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@FUZZ
@given(json_values | st.sampled_from([deep(100_000), "\ud800", {"k": "\udfff"}, 2**64,
                                      float("nan"), {"\ud800": 1}]))
def test_canonical_encodes_or_refuses_with_an_encoding_error(value: Any) -> None:
    count("canonical")
    try:
        out = canonical(value)
    except LedgerError:
        return
    if isinstance(value, dict):  # and reading it back is a value or a refusal, nothing else
        try:
            back = parse_canonical(out, limit=len(out))
        except LedgerError:
            return  # e.g. the float 1e16 is written 10000000000000000, an integer past I-JSON
        assert canonical(back) == out


@FUZZ
@given(size=st.integers(1, 40), data=st.data())
def test_a_mutated_proof_never_verifies(size: int, data: st.DataObject) -> None:
    count("merkle proofs")
    tree = merkle.MemoryTree()
    for i in range(size):
        tree.append(b"leaf %d" % i)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    leaf, root = merkle.leaf_hash(b"leaf %d" % index), tree.root(size)
    inclusion, consistency = tree.inclusion_proof(index, size), tree.consistency_proof(old, size)

    def edit(proof: list[bytes]) -> list[bytes]:
        proof = list(proof)
        how = data.draw(st.sampled_from(["flip", "drop", "add", "swap", "short", "garbage"]))
        if how == "flip" and proof:
            i = data.draw(st.integers(0, len(proof) - 1))
            proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
        elif how == "drop" and proof:
            proof.pop(data.draw(st.integers(0, len(proof) - 1)))
        elif how == "add":
            proof.append(data.draw(st.binary(min_size=32, max_size=32)))
        elif how == "swap" and len(proof) > 1:
            proof[0], proof[-1] = proof[-1], proof[0]
        elif how == "short" and proof:
            proof[0] = proof[0][:31]
        else:
            proof = data.draw(st.lists(st.binary(max_size=40), max_size=8))
        return proof

    bad_inclusion, bad_consistency = edit(inclusion), edit(consistency)
    bad_index = data.draw(st.integers(-3, size + 3))
    if (bad_inclusion, bad_index) != (inclusion, index):
        with pytest.raises(LedgerError):
            merkle.verify_inclusion(leaf, bad_index, size, bad_inclusion, root)
    if bad_consistency != consistency or old == size:
        with pytest.raises(LedgerError):
            merkle.verify_consistency(old, size, bad_consistency, tree.root(old),
                                      root if bad_consistency != consistency else b"\0" * 32)
    with pytest.raises(LedgerError):  # sizes and indexes an attacker picks
        merkle.verify_consistency(data.draw(st.integers(-2**70, 2**70)),
                                  data.draw(st.integers(-2**70, 2**70)),
                                  bad_consistency, b"\0" * 31, root)


@FUZZ
@given(mutated(GOOD_NOTE) | st.binary(max_size=600))
def test_a_mutated_checkpoint_never_verifies(note: bytes) -> None:
    count("parse_checkpoint")
    try:
        head = parse_checkpoint(note, LOG_KEY.verify_key)
    except LedgerError:
        return
    assert head == HEAD  # only edits the format ignores (an extra cosignature) can pass


def mutated_headers() -> st.SearchStrategy[dict[str, str]]:
    names = ["content-digest", "signature-input", "signature"]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, str]:
        headers = dict(GOOD_HEADERS)
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            edited = draw(mutated(headers[name].encode()))
            headers[name] = edited.decode("latin-1")
        if draw(st.booleans()):
            headers.pop(draw(st.sampled_from(names)))
        return headers
    return build()


@FUZZ
@given(mutated_headers(), st.sampled_from([BODY, b"", BODY + b" "]),
       st.sampled_from([PATH, "/v1/reads/", "/v1/READS"]))
def test_a_mutated_signed_request_is_refused_with_an_api_error(
        headers: dict[str, str], body: bytes, path: str) -> None:
    count("verify_request")
    try:
        verified = verify_request("POST", path, "", headers, body, now=NOW, max_skew_s=300)
    except ApiError:
        return
    # Structured fields allow a few equivalent spellings; never other bytes or another target.
    assert body == BODY and path == PATH and verified.did == keys.did_of(LOG_KEY)


def test_the_signed_material_itself_verifies() -> None:
    """The mutations above start from something that passes (else they prove nothing)."""
    parse_record(GOOD_RECORD)
    assert parse_checkpoint(GOOD_NOTE, LOG_KEY.verify_key) == HEAD
    verify_request("POST", PATH, "", GOOD_HEADERS, BODY, now=NOW, max_skew_s=300)


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


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES * 5, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=4096) | mutated(GOOD_RECORD) | hostile_json_bytes())
def test_many_record_inputs(raw: bytes) -> None:
    parse_record_or_refuse(raw)
