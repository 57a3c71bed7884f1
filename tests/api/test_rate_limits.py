"""Limits an operator sets (issue 17): per address, per key, records per key a day.

Real node processes, started with small limits whose buckets barely refill (0.01 a second), so
the tests count requests, never time: a burst is spent, the next request is ``429
rate-limited`` with ``Retry-After``, and another address, key or author is unaffected.  A
stranger who forges records in someone's name spends nothing of their quota.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from passport_api import ratelimit
from passport_api.errors import RateLimitedError
from passport_api.ratelimit import (
    DEFAULT_ADDRESS,
    DEFAULT_KEY,
    DEFAULT_RECORDS_PER_DAY,
    Buckets,
    DailyQuota,
    Rate,
)
from passport_api.signing import sign_request
from tests.api.conftest import Node
from tests.store.support import set_update

SLOW = "0.01/{burst}"  # one token back every 100 s: within a test, only the burst counts


def assert_limited(r: httpx.Response, what: str) -> int:
    assert r.status_code == 429, f"{what}: {r.status_code} {r.text[:200]}"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/v1/problems/rate-limited"
    retry = int(r.headers["retry-after"])
    assert retry >= 1 and r.json()["retry_after"] == retry
    return retry


@pytest.fixture(scope="module")
def address_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("rate-address")
    node = Node(tmp / "home", str(tmp / "node.sqlite"),
                args=("--rate-per-address", SLOW.format(burst=40), "--rate-per-key", "off"))
    yield node
    node.stop()


def test_one_address_is_limited_and_another_is_not(address_node: Node) -> None:
    url = address_node.url
    with httpx.Client(base_url=url, timeout=30) as first:
        statuses = [first.get("/v1/log/head").status_code for _ in range(41)]
        assert statuses[0] == 200 and statuses[-1] == 429  # the start-up polls took a few
        refused = first.get("/v1/log/head")
        assert assert_limited(refused, "127.0.0.1") > 1  # the bucket refills slowly
        # a forwarded-for header does not make another address of it
        posing = first.get("/v1/log/head", headers={"x-forwarded-for": "10.9.8.7"})
        assert_limited(posing, "127.0.0.1 as 10.9.8.7")
    # 127.0.0.2 is loopback too on Linux: another address, with a bucket of its own
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=url, timeout=30, transport=other) as second:
        assert second.get("/v1/log/head").status_code == 200
        assert second.post("/v1/records", content=b"[]").status_code == 400  # served, refused


@pytest.fixture(scope="module")
def key_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("rate-key")
    node = Node(tmp / "home", str(tmp / "node.sqlite"),
                args=("--rate-per-address", "off", "--rate-per-key", SLOW.format(burst=3),
                      "--quota-records-per-day", "2"))
    yield node
    node.stop()


def signed_receipts(node: Node, key: object) -> httpx.Response:
    did = keys.did_of(key)  # type: ignore[arg-type]
    path = f"/v1/members/{did}/receipts"
    headers = sign_request(key, "GET", path, "", b"")  # type: ignore[arg-type]
    return httpx.get(node.url + path, headers=headers, timeout=30)


def test_one_key_is_limited_and_another_is_not(key_node: Node) -> None:
    a, b = keys.generate(), keys.generate()
    for _ in range(3):
        assert signed_receipts(key_node, a).status_code == 200
    assert_limited(signed_receipts(key_node, a), "key a")
    assert signed_receipts(key_node, b).status_code == 200
    # unsigned calls are not a key's: the per-key limit is off for them
    assert httpx.get(key_node.url + "/v1/log/head", timeout=30).status_code == 200


def append(node: Node, raw: bytes, blobs: dict[str, bytes]) -> httpx.Response:
    return httpx.post(node.url + "/v1/records", timeout=30, json={
        "record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})


def test_the_daily_record_quota_counts_only_accepted_records(key_node: Node) -> None:
    alice, bob = Author(keys.generate()), Author(keys.generate())
    # a stranger's records in Alice's name (another key signs): refused, and cost her nothing
    forger = Author(keys.generate(), did=alice.did)
    for _ in range(3):
        raw, blobs = set_update(forger, "today", "forged")
        assert append(key_node, raw, blobs).status_code == 422
    for value in ("one", "two"):
        raw, blobs = set_update(alice, "today", value)
        assert append(key_node, raw, blobs).status_code == 201, value
    raw, blobs = set_update(alice, "today", "three")
    retry = assert_limited(append(key_node, raw, blobs), "alice's third record")
    assert 1 <= retry <= 86_400  # until midnight UTC
    raw, blobs = set_update(bob, "today", "one")
    assert append(key_node, raw, blobs).status_code == 201


def test_limits_are_on_by_default_and_shown(tmp_path: Path) -> None:
    node = Node(tmp_path / "home", str(tmp_path / "node.sqlite"))
    try:
        limits = httpx.get(node.url + "/v1/health", timeout=30).json()["limits"]
    finally:
        node.stop()
    assert limits == {"per_address": DEFAULT_ADDRESS.text(), "per_key": DEFAULT_KEY.text(),
                      "records_per_day": str(DEFAULT_RECORDS_PER_DAY), "scope": "per worker"}
    assert not DEFAULT_ADDRESS.off and not DEFAULT_KEY.off


@pytest.mark.parametrize(("text", "rate"), [
    ("200/2000", Rate(200.0, 2000)), ("5", Rate(5.0, 50)), ("off", Rate(0.0, 0)),
    ("0.5/1", Rate(0.5, 1))])
def test_rates_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text, "x") == rate


@pytest.mark.parametrize("text", ["fast", "-1/5", "5/0", "nan/3", "inf"])
def test_bad_rates_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="x: "):
        Rate.parse(text, "x")


def test_a_bucket_refills_at_its_rate_and_forgets_the_oldest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is passed in: what a bucket allows is counted, never timed."""
    buckets = Buckets(Rate(2.0, 3))
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == pytest.approx(0.5)  # one token comes in 0.5 s
    assert buckets.take("a", now=1.0) == 0.0  # 2 a second: back after a second
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 2)
    buckets.take("b", now=1.0)
    buckets.take("c", now=1.0)  # a third name: the oldest ("a") is forgotten
    assert [buckets.take("a", now=1.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert Buckets(Rate(0.0, 0)).take("x") == 0.0  # off


def test_the_record_quota_starts_again_each_utc_day() -> None:
    quota = DailyQuota(2)
    day = 20_000 * ratelimit.DAY_MS
    quota.charge(["a", "a"], day + 5)
    with pytest.raises(RateLimitedError) as refused:
        quota.check(["b", "a"], day + 1000)
    assert refused.value.extra["retry_after"] == (ratelimit.DAY_MS - 1000) // 1000
    quota.check(["b"], day + 1000)  # another author is not held back
    quota.check(["a"], day + ratelimit.DAY_MS)  # the next day, a fresh quota
