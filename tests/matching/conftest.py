"""The real node and matcher processes the matcher's end-to-end tests share, one set per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Node
from tests.matching.support import Service


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Service, Service]]:
    tmp = tmp_path_factory.mktemp("match")
    node = Node(tmp / "node", str(tmp / "node.sqlite"))
    matcher = rides = None
    try:
        matcher = Service(tmp / "matcher", node)
        rides = Service(tmp / "rides", node)
        yield node, matcher.wait(), rides.wait()
    finally:
        for s in (matcher, rides):
            if s is not None:
                s.stop()
        node.stop()
