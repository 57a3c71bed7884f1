"""What every ``passport match`` command shares: the matcher option, the signed client, and how
suggestions are printed (always with how to reach the person)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cli.common import Home, Node, emit, opened, out, table
from matching.client import DEFAULT_MATCHER, ENV_MATCHER, MatcherClient, Suggestions
from wallet.names import short_did
from wallet.wallet import Wallet

Matcher = Annotated[str | None, typer.Option(
    help=f"matcher URL (default: ${ENV_MATCHER} or {DEFAULT_MATCHER})", show_default=False)]


def matcher_of(url: str | None) -> str:
    return (url or os.environ.get(ENV_MATCHER) or DEFAULT_MATCHER).rstrip("/")


@contextmanager
def calling(home: Home, node: Node, matcher: str | None) -> Iterator[tuple[Wallet, MatcherClient]]:
    """The caller's wallet and a matcher client signing with the wallet's key in force."""
    with opened(home, node) as w, MatcherClient(matcher_of(matcher), w.author.signing_key,
                                                w.did) as client:
        yield w, client


def who(name: str | None, did: str) -> str:
    """"Ana · z6MkhaXg…2doK"; unknown when the matcher has no name for them (the full did is
    in --json)."""
    return f"{name or 'UNKNOWN'} · {short_did(did)}"


def show(as_json: bool, answer: Suggestions, title: str, *, people: bool = True) -> None:
    if as_json:
        emit(True, answer.json())
        return
    if not answer.suggestions:
        out.print(answer.note or "no suggestions")
        return
    if people:  # a person by the name they granted the matcher, beside a short did
        rows = [[who(s.name, s.did), s.why, s.reach] for s in answer.suggestions]
        out.print(table(("who", "why", "reach"), rows, title=title))
    else:
        rows = [[s.name, s.did, s.why] for s in answer.suggestions]
        out.print(table(("name", "id", "why"), rows, title=title))
