"""Fetching a record's anchoring evidence from a node (checking it is ``contracts.evidence``)."""

from __future__ import annotations

from typing import Any

from contracts.errors import ChainUnavailableError, NotAnchoredError
from ledger.errors import NotFoundError
from passport_api.client import NodeClient, NodeError, NodeNotFoundError, NodeUnreachableError


def evidence_for(node_url: str, record_id: str) -> dict[str, Any]:
    """The evidence for ``record_id`` as the node at ``node_url`` serves it (not yet verified)."""
    try:
        return NodeClient(node_url).evidence(record_id)
    except NodeUnreachableError as e:
        raise ChainUnavailableError(f"cannot reach the node at {node_url}: {e.detail}") from e
    except NodeNotFoundError as e:
        raise NotFoundError(e.detail) from None
    except NodeError as e:
        raise NotAnchoredError(f"the node refused the evidence ({e.status}): {e.detail}"
                               ) from None
