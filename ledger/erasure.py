"""Erasure orders, checked offline: a member's signed ``DELETE /v1/blobs/<name>`` request.

The order is the RFC 9421 signed request the member's wallet sent (docs/protocol.md §8a, §16):
its method, path and query, the Content-Digest of its (empty) body, the Signature-Input and
the Signature.  Its signature covers those, not the host, so the same order is valid evidence
at any node.  This is the core's check (the audit runs it; so do the node, a follower and an
import): the signature base is rebuilt as ``passport_api.signing`` builds it, for exactly the
components that module requires, and verified at the order's own ``created`` time under any
key the author's chain held.  Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item

from ledger import keys

ORDER_KEYS = ("method", "path", "query", "content-digest", "signature-input", "signature")
COVERED = ("@method", "@path", "@query", "content-digest")  # as passport_api.signing requires
LABEL = "sig1"
MAX_ORDER_BYTES = 4096
MAX_LIFETIME_S = 300  # a signed request may be valid this long after it was made
EMPTY_DIGEST = "sha-256=:" + base64.b64encode(hashlib.sha256(b"").digest()).decode() + ":"


def check(order: bytes, name: str, author: str, author_keys: Sequence[bytes]) -> str | None:
    """None if ``order`` is ``author``'s signed order to erase blob ``name``, else why not."""
    if len(order) > MAX_ORDER_BYTES:
        return "the order is too large"
    try:
        parts: Any = json.loads(order)
    except ValueError:
        return "the order is not JSON"
    if not isinstance(parts, dict) or set(parts) != set(ORDER_KEYS) or not all(
            isinstance(v, str) for v in parts.values()):
        return f"the order must have exactly the string members {', '.join(ORDER_KEYS)}"
    if parts["method"] != "DELETE" or unquote(parts["path"]) != f"/v1/blobs/{name}":
        return f"the order is a {parts['method']} of {parts['path']!r}, not an erasure of {name}"
    if parts["content-digest"] != EMPTY_DIGEST:
        return "the order's body is not empty"
    inputs, sigs = _dictionary(parts["signature-input"]), _dictionary(parts["signature"])
    inner = None if inputs is None else inputs.get(LABEL)
    sig = None if sigs is None else sigs.get(LABEL)
    if not isinstance(inner, InnerList) or [i.value for i in inner] != list(COVERED):
        return "the order's Signature-Input does not cover " + " ".join(COVERED)
    if not isinstance(sig, Item) or not isinstance(sig.value, bytes):
        return "the order's Signature is not a byte sequence"
    created, expires = inner.params.get("created"), inner.params.get("expires")
    if not (isinstance(created, int) and isinstance(expires, int)
            and created < expires <= created + MAX_LIFETIME_S):
        return "the order's created and expires times are not a signed request's"
    if inner.params.get("keyid") != author:
        return f"the order is signed for {inner.params.get('keyid')!r}, not the value's author"
    lines = [f'"@method": {parts["method"]}', f'"@path": {parts["path"]}',
             f'"@query": ?{parts["query"]}', f'"content-digest": {parts["content-digest"]}',
             f'"@signature-params": {inner}']
    text = "\n".join(lines)
    if not text.isascii():
        return "the order's signed text is not ASCII"
    if not any(keys.verify(k, b"", text.encode("ascii"), sig.value) for k in author_keys):
        return "the order's signature does not verify under a key of the author's chain"
    return None


def _dictionary(text: str) -> Dictionary | None:
    parsed = Dictionary()
    try:
        parsed.parse(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return parsed
