"""Builders for store tests: members writing realistic records."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from ledger import keys
from ledger.chain import Author
from wallet.fields import set_field


def member() -> Author:
    return Author(keys.generate())


def set_update(author: Author, field: str = "today",
               value: object = "writing tests") -> tuple[bytes, dict[str, bytes]]:
    update = set_field(author, field, value, [])
    return update.record.raw, update.blobs


def members_batch(n: int, per_member: int = 1) -> tuple[list[bytes], dict[str, bytes]]:
    """``n`` members each writing ``per_member`` sealed fields, interleaved."""
    authors = [member() for _ in range(n)]
    raws: list[bytes] = []
    blobs: dict[str, bytes] = {}
    for round_ in range(per_member):
        for author in authors:
            raw, b = set_update(author, "today", f"round {round_}")
            raws.append(raw)
            blobs.update(b)
    return raws, blobs


@contextmanager
def sql_seen(engine: sa.Engine, keep: Callable[[str], bool]) -> Iterator[list[str]]:
    """The statements sent through SQLAlchemy on ``engine`` while the block runs, those that
    ``keep`` picks (the hot path's driver-cursor statements are not among them)."""
    seen: list[str] = []

    def note(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if keep(statement):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


T = TypeVar("T")


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: a test run in a process where another test's
    library left an event loop running in the main thread (Playwright's sync API does)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
