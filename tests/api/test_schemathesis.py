"""Schemathesis against a real node over its own /v1/openapi.json: no 5xx, and every answer
(status, content type, body) is one the schema documents.

Signed operations run three ways: unsigned (they must refuse with a documented 401), signed by
a fresh key (generated requests reach the handlers), and signed by a member whose did and blob
fill the path (so the member-only handlers answer 200, 204 and 410 too).  The signatures come
from a ``requests`` auth hook that signs the prepared request, the exact bytes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import nacl.signing
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from passport_api.signing import sign_request
from tests.api.conftest import Node
from wallet.fields import set_field

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
DEFAULT_EXAMPLES = 25
SLOW_EXAMPLES = 400


class SignedAuth(requests.auth.AuthBase):
    """Sign every request as ``key`` (RFC 9421 profile of passport_api.signing)."""

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        path, _, query = (r.path_url or "/").partition("?")
        body = r.body or b""
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        r.headers.update(sign_request(self.key, str(r.method), path, query, raw))
        return r


@dataclass
class Seeded:
    member: Author
    blob: str


@pytest.fixture(scope="module")
def seeded(node: Node) -> Seeded:
    member = Author(keys.generate())
    update = set_field(member, "today", "fuzzed", [])
    r = httpx.post(node.url + "/v1/records", json={
        "record": update.record.raw.decode(),
        "blobs": {k: b64url_encode(v) for k, v in update.blobs.items()}})
    assert r.status_code == 201, r.text
    return Seeded(member, update.sealed.blob_name)


def negatable(definition: dict[str, Any]) -> bool:
    """Has a body, or a parameter whose schema constrains more than "some string"."""
    plain = {"type", "title", "description", "examples"}
    return "requestBody" in definition or any(
        set(p.get("schema", {})) - plain or p.get("schema", {}).get("type") != "string"
        for p in definition.get("parameters", []))


def run(node: Node, seeded: Seeded, *, mode: GenerationMode, auth: str,
        max_examples: int) -> dict[str, int]:
    """Every operation of the node's schema, ``max_examples`` cases each; calls per operation."""
    schema = schemathesis.openapi.from_url(node.url + "/v1/openapi.json")
    session = requests.Session()
    signer = seeded.member.signing_key if auth == "member" else keys.generate()
    if auth != "unsigned":
        session.auth = SignedAuth(signer)
    calls: dict[str, int] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not negatable(operation.definition.raw):
            continue  # nothing in it can be invalid: hypothesis would only spin to say so
        overrides: dict[str, Any] = {}
        if auth == "member":
            names = {p.name for p in operation.path_parameters}
            overrides = {k: v for k, v in (("did", seeded.member.did),
                                           ("name", seeded.blob)) if k in names}
            if not overrides:
                continue  # the stranger's run covers it
        strategy = operation.as_strategy(generation_mode=mode,
                                         path_parameters=overrides or None)
        label = f"{operation.method.upper()} {operation.path}"
        try:
            exercise(strategy, session, max_examples, calls, label)()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, label  # nothing in it can be made invalid
        except (Exception, BaseExceptionGroup) as e:  # a failed check, or no answer
            failures.append(f"{label}: {type(e).__name__}: {e}\n" + "\n".join(
                getattr(e, "__notes__", [])))
    session.close()
    assert not failures, "\n\n".join(failures)
    return calls


def exercise(strategy: Any, session: requests.Session, max_examples: int,
             calls: dict[str, int], label: str) -> Any:
    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def one(case: Any) -> None:
        calls[label] = calls.get(label, 0) + 1
        response = case.call(session=session, timeout=30)
        case.validate_response(response, checks=CHECKS)

    return one


# (generation mode, who signs, examples per operation in the default run)
MODES: list[tuple[GenerationMode, str, int]] = [
    (GenerationMode.POSITIVE, "unsigned", 4),
    (GenerationMode.POSITIVE, "stranger", 10),
    (GenerationMode.NEGATIVE, "stranger", 6),
    (GenerationMode.POSITIVE, "member", 15)]
IDS = [f"{m.value}-{a}" for m, a, _ in MODES]


@pytest.mark.parametrize(("mode", "auth", "examples"), MODES, ids=IDS)
def test_schema_holds_for_generated_requests(node: Node, seeded: Seeded, mode: GenerationMode,
                                             auth: str, examples: int) -> None:
    calls = run(node, seeded, mode=mode, auth=auth, max_examples=examples)
    assert calls, "schemathesis generated no cases"
    if auth != "member":
        assert {"POST /v1/reads", "POST /v1/checkin/verify", "POST /v1/records"} <= set(calls)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "auth", "examples"), [
    *MODES, (GenerationMode.NEGATIVE, "unsigned", 0)], ids=[*IDS, "negative-unsigned"])
def test_schema_holds_for_many_generated_requests(node: Node, seeded: Seeded,
                                                  mode: GenerationMode, auth: str,
                                                  examples: int) -> None:
    assert run(node, seeded, mode=mode, auth=auth, max_examples=SLOW_EXAMPLES)
