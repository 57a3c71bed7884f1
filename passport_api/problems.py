"""Errors as RFC 9457 problem details: one stable ``type`` per failure, a detail that names it.

Every ``LedgerError`` subclass has a stable ``code``; the problem type is ``/v1/problems/<code>``
(a URI reference, relative to the node), so clients branch on the type, never on the wording.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import NotAnchoredError
from ledger import errors as ledger_errors
from ledger.errors import LedgerError
from ledger.store import DatabaseError
from passport_api import errors as api_errors
from passport_api.errors import ApiError
from passport_api.problem_json import (  # noqa: F401  (re-exported: routes use them here)
    PROBLEM_JSON,
    ProblemResponse,
    api_error_response,
    problem,
)
from passport_api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# HTTP status per error code; anything unlisted that is a client's fault is 422.
STATUS: dict[str, int] = {
    "not-found": 404,
    "blob-erased": 410,
    "equivocation": 409,
    "out-of-range": 404,
    "invalid-tile-path": 404,
    "store-error": 503,
    "bad-request": 400,
    "not-found-route": 404,
    "method-not-allowed": 405,
}

# Problems that no error class raises, and classes without a docstring of their own.
MEANING: dict[str, str] = {
    "bad-request": "the request does not match the OpenAPI schema (the detail names the place)",
    "not-found-route": "no such route",
    "method-not-allowed": "the route exists, not with this method",
    "blob-erased": "the blob was erased by its author; the record stays and still verifies",
    "signature-required": "a signed call without the Content-Digest, Signature-Input or "
                          "Signature header",
    "replayed-request": "the same key and nonce were already used",
    "payload-too-large": "the body is over the node's limit (32 MiB)",
    "rate-limited": "too many requests from one address or key, or records from one key "
                    "today; Retry-After says when to try again",
    "record-too-large": "a record's canonical form is over 65,535 bytes",
    "not-found": "no record, blob or tree head by that name",
    "invalid-inclusion-proof": "an inclusion proof that does not prove the leaf",
    "invalid-consistency-proof": "a consistency proof that does not link the two heads",
}
# Raised where proofs are checked (the wallet, the client library), never by the node.
VERIFIER_ONLY = frozenset({"ledger-error", "invalid-proof", "invalid-inclusion-proof",
                           "invalid-consistency-proof", "invalid-tree-head", "seal-error"})


def catalogue() -> dict[str, tuple[int, str]]:
    """Every problem code the node can answer: its HTTP status and what it means."""
    found: dict[str, tuple[int, str]] = {}
    for module, base in ((ledger_errors, LedgerError), (api_errors, ApiError)):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, base) or cls.code in VERIFIER_ONLY:
                continue
            doc = (cls.__doc__ or "").strip().splitlines()
            meaning = MEANING.get(cls.code) or (doc[0].rstrip(".") if doc else cls.code)
            status = cls.status if issubclass(cls, ApiError) else STATUS.get(cls.code, 422)
            found[cls.code] = (status, meaning)
    for code in ("bad-request", "not-found-route", "method-not-allowed", "blob-erased"):
        found[code] = (STATUS[code], MEANING[code])
    # Anchoring's errors are the anchoring client's; of them, the node answers only this one.
    found[NotAnchoredError.code] = (STATUS.get(NotAnchoredError.code, 422),
                                    "no confirmed anchor covers the record yet (evidence)")
    return dict(sorted(found.items()))


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer these problem codes, with an example each."""
    table = catalogue()
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(table[code][0], []).append(code)
    out: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        examples = {code: {"summary": table[code][1], "value": {
            "type": f"/v1/problems/{code}", "title": code.replace("-", " "), "status": status,
            "detail": table[code][1]}} for code in listed}
        out[status] = {"description": "; ".join(f"`{c}`: {table[c][1]}" for c in listed),
                       "content": {PROBLEM_JSON: {"schema": PROBLEM_REF, "examples": examples}}}
    return out



async def ledger_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    code = exc.code
    if code == "invalid-blob" and "erased" in str(exc):
        code = "blob-erased"
    return problem(code, str(exc), STATUS.get(code, 422))


async def api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def database_error(_request: Request, exc: Exception) -> JSONResponse:
    """A database failure outside the append path (nonces, challenges, receipts, erasure):
    full, read-only, gone.  Answered like the append path's ``StoreError``, never as a 500."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    return problem("store-error", f"the database refused the request: {reason}", 503)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return problem("bad-request", f"{where}: {first.get('msg', 'invalid')}", 400)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found-route", 405: "method-not-allowed"}.get(exc.status_code,
                                                                   "bad-request")
    detail = str(exc.detail)
    path = request.url.path
    if exc.status_code == 404 and len(path) > 1 and path.endswith("/"):
        detail = f"no route {path[:200]}: routes have no trailing slash ({path.rstrip('/')[:200]})"
    return problem(code, detail, exc.status_code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, ledger_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(DatabaseError, database_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with the Problem schema the routes' error responses name, and
        without FastAPI's default 422 ``HTTPValidationError``: validation failures are 400
        ``bad-request`` problems here (``validation_error``)."""
        if app.openapi_schema is None:
            spec = generate()
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    default = operation.get("responses", {}).get("422", {})
                    if "HTTPValidationError" in str(default.get("content", {})):
                        del operation["responses"]["422"]
                    if not any(k.startswith("4") for k in operation.get("responses", {})):
                        # A route that names none of its problems still answers them as
                        # problems: say so, rather than leave its 4xx undocumented.
                        operation.setdefault("responses", {})["4XX"] = {
                            "description": "a refusal, as an RFC 9457 problem",
                            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            schemas["Problem"] = Problem.model_json_schema()
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
