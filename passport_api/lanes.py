"""Group commits on a thread of their own, outside the route thread pool's queue.

A group commit (the read receipts' ``ReceiptWriter``, the single appends' ``GroupAppender``)
holds every read or append of its group until it is durable.  Run like a route's work, it
first waited for one of the route threads, behind every request queued for one: under 100
reading clients on PostgreSQL each group waited about 45 ms for a thread and then ran for
about 55 ms, so commits came every 100 ms and that cycle, not the CPU, bounded the reads
(docs/benchmarks.md, issue 18).  Each committer runs one group at a time, so a lane of one
thread each; ``app.size_thread_pool`` keeps a pooled connection for each lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
LANES = 2  # the receipt writer's and the group appender's


class CommitLane:
    """One thread at a time, of its own: ``await lane.run(fn, *args)``."""

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
