"""An RFC 9457 problem response, with nothing else imported: the body guard and the rate limits
answer with it, and the matcher (which must not import the store) uses the body guard."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from passport_api.errors import ApiError

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    """A problem that always renders: details echo what the caller sent, and a lone surrogate
    (a JSON ``"\\ud800"`` escape) cannot be UTF-8 encoded; it is written as ``?`` (was a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8", "replace")


def problem(code: str, detail: str, status: int, **extra: Any) -> JSONResponse:
    body = {"type": f"/v1/problems/{code}", "title": code.replace("-", " "),
            "status": status, "detail": detail, **extra}
    return ProblemResponse(body, status_code=status, media_type=PROBLEM_JSON)


def api_error_response(exc: ApiError) -> JSONResponse:
    """An ``ApiError`` as its problem, with the headers its status calls for."""
    response = problem(exc.code, exc.detail, exc.status, **exc.extra)
    if exc.status == 401:
        response.headers["www-authenticate"] = 'Signature realm="passport"'
    if exc.status == 429 and "retry_after" in exc.extra:
        response.headers["retry-after"] = str(exc.extra["retry_after"])
    return response
