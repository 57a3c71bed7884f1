"""The node client: the only code in the project that speaks HTTP to a Passport node.

``NodeClient`` has one method per route; answers are frozen values (``results``), refusals
typed errors under ``NodeError`` (``errors``); one connection pool per process
(``transport``).  It depends on the core (``ledger``) and ``passport_api.signing`` only.
"""

from passport_api.client.errors import (
    BlobErasedError,
    NodeAnswerError,
    NodeBadRequestError,
    NodeError,
    NodeForbiddenError,
    NodeNotFoundError,
    NodeRecordRefusedError,
    NodeUnauthorizedError,
    NodeUnreachableError,
)
from passport_api.client.node import PAGE, NodeClient, verify_receipt
from passport_api.client.results import (
    Appended,
    Attestation,
    BatchAppended,
    Erasure,
    FieldValue,
    Health,
    LogEntry,
    NodeRecord,
    PeerBlobs,
    Proof,
    ReadResult,
    SignedHead,
)

__all__ = [
    "PAGE",
    "Appended",
    "Attestation",
    "BatchAppended",
    "BlobErasedError",
    "Erasure",
    "FieldValue",
    "Health",
    "LogEntry",
    "NodeAnswerError",
    "NodeBadRequestError",
    "NodeClient",
    "NodeError",
    "NodeForbiddenError",
    "NodeNotFoundError",
    "NodeRecord",
    "NodeRecordRefusedError",
    "NodeUnauthorizedError",
    "NodeUnreachableError",
    "PeerBlobs",
    "Proof",
    "ReadResult",
    "SignedHead",
    "verify_receipt",
]
