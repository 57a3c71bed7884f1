"""Group commit of single appends, per worker.

Every ``POST /v1/records`` that arrives while a transaction is committing waits for the next
one, which appends all of them as one batch: one write lock, one fsync, one signed tree head
for the group.  Each request is answered only after the commit that holds its record, with
that head (it includes the record).  A group is all-or-nothing in the store, so if it is
refused, its records are appended again one by one: each request gets exactly the answer (or
the refusal) it would have had alone, and a bad record never fails another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.errors import PassportError
from ledger.records import record_id
from ledger.store.ledger import Ledger, SignedTreeHead
from passport_api.lanes import CommitLane

MAX_GROUP = 500  # records per transaction at most


@dataclass(frozen=True)
class Appended:
    index: int
    id: str
    duplicate: bool
    tree_head: SignedTreeHead


@dataclass(frozen=True)
class _Pending:
    raw: bytes
    blobs: Mapping[str, bytes]


_Outcome = Appended | BaseException


def append_group(ledger: Ledger, group: list[_Pending]) -> list[_Outcome]:
    """Append ``group`` as one batch if it is accepted whole, else each record alone."""
    if len(group) > 1:
        blobs: dict[str, bytes] = {}
        for p in group:
            blobs.update(p.blobs)
        try:
            result = ledger.append_batch([p.raw for p in group], blobs)
        except PassportError:
            pass  # some record is refused (or raced): find which, one by one
        else:
            new = len(group) - result.duplicates
            start = result.tree_head.head.size - new
            seen: set[int] = set()
            out: list[_Outcome] = []
            for p, index in zip(group, result.indexes, strict=True):
                out.append(Appended(index, record_id(p.raw), index < start or index in seen,
                                    result.tree_head))
                seen.add(index)
            return out
    outcomes: list[_Outcome] = []
    for p in group:
        try:
            one = ledger.append(p.raw, p.blobs)
        except Exception as e:  # this request's own refusal (or failure), raised to it alone
            outcomes.append(e)
        else:
            outcomes.append(Appended(one.indexes[0], one.ids[0], one.duplicates == 1,
                                     one.tree_head))
    return outcomes


class GroupAppender:
    def __init__(self, ledger: Ledger, max_group: int = MAX_GROUP) -> None:
        self._ledger = ledger
        self._max = max_group
        self._queue: list[tuple[_Pending, asyncio.Future[Appended]]] = []
        self._task: asyncio.Task[None] | None = None
        self._lane = CommitLane()

    async def append(self, raw: bytes, blobs: Mapping[str, bytes]) -> Appended:
        """The record's place in the log, once committed; its refusal raised otherwise."""
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append((_Pending(raw, blobs), future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:self._max], self._queue[self._max:]
            try:
                outcomes = await self._lane.run(append_group, self._ledger,
                                                [p for p, _ in group])
            except Exception as e:  # the fallback itself failed: every request hears it
                outcomes = [e] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
