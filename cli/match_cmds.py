"""``passport match ...``: the matcher service, and what members, spaces and companies ask it.

Every command but ``serve`` opens the caller's wallet and signs its request to the matcher with
the wallet's key; grants (to the matcher, to a ride's other party) are made by the wallet, on
the node, before the matcher is told.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from cli.wallet_cmds import AsJson, Home, Node, emit, expiry_ms, opened, out, split_fields, table
from ledger.times import format_ts, now_ms
from wallet.errors import UsageError
from wallet.wallet import Wallet, talking_to

ENV_MATCHER = "PASSPORT_MATCHER"
DEFAULT_MATCHER = "http://127.0.0.1:8500"
JOIN_FIELDS = "name,expertise,can_help_with,looking_for,interests,city,space,leaving_at"

app = typer.Typer(no_args_is_help=True, help="The matcher: people to meet, questions, spaces, "
                  "rides and missions, on the fields you grant it.")
Matcher = Annotated[str | None, typer.Option(
    help=f"matcher URL (default: ${ENV_MATCHER} or {DEFAULT_MATCHER})", show_default=False)]


def matcher_of(url: str | None) -> str:
    return (url or os.environ.get(ENV_MATCHER) or DEFAULT_MATCHER).rstrip("/")


@contextmanager
def calling(home: Home, node: Node, matcher: str | None) -> Iterator[tuple[Wallet, Any]]:
    """The caller's wallet and a signed client for the matcher (errors as one line)."""
    from passport_api.client import NodeClient

    url = matcher_of(matcher)
    with opened(home, node) as w:
        client = NodeClient(url, w.author.signing_key, did=w.did)
        try:
            yield w, client
        finally:
            client.close()


def call(client: Any, url: str, method: str, path: str, **kw: Any) -> Any:
    with talking_to(url):
        return client.call(method, path, **kw).json()


def show(as_json: bool, data: dict[str, Any], title: str) -> None:
    if as_json:
        emit(True, data)
        return
    items = data.get("suggestions", [])
    if not items:
        out.print(data.get("note") or "no suggestions")
        return
    out.print(table(("name", "did", "why"), [[s["name"], s["did"], s["why"]] for s in items],
                    title=title))


def serve(home: Home = None, node: Node = None,
          host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8500,
          poll_ms: Annotated[int, typer.Option(help="re-read members' chains every N ms")] = 250,
          ) -> None:
    """Run the matcher (or ride service) as its own HTTP service, with this wallet's key."""
    from matching.service import serve as run
    from passport_api.client import NodeClient

    with opened(home, node) as w:
        key, did, where = w.author.signing_key, w.did, w.node
    out.print(f"matcher {did} on http://{host}:{port}, reading {where}")
    run(NodeClient(where, key, did=did), where, host, port, poll_ms)


def join(fields: Annotated[str, typer.Option(help="fields the matcher may read")] = JOIN_FIELDS,
         expires: Annotated[str, typer.Option(help="30d, 12h, or an RFC 3339 time")] = "30d",
         home: Home = None, node: Node = None, matcher: Matcher = None,
         as_json: AsJson = False) -> None:
    """Grant the matcher these fields and tell it you joined; it reads nothing else."""
    url = matcher_of(matcher)
    with calling(home, node, matcher) as (w, client):
        did = call(client, url, "GET", "/v1/health", signed=False)["did"]
        gid = w.grant(did, split_fields(fields), "matching", expiry_ms(expires))
        data = call(client, url, "POST", "/v1/members")
    emit(as_json, {**data, "grant": gid}, f"joined {did} (grant {gid}); it uses: "
         f"{', '.join(data['fields_used']) or 'nothing yet'}")


def leave(home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Revoke every live grant to the matcher and leave it."""
    from ledger import consent

    url = matcher_of(matcher)
    with calling(home, node, matcher) as (w, client):
        did = call(client, url, "GET", "/v1/health", signed=False)["did"]
        revoked = [g.grant_id for g in consent.live_grants(w.view(), now_ms(), did)]
        for gid in revoked:
            w.revoke(gid)
        call(client, url, "DELETE", "/v1/members")
    emit(as_json, {"revoked": revoked}, f"left; revoked {', '.join(revoked) or 'no grants'}")


def checkin(token: Annotated[str, typer.Argument(help="the desk's passport-checkin:... token")],
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """Check in at a desk, then set your `space` field (sealed to whom you granted it)."""
    from wallet.checkin import Challenge, check_in

    with calling(home, node, matcher) as (w, client):
        record = check_in(w, token)
        space = Challenge.from_token(token).space
        w.set("space", {"space": space, "checkin": record.id, "at": format_ts(now_ms())})
        with contextlib.suppress(Exception):  # the matcher's poll picks it up anyway
            call(client, matcher_of(matcher), "POST", "/v1/members")
    emit(as_json, {"checkin": record.id, "space": space},
         f"checked in at {space}; your 'space' field says so to whom you granted it")


def people(k: Annotated[int, typer.Option(help="how many")] = 5, home: Home = None,
           node: Node = None, matcher: Matcher = None, as_json: AsJson = False) -> None:
    """People to meet now, at your space or nearby, and why."""
    with calling(home, node, matcher) as (_, client):
        data = call(client, matcher_of(matcher), "GET", "/v1/people", params={"k": k})
    show(as_json, data, "people to meet now")


def ask(question: Annotated[str, typer.Argument(help="your question")],
        home: Home = None, node: Node = None, matcher: Matcher = None,
        as_json: AsJson = False) -> None:
    """Three members likely to answer your question."""
    with calling(home, node, matcher) as (_, client):
        data = call(client, matcher_of(matcher), "POST", "/v1/questions",
                    json_body={"text": question})
    show(as_json, data, f"question {data['question']}")


def helpful(question: Annotated[str, typer.Argument(help="the question id (q-...)")],
            answerer: Annotated[str, typer.Argument(help="the did of who answered")],
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """Mark an answer helpful: an attestation the answerer may accept, told to the matcher."""
    from wallet.attest import attest

    with calling(home, node, matcher) as (w, client):
        rec = attest(w, answerer, {"type": "helpful", "question": question})
        data = call(client, matcher_of(matcher), "POST", f"/v1/questions/{question}/helpful",
                    json_body={"subject": answerer, "attestation": rec.id})
    emit(as_json, data, f"attested {rec.id}; it counts once {answerer} accepts it")


def suggest(k: Annotated[int, typer.Option(help="how many of each")] = 3, home: Home = None,
            node: Node = None, matcher: Matcher = None, as_json: AsJson = False) -> None:
    """Spaces and content to suggest from your interests and the community's check-ins."""
    with calling(home, node, matcher) as (_, client):
        data = call(client, matcher_of(matcher), "GET", "/v1/suggestions", params={"k": k})
    if as_json:
        emit(True, data)
        return
    show(False, data["spaces"], "spaces")
    show(False, data["content"], "content")


def space(name: Annotated[str, typer.Option(help="the space's name")],
          city: Annotated[str, typer.Option(help="its city")],
          tags: Annotated[str, typer.Option(help="comma-separated tags")] = "",
          home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """(space) List this space in the matcher's directory."""
    with calling(home, node, matcher) as (_, client):
        data = call(client, matcher_of(matcher), "POST", "/v1/spaces", json_body={
            "name": name, "city": city, "tags": [t.strip() for t in tags.split(",") if t]})
    emit(as_json, data, f"{name} ({city}) listed as {data['space']}")


def mission(need: Annotated[str, typer.Argument(help="what the company needs")],
            k: Annotated[int, typer.Option(help="how many")] = 5, home: Home = None,
            node: Node = None, matcher: Matcher = None, as_json: AsJson = False) -> None:
    """(company) Freelancers for a mission."""
    with calling(home, node, matcher) as (_, client):
        data = call(client, matcher_of(matcher), "POST", "/v1/missions",
                    json_body={"text": need, "k": k})
    show(as_json, data, f"mission {data['mission']}")


def feedback(mission_id: Annotated[str, typer.Argument(help="the mission id (m-...)")],
             freelancer: Annotated[str, typer.Argument(help="the freelancer's did")],
             rating: Annotated[int, typer.Option(min=1, max=5, help="1 to 5")],
             comment: Annotated[str, typer.Option(help="a few words")] = "",
             home: Home = None, node: Node = None, matcher: Matcher = None,
             as_json: AsJson = False) -> None:
    """(company) Feedback after a mission: an attestation the freelancer may accept."""
    from wallet.attest import attest

    with calling(home, node, matcher) as (w, client):
        rec = attest(w, freelancer, {"type": "mission-feedback", "mission": mission_id,
                                     "rating": rating, "comment": comment})
        data = call(client, matcher_of(matcher), "POST", f"/v1/missions/{mission_id}/feedback",
                    json_body={"subject": freelancer, "attestation": rec.id})
    emit(as_json, data, f"attested {rec.id}; it counts once {freelancer} accepts it")


def rides(home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Your ride offers (as a rider), and, as a driver, accepted rides: for each one not yet
    shared, your wallet grants your `contact` to the rider and tells the service."""
    url = matcher_of(matcher)
    with calling(home, node, matcher) as (w, client):
        offers = call(client, url, "GET", "/v1/rides/offers")["offers"]
        driving = call(client, url, "GET", "/v1/rides/requests")["offers"]
        for o in driving:
            if o["status"] == "accepted":
                gid = w.grant(o["rider"], ["contact"], f"ride {o['offer']}", expiry_ms("14d"))
                o.update(call(client, url, "POST", f"/v1/rides/offers/{o['offer']}/share",
                              json_body={"grant": gid}))
    if as_json:
        emit(True, {"offers": offers, "driving": driving})
        return
    rows = [[o["offer"], "ride with " + o["driver"], f"{o['origin']} → {o['destination']}",
             o["date"], o["status"]] for o in offers]
    rows += [[o["offer"], "driving " + o["rider"], f"{o['origin']} → {o['destination']}",
              o["date"], o["status"]] for o in driving]
    out.print(table(("offer", "who", "route", "date", "status"), rows) if rows else "no rides")


def ride(action: Annotated[str, typer.Argument(help="accept or decline")],
         offer: Annotated[str, typer.Argument(help="the offer id (r-...)")],
         home: Home = None, node: Node = None, matcher: Matcher = None,
         as_json: AsJson = False) -> None:
    """Accept a ride offer (your wallet grants your `contact` to the driver) or decline it."""
    if action not in ("accept", "decline"):
        raise UsageError("say 'accept' or 'decline'")
    url = matcher_of(matcher)
    with calling(home, node, matcher) as (w, client):
        if action == "decline":
            data = call(client, url, "POST", f"/v1/rides/offers/{offer}/decline")
        else:
            mine = {o["offer"]: o for o in call(client, url, "GET", "/v1/rides/offers")["offers"]}
            if offer not in mine or mine[offer]["status"] != "offered":
                raise UsageError(f"no open offer {offer} (see 'passport match rides')")
            gid = w.grant(mine[offer]["driver"], ["contact"], f"ride {offer}", expiry_ms("14d"))
            data = call(client, url, "POST", f"/v1/rides/offers/{offer}/accept",
                        json_body={"grant": gid})
    emit(as_json, data, f"offer {offer}: {data['status']}")


_COMMANDS: list[tuple[Callable[..., None], str]] = [
    (serve, "serve"), (join, "join"), (leave, "leave"), (checkin, "checkin"),
                   (people, "people"), (ask, "ask"), (helpful, "helpful"),
                   (suggest, "suggest"), (space, "space"), (mission, "mission"),
                   (feedback, "feedback"), (rides, "rides"), (ride, "ride")]
for _fn, _name in _COMMANDS:
    app.command(_name)(_fn)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="match")
    import cli.match_eval_cmds  # noqa: F401 (adds 'match eval' to app)
