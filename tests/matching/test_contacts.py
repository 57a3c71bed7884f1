"""The wallet's contact policy against a real node (SQLite and PostgreSQL): a contact is granted
only when there is one, for 14 days, once per person; it is read only through that grant."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import consent
from ledger.times import now_ms
from tests.api.conftest import Node, node  # noqa: F401  # the real node, both databases
from tests.matching.support import wallet
from wallet.contacts import CONTACT_DAYS, DAY_MS, contact_of, grant_contact, grant_once
from wallet.errors import UsageError


def test_contact_is_granted_once_for_14_days_and_read_only_through_the_grant(
        node: Node, tmp_path: Path) -> None:  # noqa: F811
    ann = wallet(tmp_path / "ann", node, name="Ann")
    bob = wallet(tmp_path / "bob", node, name="Bob")
    length = len(ann.chain)
    with pytest.raises(UsageError, match="set how people can reach you"):
        grant_contact(ann, bob.did, "introduction")
    with pytest.raises(UsageError):
        grant_contact(ann, "did:key:not-a-key", "introduction")
    ann.sync()
    assert len(ann.chain) == length  # refused before anything was written

    ann.set("contact", "ann@example.org")
    assert contact_of(bob, ann.did) is None  # nothing granted to bob yet
    before = now_ms()
    gid = grant_contact(ann, bob.did, "introduction")
    grant = ann.view().grants[gid]
    assert grant.fields == ("contact",) and grant.grantee == bob.did
    assert before + CONTACT_DAYS * DAY_MS <= grant.expires_ms <= now_ms() + CONTACT_DAYS * DAY_MS
    length = len(ann.chain)
    assert grant_contact(ann, bob.did, "ride r-1") == gid  # reused, not duplicated
    ann.sync()
    assert len(ann.chain) == length
    bob.sync()
    assert contact_of(bob, ann.did) == "ann@example.org"

    # A live grant that already covers the fields is reused; a wider request writes a new one.
    wide, new = grant_once(ann, bob.did, ["contact", "name"], "matching", now_ms() + DAY_MS)
    assert new and wide != gid
    again, new = grant_once(ann, bob.did, ["name"], "matching", now_ms() + DAY_MS)
    assert (again, new) == (wide, False)
    ann.revoke(wide)
    ann.revoke(gid)
    live = consent.live_grants(ann.view(), now_ms(), bob.did)
    assert live == []
    bob.sync()
    assert contact_of(bob, ann.did) is None  # revoked: unreadable again
