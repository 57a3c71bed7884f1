"""Fault tests reuse the real node of the HTTP tests (``passport node serve`` in a process)."""

from tests.api.conftest import http, node  # noqa: F401  (fixtures, shared by re-export)
