"""Errors as RFC 9457 problem details: one stable ``type`` per failure, a detail that names it.

Every ``LedgerError`` subclass has a stable ``code``; the problem type is ``/v1/problems/<code>``
(a URI reference, relative to the node), so clients branch on the type, never on the wording.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError
from passport_api.errors import ApiError

PROBLEM_JSON = "application/problem+json"

# HTTP status per error code; anything unlisted that is a client's fault is 422.
STATUS: dict[str, int] = {
    "not-found": 404,
    "blob-erased": 410,
    "equivocation": 409,
    "out-of-range": 404,
    "store-error": 503,
    "bad-request": 400,
    "not-found-route": 404,
    "method-not-allowed": 405,
}



def problem(code: str, detail: str, status: int, **extra: Any) -> JSONResponse:
    body = {"type": f"/v1/problems/{code}", "title": code.replace("-", " "),
            "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def ledger_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    code = exc.code
    if code == "invalid-blob" and "erased" in str(exc):
        code = "blob-erased"
    return problem(code, str(exc), STATUS.get(code, 422))


async def api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = problem(exc.code, exc.detail, exc.status, **exc.extra)
    if exc.status == 401:
        response.headers["www-authenticate"] = 'Signature realm="passport"'
    return response


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return problem("bad-request", f"{where}: {first.get('msg', 'invalid')}", 400)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found-route", 405: "method-not-allowed"}.get(exc.status_code,
                                                                   "bad-request")
    return problem(code, str(exc.detail), exc.status_code)


def install(app: Any) -> None:
    app.add_exception_handler(LedgerError, ledger_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
