"""The one way to talk to a matcher (or ride service): one method per route, typed results.

``MatcherClient`` (``matcher``) signs every call but ``health`` (RFC 9421, the node's profile:
``passport_api.signing``) with the caller's key in force and their chain's did as ``keyid``.
A refusal is the matcher's RFC 9457 problem, raised as a ``MatcherRefusedError`` subclass chosen
by the problem's stable type (never by its wording); a matcher that cannot be reached is
``MatcherUnreachableError`` (``errors``).  Results are frozen dataclasses (``results``); nothing
outside this package sees the wire format.
"""

from matching.client.errors import (
    MatcherBadRequestError,
    MatcherConflictError,
    MatcherError,
    MatcherForbiddenError,
    MatcherNotFoundError,
    MatcherRefusedError,
    MatcherUnauthorizedError,
    MatcherUnreachableError,
    refusal,
)
from matching.client.matcher import (
    DEFAULT_MATCHER,
    ENV_MATCHER,
    MatcherClient,
)
from matching.client.results import (
    AnswerGiven,
    Answers,
    Consent,
    Endorsed,
    Forgotten,
    Health,
    Inbox,
    Intro,
    Joined,
    Question,
    RideOffer,
    SpaceListed,
    Suggestion,
    Suggestions,
)

__all__ = [
    "DEFAULT_MATCHER",
    "ENV_MATCHER",
    "AnswerGiven",
    "Answers",
    "Consent",
    "Endorsed",
    "Forgotten",
    "Health",
    "Inbox",
    "Intro",
    "Joined",
    "MatcherBadRequestError",
    "MatcherClient",
    "MatcherConflictError",
    "MatcherError",
    "MatcherForbiddenError",
    "MatcherNotFoundError",
    "MatcherRefusedError",
    "MatcherUnauthorizedError",
    "MatcherUnreachableError",
    "Question",
    "RideOffer",
    "SpaceListed",
    "Suggestion",
    "Suggestions",
    "refusal",
]
