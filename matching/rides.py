"""Ride offers as a small state machine the ride service holds (pure; no I/O, no clock).

A rider's granted ``plan`` meets a driver's granted ``trip`` (``rank.ride_matches``): the
service shows the rider an offer.  The rider accepts (having granted ``contact`` to the driver)
or declines.  The driver, seeing the accepted offer, grants ``contact`` back: ``shared``.  Only
then does each hold a grant to read the other's contact on the node; the service never reads
or relays a contact itself.  An offer still ``offered`` disappears when the match no longer
holds (a plan or trip changed or was revoked); an accepted one stays, it is an agreement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Literal

from matching.index import Community
from matching.rank import ride_matches

Status = Literal["offered", "accepted", "declined", "shared"]


class RideError(Exception):
    """A rider or driver acted on an offer that is not theirs, or not in that state."""


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    rider: str
    driver: str
    origin: str
    destination: str
    date: str
    status: Status = "offered"
    rider_grant: str | None = None  # the rider's grant of `contact` to the driver
    driver_grant: str | None = None  # the driver's grant of `contact` to the rider

    def json(self) -> dict[str, object]:
        return {"offer": self.id, "rider": self.rider, "driver": self.driver,
                "origin": self.origin, "destination": self.destination, "date": self.date,
                "status": self.status, "rider_grant": self.rider_grant,
                "driver_grant": self.driver_grant}


def offer_id(rider: str, driver: str, date: str) -> str:
    return "r-" + hashlib.sha256(f"{rider}|{driver}|{date}".encode()).hexdigest()[:16]


class RideBook:
    def __init__(self) -> None:
        self.offers: dict[str, Offer] = {}

    def taken(self, driver: str, date: str) -> int:
        return sum(1 for o in self.offers.values() if o.driver == driver and o.date == date
                   and o.status in ("accepted", "shared"))

    def for_rider(self, c: Community, rider: str) -> list[Offer]:
        """The rider's offers now: current matches with a free seat, and past agreements."""
        live: set[str] = set()
        for driver, trip in ride_matches(c, rider):
            oid = offer_id(rider, driver.did, trip.date)
            if oid not in self.offers and self.taken(driver.did, trip.date) >= trip.seats:
                continue
            live.add(oid)
            self.offers.setdefault(oid, Offer(oid, rider, driver.did, trip.origin,
                                              trip.destination, trip.date))
        for oid, offer in list(self.offers.items()):
            if offer.rider == rider and offer.status == "offered" and oid not in live:
                del self.offers[oid]
        return [o for o in self.offers.values() if o.rider == rider]

    def prune(self, c: Community, did: str) -> list[str]:
        """Drop the open offers of ``did`` (as rider or driver) that the rider's plan and the
        driver's trip, as granted now, no longer support; their ids.  The same rule as
        ``for_rider``, applied when a profile changes, not only when the rider looks."""
        mine = [o for o in self.offers.values()
                if o.status == "offered" and did in (o.rider, o.driver)]
        if not mine:
            return []
        dropped = []
        for o in mine:
            if not any(d.did == o.driver and t.date == o.date
                       for d, t in ride_matches(c, o.rider)):
                del self.offers[o.id]
                dropped.append(o.id)
        return dropped

    def for_driver(self, driver: str) -> list[Offer]:
        return [o for o in self.offers.values() if o.driver == driver
                and o.status in ("accepted", "shared")]

    def _own(self, oid: str, who: str, role: Literal["rider", "driver"]) -> Offer:
        offer = self.offers.get(oid)
        if offer is None or getattr(offer, role) != who:
            raise RideError(f"no offer {oid} for this {role}")
        return offer

    def accept(self, oid: str, rider: str, grant: str) -> Offer:
        offer = self._own(oid, rider, "rider")
        if offer.status != "offered":
            raise RideError(f"offer {oid} is {offer.status}, not open")
        self.offers[oid] = replace(offer, status="accepted", rider_grant=grant)
        return self.offers[oid]

    def decline(self, oid: str, rider: str) -> Offer:
        offer = self._own(oid, rider, "rider")
        if offer.status != "offered":
            raise RideError(f"offer {oid} is {offer.status}, not open")
        self.offers[oid] = replace(offer, status="declined")
        return self.offers[oid]

    def share(self, oid: str, driver: str, grant: str) -> Offer:
        offer = self._own(oid, driver, "driver")
        if offer.status != "accepted":
            raise RideError(f"offer {oid} is {offer.status}: the rider has not accepted it")
        self.offers[oid] = replace(offer, status="shared", driver_grant=grant)
        return self.offers[oid]
