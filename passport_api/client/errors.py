"""A node's refusals as a client sees them: one class per kind, all under ``NodeError``.

The node answers every refusal as RFC 9457 problem+json whose ``type`` ends in a stable code;
the client maps the code (else the status) to a class here, so callers branch on the class,
never on the wording.  A node that cannot be reached at all is ``NodeUnreachableError``.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import PassportError


class NodeError(PassportError):
    """The node refused a call; ``problem`` is its RFC 9457 body, ``code`` its stable type."""

    code = "node-error"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("type", "")).rsplit("/", 1)[-1] or type(self).code
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self)


class NodeUnreachableError(NodeError):
    """No answer at all: connection refused, timed out, a broken response."""

    code = "node-unreachable"

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(0, {"type": self.code, "detail": f"cannot reach {url} ({cause})"})
        self.url = url


class NodeBadRequestError(NodeError):
    code = "bad-request"


class NodeUnauthorizedError(NodeError):
    """401: the request is not signed, or not by a key the node accepts (skew, replay, key)."""

    code = "unauthorized"


class NodeForbiddenError(NodeError):
    """403: signed by someone who may not do this (not the member, no live grant)."""

    code = "forbidden"


class NodeNotFoundError(NodeError):
    code = "not-found"


class BlobErasedError(NodeError):
    """The value was crypto-shredded by its author: the record stays, the value is gone."""

    code = "blob-erased"


class NodeRecordRefusedError(NodeError):
    """422 and the like: a record the node refused (bad signature, broken chain, ...)."""

    code = "record-refused"


class NodeAnswerError(NodeError):
    """The node answered 2xx with a body that is not what the route promises."""

    code = "bad-answer"


_BY_CODE: dict[str, type[NodeError]] = {"blob-erased": BlobErasedError}
_BY_STATUS: dict[int, type[NodeError]] = {400: NodeBadRequestError,
                                          401: NodeUnauthorizedError,
                                          403: NodeForbiddenError, 404: NodeNotFoundError,
                                          410: BlobErasedError, 422: NodeRecordRefusedError}


def node_error(status: int, problem: dict[str, Any]) -> NodeError:
    """The typed error for a problem the node answered."""
    code = str(problem.get("type", "")).rsplit("/", 1)[-1]
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or NodeError
    return cls(status, problem)
