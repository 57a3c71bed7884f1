"""Signed requests (RFC 9421): the published vector, and every way a request can be refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger import keys
from passport_api.errors import (
    BadRequestSignatureError,
    SignatureRequiredError,
    StaleRequestError,
    UnauthorizedError,
)
from passport_api.problems import catalogue
from passport_api.signing import content_digest, sign_request, signature_base, verify_request

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9421"
NOW = 1_800_000_000
SKEW = 300
KEY = keys.generate()
PATH = "/v1/members/did:key:z6Mk/receipts"


def test_rfc9421_b26_signature_base_and_signature() -> None:
    v = json.loads((VECTORS / "b26.json").read_text())
    key = serialization.load_pem_private_key(v["private_key_pem"].encode(), None)
    assert isinstance(key, Ed25519PrivateKey)
    base = signature_base([tuple(c) for c in v["components"]], v["signature_params"])
    expected = v["signature"].split("=:", 1)[1].rstrip(":")
    assert base64.b64encode(key.sign(base)).decode() == expected


def test_rfc9530_content_digest_of_the_empty_body() -> None:
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def signed(method: str = "GET", path: str = PATH, query: str = "", body: bytes = b"",
           **kw: object) -> dict[str, str]:
    return sign_request(KEY, method, path, query, body, created=NOW, **kw)  # type: ignore[arg-type]


def verify(headers: dict[str, str], method: str = "GET", path: str = PATH, query: str = "",
           body: bytes = b"", now: int = NOW) -> str:
    return verify_request(method, path, query, headers, body, now=now, max_skew_s=SKEW).did


def test_a_good_request_names_its_signer() -> None:
    assert verify(signed("POST", body=b'{"a":1}', query="x=1"), "POST", query="x=1",
                  body=b'{"a":1}') == keys.did_of(KEY)


@pytest.mark.parametrize("change", ["method", "path", "query", "body"])
def test_a_signature_binds_method_path_query_and_body(change: str) -> None:
    headers = signed("POST", query="limit=5", body=b"{}")
    args = {"method": "POST", "path": PATH, "query": "limit=5", "body": b"{}"}
    args[change] = {"method": "PUT", "path": PATH + "x", "query": "limit=6",
                    "body": b"{ }"}[change]
    with pytest.raises(BadRequestSignatureError):
        verify(headers, **args)  # type: ignore[arg-type]


def test_a_digest_rewritten_to_match_a_new_body_breaks_the_signature() -> None:
    headers = signed("POST", body=b"{}")
    headers["content-digest"] = content_digest(b"[]")
    with pytest.raises(BadRequestSignatureError, match="does not verify"):
        verify(headers, "POST", body=b"[]")


@pytest.mark.parametrize("missing", ["content-digest", "signature-input", "signature"])
def test_missing_headers(missing: str) -> None:
    headers = signed()
    del headers[missing]
    with pytest.raises(SignatureRequiredError, match=missing):
        verify(headers)


@pytest.mark.parametrize(("now", "why"), [(NOW + SKEW + 1, "signed at"),
                                           (NOW - SKEW - 1, "signed at"),
                                           (NOW + 61, "expires")])
def test_stale_and_future_requests(now: int, why: str) -> None:
    with pytest.raises(StaleRequestError, match=why):
        verify(signed(), now=now)


def test_a_long_lived_signature_is_refused() -> None:
    with pytest.raises(StaleRequestError):
        verify(signed(ttl_s=SKEW + 1))


def test_another_key_cannot_claim_the_keyid() -> None:
    other = keys.generate()
    headers = sign_request(other, "GET", PATH, "", b"", created=NOW)
    headers["signature-input"] = headers["signature-input"].replace(keys.did_of(other),
                                                                    keys.did_of(KEY))
    with pytest.raises(BadRequestSignatureError, match="does not verify"):
        verify(headers)


@pytest.mark.parametrize("edit", [
    lambda h: h | {"signature-input": h["signature-input"].replace('"@query" ', "")},
    lambda h: h | {"signature-input": h["signature-input"].replace('alg="ed25519"', 'alg="x"')},
    lambda h: h | {"signature-input": h["signature-input"].replace("keyid=\"did:key:",
                                                                   "keyid=\"did:web:")},
    lambda h: h | {"signature-input": "sig1=("},
    lambda h: h | {"signature": "sig1=\"not bytes\""},
    lambda h: h | {"signature": "sig2=:AAAA:"},
])
def test_malformed_signature_headers(edit: object) -> None:
    with pytest.raises(BadRequestSignatureError):
        verify(edit(signed()))  # type: ignore[operator]


@given(st.dictionaries(st.sampled_from(["content-digest", "signature-input", "signature"]),
                       st.text(max_size=80)))
def test_arbitrary_headers_are_refused_cleanly(headers: dict[str, str]) -> None:
    with pytest.raises(UnauthorizedError):
        verify(headers)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_worked_example_in_protocol_md_verifies() -> None:
    text = DOCS.read_text()
    block = text.split("POST /v1/reads HTTP/1.1\n", 1)[1].split("```", 1)[0]
    head, body = block.split("\n\n", 1)
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in head.splitlines())}
    verified = verify_request("POST", "/v1/reads", "", headers, body.rstrip("\n").encode(),
                              now=1795430400, max_skew_s=SKEW)
    assert verified.did == keys.did_of(nacl.signing.SigningKey(bytes(range(32))))
    with pytest.raises(BadRequestSignatureError):
        verify_request("POST", "/v1/reads", "", headers, body.encode() + b" ",
                       now=1795430400, max_skew_s=SKEW)


def test_protocol_md_lists_every_problem_type() -> None:
    section = DOCS.read_text().split("## 17. Problem types", 1)[1]
    for code, (status, _) in catalogue().items():
        assert f"| `{code}` | {status} |" in section, code


@given(st.text(max_size=40))
def test_the_base_refuses_exactly_the_unprintable_and_non_ascii(value: str) -> None:
    """RFC 9421 §2.5: a base is printable ASCII, its lines joined with newlines."""
    components = [("@method", "POST"), ("@path", "/v1/reads"), ("@query", "?" + value)]
    bad = any(not (0x20 <= ord(ch) <= 0x7E) for ch in value.replace("\n", ""))
    if bad:
        with pytest.raises(BadRequestSignatureError, match="non-printable or non-ASCII"):
            signature_base(components, '("@method");created=1')
    else:
        base = signature_base(components, '("@method");created=1')
        assert base.decode("ascii").split("\n")[2] == f'"@query": ?{value}'.split("\n")[0]
