"""Names people recognise, end to end through the real `passport` and a real node: a service
publishes its profile, a member grants to it by name (looking before leaping), reads the
service's name in grants and receipts in a pipe (the full did intact in --json), and revokes by
name; ambiguous and unknown names are refused; mistakes are caught before they are permanent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Node, node  # noqa: F401  (the fixture: a real node per database)
from tests.cli.support import Party, one_error_line
from wallet.names import short_did


def rows(stdout: str) -> list[list[str]]:
    """The one-record-per-line form a pipe gets: a header, then tab-separated cells."""
    lines = stdout.strip().splitlines()
    assert lines[0].count("\t") >= 1, stdout
    return [line.split("\t") for line in lines[1:]]


def test_grant_list_and_revoke_by_name(node: Node, tmp_path: Path) -> None:  # noqa: F811
    rides = Party(tmp_path / "rides", node).init("RideShare", "service")
    alice = Party(tmp_path / "alice", node).init("Alice")
    alice.ok("set", "city", "Utrecht")
    alice.ok("set", "activity", "Designing a ride-sharing service")

    # the directory lists the service by its own signed profile, searched without case
    found = alice.ok("directory", "rideshare")
    assert [(p["did"], p["name"], p["kind"]) for p in found] == [
        (rides.did, "RideShare", "service")]
    assert rides.ok("profile")["name"] == "RideShare"

    # a grant asks first: a script without --yes is refused, nothing is granted
    refused = one_error_line(alice.run("grant", "RideShare", "--fields", "city",
                                       "--purpose", "ride matching"))
    assert "--yes" in refused
    assert alice.ok("grants") == []
    granted = alice.ok("grant", "RideShare", "--fields", "city,activity",
                       "--purpose", "ride matching", "--yes")
    assert granted["grantee"] == rides.did
    assert granted["grantee_party"] == {"did": rides.did, "name": "RideShare",
                                        "kind": "service", "source": "directory"}
    assert rides.ok("read", alice.did, "--fields", "city")["fields"]["city"]["value"] == \
        "Utrecht"

    # in a pipe: one record per line, the name beside the short did, nothing wrapped
    label = f"RideShare · service · {short_did(rides.did)}"
    listed = alice.run("grants")
    assert listed.returncode == 0, listed.stderr
    (grant_row,) = rows(listed.stdout)
    assert grant_row[0] == granted["grant"] and grant_row[1] == label
    assert grant_row[2] == "city, activity" and grant_row[5] == "live"
    assert grant_row[4][-6] in "+-" and grant_row[4][-3] == ":"  # local time with its offset
    read = alice.run("receipts")
    (receipt_row,) = rows(read.stdout)
    assert receipt_row[1] == label and receipt_row[2] == "city"
    # the full did on request, and in --json
    assert rides.did in alice.run("receipts", "--full-dids").stdout
    (receipt,) = alice.ok("receipts")
    assert receipt["service"] == rides.did
    assert receipt["service_party"]["name"] == "RideShare"
    assert receipt["served"].endswith("Z")  # RFC 3339 UTC for programs

    # a second party with the same name: the name is refused, with both candidates
    impostor = Party(tmp_path / "impostor", node).init("Rideshare", "service")
    ambiguous = alice.fails("grant", "RideShare", "--fields", "city", "--purpose", "x",
                            "--yes")
    assert rides.did in ambiguous and impostor.did in ambiguous and "2 parties" in ambiguous
    assert "no one named 'NoSuchService'" in alice.fails(
        "grant", "NoSuchService", "--fields", "city", "--purpose", "x", "--yes")

    # revoke by name: every live grant to that party (the ambiguity resolved by a contact)
    alice.ok("contacts", "add", rides.did, "RideShare (the real one)")
    assert "--yes" in alice.fails("revoke", "RideShare (the real one)")
    revoked = alice.ok("revoke", "RideShare (the real one)", "--yes")
    assert [(r["grant"], r["grantee"]) for r in revoked] == [(granted["grant"], rides.did)]
    assert "revoked" in rides.fails("read", alice.did, "--fields", "city")
    assert rides.ok("contacts", "list") == []  # the member's contacts never left her machine


def test_unknown_parties_are_marked_and_json_errors(node: Node, tmp_path: Path) -> None:  # noqa: F811
    stranger = Party(tmp_path / "stranger", node).init("Someone", "member")
    bob = Party(tmp_path / "bob", node).init("Bob")
    bob.ok("set", "city", "Delft")
    bob.ok("grant", stranger.did, "--fields", "city", "--purpose", "a test", "--yes")
    (row,) = rows(bob.run("grants").stdout)
    assert row[1] == f"UNKNOWN · {short_did(stranger.did)}"
    # a member publishes no profile: members stay private
    assert "members stay private" in bob.fails("profile", "--name", "Bob Inc")
    assert bob.ok("directory", "Someone") == []

    # with --json an error is a JSON problem on stderr, exit 1
    result = bob.run("grant", stranger.did, "--fields", "city", "--purpose", "x",
                     "--expires", "2001-01-01T00:00:00Z", "--yes", "--json")
    assert result.returncode == 1 and result.stdout == ""
    problem = json.loads(result.stderr)
    assert problem["type"] == "/v1/problems/usage-error"
    assert "not in the future" in problem["detail"] and problem["exit_code"] == 1

    # mistakes caught before they are permanent
    assert "more than two years" in bob.fails("grant", stranger.did, "--fields", "city",
                                              "--purpose", "x", "--expires", "900w", "--yes")
    assert "--custom" in bob.fails("set", "actvity", "typo")
    assert bob.ok("set", "pronouns", "they/them", "--custom")["field"] == "pronouns"
    assert "empty" in bob.fails("set", "city", "  ")
    assert "--custom" in bob.fails("grant", stranger.did, "--fields", "citty",
                                   "--purpose", "x", "--yes")

    # roles: a member issues no desk challenge; a desk cannot check in at itself
    assert "only a space's desk" in bob.fails("desk", "challenge")
    desk = Party(tmp_path / "desk", node).init("Desk Central", "space")
    token = desk.ok("desk", "challenge")["challenge"]
    assert "cannot check in at itself" in desk.fails("checkin", token)
    # a member's granted name reaches the desk's own address book, and its table
    bob.ok("grant", "Desk Central", "--fields", "name", "--purpose", "front desk", "--yes")
    bob.ok("checkin", token)
    (seen,) = rows(desk.run("desk", "verify").stdout)
    assert seen[1] == f"Bob · person · {short_did(bob.did)}"
    # a second desk verify shows the same, without reading (and a receipt) again
    receipts = len(bob.ok("receipts"))
    assert receipts == 1
    assert [s["fields"] for s in desk.ok("desk", "verify")] == [{"name": "Bob"}]
    assert len(bob.ok("receipts")) == receipts
    assert [(c["did"], c["name"], c["source"]) for c in desk.ok("contacts", "list")] == [
        (bob.did, "Bob", "check-in")]
    assert bob.ok("contacts", "list") == []


def test_init_with_the_node_down_leaves_no_wallet(tmp_path: Path) -> None:
    down = Node.__new__(Node)
    down.url = "http://127.0.0.1:9"
    home = tmp_path / "carol"
    carol = Party(home, down)
    assert "cannot reach the node" in carol.fails("init", "--name", "Carol")
    assert not home.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing half-made beside it either
