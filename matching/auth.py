"""Who is calling the matcher: a signed request checked by the node's own verifier.

Every route but ``/v1/health`` needs a request signed by the member (RFC 9421), checked with
``passport_api.signing.verify_request``, the node's skew window (``MAX_SKEW_S``) and the node's
key-in-force rule (``ChainState.keys_at``) applied to the caller's chain on the node: held by
``matching.sync``, and pulled again once when a signature fails under the held keys (a rotation,
a new device).  A nonce is spent once.  Refusals are RFC 9457 problems.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ledger.errors import KeyFormatError, PassportError
from matching.service import Matcher
from passport_api.errors import ApiError, BadRequestSignatureError, ReplayedRequestError
from passport_api.signing import MAX_SKEW_S, VerifiedRequest, verify_request

PROBLEM_JSON = "application/problem+json"


class ProblemError(PassportError):
    """A refusal the routes raise; answered as ``application/problem+json``."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail


def problem_response(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": f"/v1/problems/{kind}", "title": kind.replace("-", " "),
                         "status": status, "detail": detail}, status_code=status,
                        media_type=PROBLEM_JSON)


LOOP_STATUS = {"not-found": 404, "forbidden": 403, "conflict": 409, "bad-request": 400}


def _verify(matcher: Matcher, request: Request, body: bytes) -> VerifiedRequest:
    path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
    headers = {k.lower(): v for k, v in request.headers.items()}
    asked: list[str] = []

    def verify(fresh: bool) -> VerifiedRequest:
        def keys_of(did: str) -> list[bytes]:
            asked.append(did)
            return matcher.keys_in_force(did, fresh=fresh)
        return verify_request(request.method, path, query, headers, body, now=int(time.time()),
                              max_skew_s=MAX_SKEW_S, keys_of=keys_of)
    try:
        return verify(False)
    except BadRequestSignatureError:
        if not asked:
            raise
        return verify(True)  # the keys held may predate a rotation or a new device


async def caller(request: Request) -> str:
    """The did of a member's signed request; its nonce is spent here, once."""
    matcher: Matcher = request.app.state.matcher
    seen: dict[tuple[str, str], float] = request.app.state.nonces
    body = await request.body()
    try:
        verified = await run_in_threadpool(_verify, matcher, request, body)
    except ApiError as e:
        raise ProblemError(401, "unauthorized", f"signed request refused: {e}") from None
    except KeyFormatError as e:
        raise ProblemError(401, "unauthorized", f"signed request refused: keyid: {e}") from None
    now = time.time()
    with request.app.state.nonce_lock:
        for key in [k for k, until in seen.items() if until < now]:
            del seen[key]
        if (verified.did, verified.nonce) in seen:
            raise ProblemError(401, "unauthorized", str(ReplayedRequestError(
                "this signed request was already used (same key and nonce)")))
        seen[(verified.did, verified.nonce)] = now + 2 * MAX_SKEW_S
    return verified.did
