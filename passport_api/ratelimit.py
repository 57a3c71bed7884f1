"""Limits an operator sets: requests per address, signed requests per key, records per key a day.

Each is a token bucket (a sustained rate and a burst) or a daily count, kept in the memory of
each worker process: with ``--workers N`` the node as a whole allows up to N times each figure.
A refusal is ``429 rate-limited`` with ``Retry-After`` (seconds) and a ``retry_after`` member.

What counts as a key is only ever a verified one: the signer of a request whose signature
verified (``passport_api.auth.caller``), or the author of records the node accepted.  A
stranger who claims someone else's key in a header or a forged record spends nothing of theirs.
The address is the TCP peer's (``scope["client"]``); behind a proxy every client shares the
proxy's address, so set the per-address limit there or turn it off here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from passport_api.errors import RateLimitedError
from passport_api.problem_json import api_error_response

ENV_RATE_ADDRESS = "PASSPORT_RATE_PER_ADDRESS"
ENV_RATE_KEY = "PASSPORT_RATE_PER_KEY"
ENV_QUOTA_RECORDS = "PASSPORT_QUOTA_RECORDS_PER_DAY"
DAY_MS = 86_400_000
MAX_TRACKED = 100_000  # addresses or keys remembered per bucket set; the oldest is forgotten


@dataclass(frozen=True)
class Rate:
    """A sustained rate (per second) and a burst; ``per_s == 0`` turns the limit off."""

    per_s: float
    burst: int

    @classmethod
    def parse(cls, text: str, what: str) -> Rate:
        """``"RATE/BURST"`` (e.g. ``"200/2000"``), ``"RATE"`` (burst 10 s of it), or ``"off"``."""
        value = text.strip().lower()
        if value in ("off", "0", ""):
            return cls(0.0, 0)
        try:
            rate_text, _, burst_text = value.partition("/")
            per_s = float(rate_text)
            if not math.isfinite(per_s):
                raise ValueError
            burst = int(burst_text) if burst_text else max(1, math.ceil(per_s * 10))
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not RATE/BURST (e.g. 200/2000) or off"
                             ) from None
        if not (per_s > 0 and burst >= 1):
            raise ValueError(f"{what}: {text!r}: the rate must be positive, the burst at least 1")
        return cls(per_s, burst)

    def text(self) -> str:
        return "off" if self.off else f"{self.per_s:g}/{self.burst}"

    @property
    def off(self) -> bool:
        return self.per_s <= 0


# Defaults: far above what one person or service needs, and above what the test suite and the
# benchmarks send from one address (the soak test paces about 120 requests a second).
DEFAULT_ADDRESS = Rate(1000.0, 10_000)
DEFAULT_KEY = Rate(200.0, 2_000)
DEFAULT_RECORDS_PER_DAY = 1_000_000


@dataclass(frozen=True)
class Limits:
    per_address: Rate = DEFAULT_ADDRESS
    per_key: Rate = DEFAULT_KEY
    records_per_day: int = DEFAULT_RECORDS_PER_DAY  # per author; 0: off

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        quota = env.get(ENV_QUOTA_RECORDS, "").strip().lower()
        return cls(
            per_address=Rate.parse(env[ENV_RATE_ADDRESS], ENV_RATE_ADDRESS)
            if ENV_RATE_ADDRESS in env else DEFAULT_ADDRESS,
            per_key=Rate.parse(env[ENV_RATE_KEY], ENV_RATE_KEY)
            if ENV_RATE_KEY in env else DEFAULT_KEY,
            records_per_day=DEFAULT_RECORDS_PER_DAY if not quota
            else 0 if quota == "off" else max(int(quota), 0))

    def to_env(self) -> dict[str, str]:
        return {ENV_RATE_ADDRESS: self.per_address.text(), ENV_RATE_KEY: self.per_key.text(),
                ENV_QUOTA_RECORDS: str(self.records_per_day)}

    def public(self) -> dict[str, str]:
        """As ``/v1/health`` shows them, so clients can pace themselves."""
        return {"per_address": self.per_address.text(), "per_key": self.per_key.text(),
                "records_per_day": str(self.records_per_day or "off"), "scope": "per worker"}


class Buckets:
    """One token bucket per name (address or key), in memory, thread-safe."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str, now: float | None = None) -> float:
        """Spend one token: 0.0 if there was one, else the seconds until there is."""
        if self.rate.off:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._state.pop(name, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + (now - then) * self.rate.per_s)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate.per_s
            self._state[name] = (tokens, now)
            if len(self._state) > MAX_TRACKED:
                self._state.popitem(last=False)
        return wait


class DailyQuota:
    """Records appended per author per UTC day."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._day = -1
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def _today(self, now_ms: int) -> None:
        day = now_ms // DAY_MS
        if day != self._day:
            self._day, self._used = day, {}

    def check(self, authors: list[str], now_ms: int) -> None:
        """Refuse before appending if any author has used up today's quota."""
        if self.limit <= 0:
            return
        with self._lock:
            self._today(now_ms)
            full = sorted(a for a in set(authors) if self._used.get(a, 0) >= self.limit)
        if full:
            retry = math.ceil((DAY_MS - now_ms % DAY_MS) / 1000)
            raise RateLimitedError(f"{full[0]} appended its {self.limit} records for today (UTC); "
                              "the quota resets at midnight UTC", retry_after=retry)

    def charge(self, authors: list[str], now_ms: int) -> None:
        """Count records the node accepted (never a refused or forged one)."""
        if self.limit <= 0:
            return
        with self._lock:
            self._today(now_ms)
            for author in authors:
                self._used[author] = self._used.get(author, 0) + 1
            if len(self._used) > MAX_TRACKED:
                self._used.pop(next(iter(self._used)))


class Limiter:
    """The node's limits, shared by its routes (``app.state.limiter``)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.addresses = Buckets(limits.per_address)
        self.keys = Buckets(limits.per_key)
        self.records = DailyQuota(limits.records_per_day)

    def key(self, did: str) -> None:
        """A verified signer's request: refused with 429 over the per-key rate."""
        wait = self.keys.take(did)
        if wait > 0:
            raise RateLimitedError(f"too many signed requests from {did}: the limit is "
                              f"{self.limits.per_key.text()} (per second/burst)",
                              retry_after=math.ceil(wait))


class RateLimitByAddress:
    """ASGI middleware: each TCP peer address gets ``per_address`` requests per second."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.limiter.addresses.take(address)
        if wait > 0:
            refused = RateLimitedError(f"too many requests from {address}: the limit is "
                                  f"{self.limiter.limits.per_address.text()} (per second/burst)",
                                  retry_after=math.ceil(wait))
            await api_error_response(refused)(scope, receive, send)
            return
        await self.app(scope, receive, send)
