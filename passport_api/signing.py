"""Signed requests: HTTP Message Signatures (RFC 9421) with Ed25519 and a did:key ``keyid``.

Every call that is not public carries three headers:

- ``Content-Digest: sha-256=:<base64>:`` (RFC 9530) over the body, even when it is empty;
- ``Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=<unix s>;
  expires=<unix s>;nonce="<random>";keyid="did:key:z6Mk...";alg="ed25519"``;
- ``Signature: sig1=:<base64 Ed25519 signature over the RFC 9421 signature base>:``.

The node requires exactly those four covered components (so a signature binds method, path,
query and body), a ``created`` within ``max_skew_s`` of its clock, an unexpired ``expires``,
and a nonce it has not seen from that key (``passport_api.auth`` keeps the replay guard).
The caller's identity is the ``keyid``, a did:key.  The signature must verify under a key in
force for that identity: the did's own key, or, once a member has rotated keys or added a
device, a key their chain names (the node passes ``keys_of`` to resolve that).
This module is pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import nacl.signing
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item

from ledger import keys
from ledger.errors import KeyFormatError
from passport_api.errors import BadRequestSignatureError, SignatureRequiredError, StaleRequestError

LABEL = "sig1"
ALG = "ed25519"
COVERED = ("@method", "@path", "@query", "content-digest")
DEFAULT_TTL_S = 60
# The clock skew every verifier of signed requests allows (the node and every service).
MAX_SKEW_S = 300
NONCE_BYTES = 18


_UNPRINTABLE = re.compile(r"[^\x20-\x7e\n]")  # the lines are joined with "\n"


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def signature_base(components: Sequence[tuple[str, str]], signature_params: str) -> bytes:
    """RFC 9421 §2.5: one ``"name": value`` line per covered component, then the params."""
    lines = [f'"{name}": {value}' for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    text = "\n".join(lines)
    if _UNPRINTABLE.search(text):  # one C pass (a character loop took a fifth of a check)
        raise BadRequestSignatureError("signature base has a non-printable or non-ASCII character")
    return text.encode("ascii")


def _components(method: str, path: str, query: str, digest: str) -> list[tuple[str, str]]:
    return [("@method", method.upper()), ("@path", path), ("@query", "?" + query),
            ("content-digest", digest)]


def _params(created: int, expires: int, nonce: str, keyid: str) -> InnerList:
    inner = InnerList()
    for name in COVERED:
        inner.append(Item(name))
    inner.params["created"] = created
    inner.params["expires"] = expires
    inner.params["nonce"] = nonce
    inner.params["keyid"] = keyid
    inner.params["alg"] = ALG
    return inner


def sign_request(key: nacl.signing.SigningKey, method: str, path: str, query: str, body: bytes,
                 *, created: int | None = None, ttl_s: int = DEFAULT_TTL_S,
                 nonce: str | None = None, keyid: str | None = None) -> dict[str, str]:
    """The headers that sign a request to ``path?query`` with ``body``.

    ``keyid`` is the signer's identity, by default the did:key of ``key``; a member who has
    rotated keys or signs from a device names their chain's did and signs with the key in force.
    """
    created = int(time.time()) if created is None else created
    digest = content_digest(body)
    params = _params(created, created + ttl_s, nonce or secrets.token_urlsafe(NONCE_BYTES),
                     keyid or keys.did_of(key))
    base = signature_base(_components(method, path, query, digest), str(params))
    sig = Dictionary()
    sig[LABEL] = Item(bytes(key.sign(base).signature))
    inputs = Dictionary()
    inputs[LABEL] = params
    return {"content-digest": digest, "signature-input": str(inputs), "signature": str(sig)}


@dataclass(frozen=True)
class VerifiedRequest:
    did: str
    nonce: str
    created: int
    expires: int
    content_digest: str
    signature_input: str
    signature: str


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise SignatureRequiredError(f"this call needs a signed request: the {name} header is "
                                "missing (see docs/protocol.md, 'Signed requests')")
    return value


def _dictionary(text: str, name: str) -> Dictionary:
    parsed = Dictionary()
    try:
        parsed.parse(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise BadRequestSignatureError(
            f"{name} is not a structured-field dictionary: {e}") from None
    if LABEL not in parsed:
        raise BadRequestSignatureError(f"{name} has no {LABEL!r} member")
    return parsed


def keyid_of(headers: Mapping[str, str]) -> str | None:
    """The keyid a request's Signature-Input names, unchecked (None if it names none): who
    to read keys for before ``verify_request``, which checks everything."""
    text = headers.get("signature-input")
    try:
        inner = _dictionary(text, "Signature-Input")[LABEL] if text else None
    except BadRequestSignatureError:
        return None
    keyid = inner.params.get("keyid") if isinstance(inner, InnerList) else None
    return keyid if isinstance(keyid, str) else None


def _param(params: Mapping[str, object], name: str, kind: type) -> object:
    value = params.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise BadRequestSignatureError(
            f"Signature-Input needs a {kind.__name__} {name!r} parameter")
    return value


def verify_request(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
                   *, now: int, max_skew_s: int,
                   keys_of: Callable[[str], Sequence[bytes]] | None = None) -> VerifiedRequest:
    """Check a signed request; the verified caller, or a specific ``UnauthorizedError``."""
    digest_header = _header(headers, "content-digest")
    input_header = _header(headers, "signature-input")
    sig_header = _header(headers, "signature")
    inner = _dictionary(input_header, "Signature-Input")[LABEL]
    if not isinstance(inner, InnerList) or [i.value for i in inner] != list(COVERED):
        raise BadRequestSignatureError("Signature-Input must cover exactly "
                                  + " ".join(f'"{c}"' for c in COVERED))
    params = inner.params
    if set(params) != {"created", "expires", "nonce", "keyid", "alg"}:
        raise BadRequestSignatureError(
            "Signature-Input parameters must be created, expires, nonce, "
                                  "keyid and alg")
    if params.get("alg") != ALG:
        raise BadRequestSignatureError(f"Signature-Input alg must be {ALG!r}")
    created = int(_param(params, "created", int))  # type: ignore[call-overload]
    expires = int(_param(params, "expires", int))  # type: ignore[call-overload]
    nonce = str(_param(params, "nonce", str))
    keyid = str(_param(params, "keyid", str))
    if not 8 <= len(nonce) <= 128:
        raise BadRequestSignatureError("the nonce must be 8 to 128 characters")
    if created > now + max_skew_s or created < now - max_skew_s:
        raise StaleRequestError(f"the request was signed at {created}, more than {max_skew_s} s "
                           f"from the node's clock ({now})")
    if expires <= now or expires > created + max_skew_s:
        raise StaleRequestError(f"the signature expires at {expires}: it must lie after now and at "
                           f"most {max_skew_s} s after created")
    try:
        candidates = [keys.public_key_from_did(keyid)] if keys_of is None else keys_of(keyid)
    except KeyFormatError as e:
        raise BadRequestSignatureError(f"keyid: {e}") from None
    expected_digest = content_digest(body)
    if not hmac.compare_digest(digest_header.encode(), expected_digest.encode()):
        raise BadRequestSignatureError("Content-Digest does not match the body (sha-256 expected)")
    signature = _dictionary(sig_header, "Signature")[LABEL]
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise BadRequestSignatureError("Signature must be a byte sequence (:base64:)")
    base = signature_base(_components(method, path, query, digest_header), str(inner))
    if not any(keys.verify(k, b"", base, signature.value) for k in candidates):
        raise BadRequestSignatureError("the signature does not verify for this method, path, query "
                                  "and body under the keyid's key")
    return VerifiedRequest(did=keyid, nonce=nonce, created=created, expires=expires,
                           content_digest=digest_header, signature_input=input_header,
                           signature=sig_header)


def replay_key(verified: VerifiedRequest) -> tuple[str, str]:
    return verified.did, verified.nonce


def expires_at(verified: VerifiedRequest, max_skew_s: int) -> float:
    """Until when the node must remember the nonce: past it, the request is stale anyway."""
    return float(min(verified.expires, verified.created + max_skew_s))
