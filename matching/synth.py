"""A synthetic community with a known ground truth, for ``bench/matching_eval.py``.

Members have one or two true expert domains (a few words of each domain in their expertise,
plus generic words everyone uses), needs in other domains, a home space in their city, and a
random subset of fields granted: a field a member did not grant is dropped before the profile
is built (``profile_from_granted``), exactly as the sync does, so ungranted experts are invisible
to the matcher and still count as misses.  Past helpful answers (accepted) follow expertise.
Ride plans and trips are written with the variations people use (case, spaces, date formats,
a space instead of a city), so that normalisation matters.  Pure and seeded.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from ledger.times import format_ts
from matching.index import Community
from matching.model import Profile, Space, profile_from_granted

GENERIC = ("data", "systems", "team", "product", "project", "software", "tools", "work",
           "design", "cloud", "platform", "startup", "business", "web", "apps")
GRANT_P = {"name": 0.95, "expertise": 0.85, "can_help_with": 0.85, "looking_for": 0.85,
           "space": 0.8, "leaving_at": 0.7, "city": 0.8, "plan": 1.0, "trip": 1.0}


@dataclass
class Truth:
    experts: dict[int, set[str]] = field(default_factory=dict)  # domain -> expert dids
    questions: list[tuple[str, str, int]] = field(default_factory=list)  # asker, text, domain
    offers: dict[str, set[int]] = field(default_factory=dict)  # did -> domains offered
    needs: dict[str, set[int]] = field(default_factory=dict)
    ride_pairs: set[tuple[str, str]] = field(default_factory=set)  # (rider, driver)
    riders: list[str] = field(default_factory=list)


def _domains(rng: random.Random, n: int) -> list[list[str]]:
    syll = ["ka", "lo", "mi", "ter", "zon", "bra", "vik", "sel", "dor", "pan", "qui", "rex",
            "tal", "nu", "gor", "fen"]
    words: set[str] = set()
    out = []
    for _ in range(n):
        vocab: list[str] = []
        while len(vocab) < 10:
            w = "".join(rng.choice(syll) for _ in range(3))
            if w not in words:
                words.add(w)
                vocab.append(w)
        out.append(vocab)
    return out


def _vary(rng: random.Random, city: str) -> str:
    return rng.choice([city, city.lower(), city.upper(), f" {city} ", city.replace(" ", "-")])


def generate(  # noqa: PLR0915  # one pass per kind of data, read top to bottom
        *, members: int = 120_000, spaces: int = 200, cities: int = 30, domains: int = 60,
             questions: int = 1000, riders: int = 2000, drivers: int = 4000, now_ms: int = 0,
             seed: int = 7) -> tuple[Community, Truth, dict[str, Profile]]:
    rng = random.Random(seed)  # noqa: S311  # seeded test data, not secrets
    vocab = _domains(rng, domains)
    city_names = [f"City {i:02d}" for i in range(cities)]
    space_list = [Space(f"space-{i:03d}", f"Space {i:03d}", city_names[i % cities],
                        tuple(rng.sample(vocab[i % domains], 2))) for i in range(spaces)]
    community = Community(space_list)
    truth = Truth(experts={d: set() for d in range(domains)})
    profiles: dict[str, Profile] = {}
    dates = [f"2026-12-{d:02d}" for d in range(1, 8)]
    for i in range(members):
        did = f"m{i:06d}"
        home = space_list[rng.randrange(spaces)]
        expert = rng.sample(range(domains), rng.choice((1, 1, 2)))
        need = rng.sample([d for d in range(domains) if d not in expert], 1)
        dabble = rng.randrange(domains)
        for d in expert:
            truth.experts[d].add(did)
        truth.offers[did], truth.needs[did] = set(expert), set(need)
        expertise = " ".join([w for d in expert for w in rng.sample(vocab[d], 3)]
                             + rng.sample(GENERIC, 3))
        helps = " ".join([w for d in expert for w in rng.sample(vocab[d], 2)]
                         + [rng.choice(vocab[dabble])] + rng.sample(GENERIC, 2))
        looking = " ".join(rng.sample(vocab[need[0]], 3) + rng.sample(GENERIC, 2))
        present = rng.random() < 0.3
        values: dict[str, object] = {
            "name": f"Member {i}", "expertise": expertise, "can_help_with": helps,
            "looking_for": looking, "city": home.city}
        if present:
            values["space"] = home.id
            values["leaving_at"] = now_ms + rng.randrange(15, 8 * 60) * 60_000
        granted = {f: v for f, v in values.items() if rng.random() < GRANT_P[f]}
        if "leaving_at" in granted:
            granted["leaving_at"] = format_ts(int(str(granted["leaving_at"])))
        profiles[did] = profile_from_granted(did, granted, {"space": now_ms - 3_600_000})
        for d in expert:  # past helpful answers follow true expertise
            if rng.random() < 0.5 and "expertise" in granted:
                community.endorse("helpful", did, rng.sample(vocab[d], 4))
    dids = list(profiles)
    for _ in range(questions):
        d = rng.randrange(domains)
        text = "who knows " + " ".join(rng.sample(vocab[d], 2)) + " for our " + \
            " ".join(rng.sample(GENERIC, 2)) + "?"
        truth.questions.append((rng.choice(dids), text, d))
    # Rides: riders plan a day in another city; drivers share trips, some matching.
    routes: list[tuple[str, str, str]] = []
    for r in range(riders):
        did = f"rider{r:05d}"
        a, b = rng.sample(city_names, 2)
        date = rng.choice(dates)
        routes.append((a, b, date))
        target_space = rng.choice([s for s in space_list if s.city == b])
        dest = target_space.id if rng.random() < 0.5 else _vary(rng, b)
        day = date if rng.random() < 0.5 else f"{date[8:]}/{date[5:7]}/{date[:4]}"
        profiles[did] = profile_from_granted(did, {"plan": {"space" if dest.startswith("space")
                                                            else "city": dest, "date": day,
                                                            "from": _vary(rng, a)}}, {})
        truth.riders.append(did)
    for t in range(drivers):
        did = f"driver{t:05d}"
        if rng.random() < 0.5:
            a, b, date = rng.choice(routes)
        else:
            a, b = rng.sample(city_names, 2)
            date = rng.choice(dates)
        profiles[did] = profile_from_granted(did, {"trip": {
            "origin": _vary(rng, a), "destination": _vary(rng, b), "seats": rng.randint(1, 4),
            "date": date if rng.random() < 0.7 else f"{date[8:]}.{date[5:7]}.{date[:4]}"}}, {})
    rides_truth = {(a, b, d) for a, b, d in routes}
    del rides_truth
    by_route: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for did, p in profiles.items():
        if p.trip is not None:
            by_route[(p.trip.origin, p.trip.destination, p.trip.date)].append(did)
    for rider, (a, b, date) in zip(truth.riders, routes, strict=True):
        for did in by_route.get((a.lower(), b.lower(), date), ()):
            truth.ride_pairs.add((rider, did))
    for p in profiles.values():
        community.profiles[p.did] = p
        if p.trip is not None:
            community.drivers.add(p.did)
        if p.presence is not None:
            space = community.resolve_space(p.presence.space)
            if space is not None:
                community.at_space[space.id].add(p.did)
    return community, truth, profiles
