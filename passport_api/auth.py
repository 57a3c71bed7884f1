"""Who is calling: a signed request (passport_api.signing) checked once, never replayed.

Reads of blobs, receipts, challenges and scoped reads depend on ``caller``; appends do not,
because every record carries its author's own signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ledger.store.access import AccessStore
from ledger.store.ledger import Ledger
from passport_api.errors import ForbiddenError, ReplayedRequestError
from passport_api.ratelimit import Limiter
from passport_api.signing import MAX_SKEW_S, expires_at, replay_key, verify_request


@dataclass(frozen=True)
class Caller:
    did: str
    proof: dict[str, str]  # what the caller signed: kept in receipts as non-repudiation
    replay: tuple[str, str, int]  # (keyid, nonce, remembered until ms): the replay guard's key

    def must_be(self, did: str, what: str) -> None:
        if self.did != did:
            raise ForbiddenError(f"only {did} may {what}; this request is signed by {self.did}")


async def caller(request: Request) -> Caller:
    """The verified signer of this request; its nonce is spent here, once and for all."""
    who = await unspent_caller(request)
    access: AccessStore = request.app.state.access
    keyid, nonce, expires_ms = who.replay
    first = await run_in_threadpool(access.first_use, keyid, nonce, expires_ms,
                                    time.time_ns() // 1_000_000)
    if not first:
        raise ReplayedRequestError("this signed request was already used (same key and nonce)")
    return who


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers, as received: checked later, in a worker thread."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    now: int  # seconds, when it arrived


async def signed_request(request: Request) -> SignedRequest:
    body = await request.body()
    # The raw target as sent: the signature covers those bytes, not a decoded form of them.
    path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
    return SignedRequest(request.method, path, query, request.headers, body, int(time.time()))


def check_signed(signed: SignedRequest, keys_of: Callable[[str], Sequence[bytes]],
                 limiter: Limiter) -> Caller:
    """The verified signer, its nonce NOT spent; blocking (``keys_of`` reads the database).
    The per-key rate applies to a verified signer only: nobody spends another's requests."""
    verified = verify_request(signed.method, signed.path, signed.query, signed.headers,
                              signed.body, now=signed.now, max_skew_s=MAX_SKEW_S,
                              keys_of=keys_of)
    limiter.key(verified.did)  # thread-safe: the buckets are behind a lock
    keyid, nonce = replay_key(verified)
    return Caller(verified.did, {
        "method": signed.method, "path": signed.path, "query": signed.query,
        "content-digest": verified.content_digest,
        "signature-input": verified.signature_input, "signature": verified.signature},
        (keyid, nonce, int(expires_at(verified, MAX_SKEW_S) * 1000)))


async def unspent_caller(request: Request) -> Caller:
    """The verified signer, its nonce NOT yet spent: for a route that spends it in its own
    write, before it serves."""
    ledger: Ledger = request.app.state.ledger
    return await run_in_threadpool(check_signed, await signed_request(request),
                                   ledger.keys_in_force, request.app.state.limiter)
