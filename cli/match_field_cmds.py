"""``passport match plan|trip|stay|rides|ride``: the structured fields rides and presence read,
written as validated JSON values (``matching.fields``), and the rides they lead to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from cli import match_flows as member
from cli.common import AsJson, Home, Node, emit, opened, out, table
from cli.match_common import Matcher, calling
from ledger.times import now_ms
from matching import fields
from matching.client import RideOffer
from wallet.errors import UsageError

When = Annotated[str, typer.Option("--date", help="2026-12-03, 3/12/2026, 3 dec, tomorrow, friday")]


def _set(home: Home, node: Node, name: str, value: Any, as_json: AsJson, text: str) -> None:
    with opened(home, node) as w:
        record = w.set(name, value)
    emit(as_json, {"field": name, "value": value, "record": record.id},
         f"{text}; grant '{name}' to the matcher or ride service for it to count")


def plan(to: Annotated[str, typer.Option("--to", help="the city (or, with --space, the space)")],
         when: When,
         origin: Annotated[str, typer.Option("--from", help="where you leave from")] = "",
         to_space: Annotated[bool, typer.Option("--space", help="--to names a space")] = False,
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Set your `plan`: a day you plan to spend elsewhere (riders meet drivers' trips on it)."""
    value = fields.plan_value(to, when, now_ms(), origin, to_space=to_space)
    _set(home, node, "plan", value, as_json,
         f"plan set: {value.get('city') or value.get('space')} on {value['date']}"
         + (f" from {value['from']}" if "from" in value else ""))


def trip(origin: Annotated[str, typer.Option("--from", help="the city you leave from")],
         destination: Annotated[str, typer.Option("--to", help="the city you drive to")],
         when: When,
         seats: Annotated[int, typer.Option(help="free seats")] = 1,
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Set your `trip`: a drive with free seats (for riders whose plan it fits)."""
    value = fields.trip_value(origin, destination, when, seats, now_ms())
    _set(home, node, "trip", value, as_json,
         f"trip set: {value['origin']} → {value['destination']} on {value['date']}, "
         f"{seats} seat(s)")


def stay(until: Annotated[str, typer.Option(help="when you leave: 17:30 (UTC) or RFC 3339")],
         home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Set `leaving_at`: how long you stay at the space you checked in at."""
    value = fields.leaving_value(until, now_ms())
    _set(home, node, "leaving_at", value, as_json, f"leaving at {value}")


def _ride_json(o: RideOffer) -> dict[str, Any]:
    return dict(o.__dict__)


def rides(home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Your ride offers as a rider, and the rides riders accepted as a driver (listing only)."""
    with calling(home, node, matcher) as (_, client):
        offers, driving = client.ride_offers(), client.ride_requests()
    if as_json:
        emit(True, {"offers": [_ride_json(o) for o in offers],
                    "driving": [_ride_json(o) for o in driving]})
        return

    def next_step(o: RideOffer, rider: bool) -> str:
        if o.status == "offered":
            return f"passport match ride accept {o.offer}" if rider else "waits for the rider"
        if o.status == "accepted":
            return "waits for the driver" if rider else f"passport match ride share {o.offer}"
        if o.status == "shared":
            return f"contacts granted: passport read {o.driver if rider else o.rider} " \
                   "--fields contact"
        return ""
    rows = [[o.offer, "ride with " + o.driver, f"{o.origin} → {o.destination}", o.date,
             o.status, next_step(o, True)] for o in offers]
    rows += [[o.offer, "driving " + o.rider, f"{o.origin} → {o.destination}", o.date, o.status,
              next_step(o, False)] for o in driving]
    out.print(table(("offer", "who", "route", "date", "status", "next"), rows) if rows
              else "no rides (set a plan or a trip: passport match plan / trip)")


def ride(action: Annotated[str, typer.Argument(help="accept, decline (rider) or share (driver)")],
         offer: Annotated[str, typer.Argument(help="the offer id (r-...)")],
         home: Home = None, node: Node = None, matcher: Matcher = None,
         as_json: AsJson = False) -> None:
    """Accept a ride (your `contact` is granted to the driver), decline it, or, as the driver,
    share your `contact` back with a rider who accepted."""
    if action not in ("accept", "decline", "share"):
        raise UsageError("say 'accept', 'decline' or 'share'")
    with calling(home, node, matcher) as (w, client):
        if action == "accept":
            done = member.accept_ride(w, client, offer)
        elif action == "share":
            done = member.share_ride(w, client, offer)
        else:
            done = client.ride_decline(offer)
    emit(as_json, _ride_json(done), f"offer {offer}: {done.status}")


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (plan, "plan"), (trip, "trip"), (stay, "stay"), (rides, "rides"), (ride, "ride")]
    for fn, name in commands:
        app.command(name)(fn)
