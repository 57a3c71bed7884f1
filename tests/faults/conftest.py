"""Fault tests reuse the real node of the HTTP tests (``passport node serve`` in a process)."""

from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Node, http, node  # noqa: F401  (fixtures, shared by re-export)
from tests.conftest import fresh_db

MISSING_RECORD = "sha256:" + "0" * 64


def load_web3(started: Node) -> None:
    """Make every worker import web3: each request on its own connection (the kernel spreads
    connections over the workers); the record does not exist, the import happens anyway."""
    for _ in range(6 * started.workers):
        r = httpx.get(f"{started.url}/v1/records/{MISSING_RECORD}/evidence", timeout=60)
        assert r.status_code in (404, 422), r.text


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def web3_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Node]:
    """A node of the module's own (PostgreSQL with two workers), after every worker imported
    web3: the order that found issue 17's crash, since py_ecc raises the recursion limit on
    import."""
    tmp = tmp_path_factory.mktemp("web3-node")
    started = Node(tmp / "home", fresh_db(request.param, request, tmp),
                   workers=1 if request.param == "sqlite" else 2)
    try:
        load_web3(started)
        yield started
    finally:
        started.stop()
