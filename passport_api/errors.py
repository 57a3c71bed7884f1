"""Failures of the HTTP layer itself (ledger failures are ``ledger.errors``).

Each class has a stable ``code``: the node answers it as the problem type
``/v1/problems/<code>`` (RFC 9457), so clients branch on the type, never on the wording.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import PassportError


class ApiError(PassportError):
    """Base: a refusal with its problem code, HTTP status and extra problem members."""

    code = "bad-request"
    status = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class UnauthorizedError(ApiError):
    """The request is not signed by anyone the node can name."""

    code = "unauthorized"
    status = 401


class SignatureRequiredError(UnauthorizedError):
    code = "signature-required"


class BadRequestSignatureError(UnauthorizedError):
    """Malformed signature headers, a wrong key, or a signature over other bytes."""

    code = "bad-request-signature"


class StaleRequestError(UnauthorizedError):
    """Signed too long ago, or dated in the future beyond the allowed skew."""

    code = "stale-request"


class ReplayedRequestError(UnauthorizedError):
    code = "replayed-request"


class ForbiddenError(ApiError):
    """Signed by someone who may not do this (not the member, no live grant)."""

    code = "forbidden"
    status = 403


class PayloadTooLargeError(ApiError):
    code = "payload-too-large"
    status = 413


class InvalidGossipError(ApiError):
    """A gossiped tree head that is not a checkpoint signed by the key it names."""

    code = "invalid-gossip"
    status = 422


class PeerUnavailableError(ApiError):
    """A peer node this node must ask (for a consistency proof) did not answer."""

    code = "peer-unavailable"
    status = 503


class NestedTooDeepError(ApiError):
    """A body whose arrays and objects nest deeper than the protocol's limit (128)."""

    code = "nested-too-deep"
    status = 400



class RateLimitedError(ApiError):
    """Too many requests from one address or one key; ``Retry-After`` says when to try again."""

    code = "rate-limited"
    status = 429
