"""What talking to a matcher can raise: a refusal is the matcher's RFC 9457 problem, as a
``MatcherRefusedError`` subclass chosen by the problem's stable type (never by its wording); a
matcher that cannot be reached is ``MatcherUnreachableError``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.errors import PassportError


class MatcherError(PassportError):
    """Root of what talking to a matcher can raise (one line a member can read)."""

    code = "matcher-error"


class MatcherUnreachableError(MatcherError):
    code = "matcher-unreachable"


class MatcherRefusedError(MatcherError):
    """The matcher answered with a problem: ``status``, ``problem`` and its stable ``type``."""

    code = "matcher-refused"

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.type = str(problem.get("type", "")).rsplit("/", 1)[-1]
        super().__init__(f"the matcher refused: {problem.get('detail') or status} "
                         f"[{self.type or status}]")


class MatcherUnauthorizedError(MatcherRefusedError):
    """The signature was refused (stale, replayed, or not under a key in force)."""

    code = "matcher-unauthorized"


class MatcherNotFoundError(MatcherRefusedError):
    code = "matcher-not-found"


class MatcherConflictError(MatcherRefusedError):
    """The action does not apply in the item's state (an offer already accepted, ...)."""

    code = "matcher-conflict"


class MatcherForbiddenError(MatcherRefusedError):
    """The item exists, but this caller may not act on it (not routed to you, not yours)."""

    code = "matcher-forbidden"


class MatcherBadRequestError(MatcherRefusedError):
    code = "matcher-bad-request"


_BY_TYPE: dict[str, type[MatcherRefusedError]] = {
    "unauthorized": MatcherUnauthorizedError, "not-found": MatcherNotFoundError,
    "conflict": MatcherConflictError, "forbidden": MatcherForbiddenError,
    "bad-request": MatcherBadRequestError}


def refusal(status: int, problem: Mapping[str, Any]) -> MatcherRefusedError:
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    return _BY_TYPE.get(kind, MatcherRefusedError)(status, problem)
