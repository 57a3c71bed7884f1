"""A synthetic community with a known ground truth, for ``bench/matching_eval.py`` and tests.

The truth is who is *really* expert in what (a domain), who needs what, who is a freelancer in
which domain, which content is about which domain, and which trips fit which plans.  What the
matcher sees is text written about that truth the way people write it, with the difficulties
real profiles have, none of them chosen to suit one ranker:

* **Overlapping vocabularies.**  The 60 domains come in 12 families of 5 (think "web", "data",
  "law"); each family has 6 words all its domains use, each domain 8 words of its own.  A
  question's family words match four other domains' experts just as well, and two of a
  domain's own words also belong to a domain of another family (a word with two meanings).
* **Synonyms and paraphrases.**  Every domain word has a synonym; experts write one or the
  other (30% the synonym), questions use the synonym half of the time, in one of several
  phrasings, with filler words and sometimes a word of an unrelated domain.
* **Noise.**  Everyone uses generic words ("data", "team", "cloud"); ``can_help_with`` holds a
  word of a domain the member only dabbles in; ``interests`` are partly random.
* **Partial grants.**  Members grant everything usual (60%), about half of the fields (25%) or
  only their name and presence (15%); a field not granted is dropped before the profile is built
  (``profile_from_granted``, exactly as the sync does), so an expert who did not grant
  ``expertise`` is invisible to every ranker and still counts as a miss.
* **Popularity** (``popularity``, off by default): with an exponent s > 0, members' main
  domain is drawn with Zipf weights 1/rank^s, so a few domains have many experts and many
  have few.
* **Rides** are written with the variations people use (case, spacing, hyphens, date formats, a
  space instead of a city).

Generation is vectorised with numpy (choices for all members at once) and assembles each
member's strings once: 120,000 members take a few seconds.  Pure and seeded.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ledger.times import format_ts
from matching.index import Community, Content
from matching.model import Profile, Space, profile_from_granted

GENERIC = ("data", "systems", "team", "product", "project", "software", "tools", "work",
           "design", "cloud", "platform", "startup", "business", "web", "apps")
FILLER = ("tips", "advice", "stuck", "urgent", "question", "quick", "problem", "ideas",
          "experience", "pointers")
TEMPLATES = ("who knows {a} {b}?", "any tips on {a} and {b} for our {g}?",
             "I'm stuck with {a}, {b} in the {g} {f}", "need advice: {a} {b}",
             "looking for someone experienced in {b} ({a}) for a {g}",
             "{f}: how do we handle {a} {b}?")
FAMILIES, PER_FAMILY, FAMILY_WORDS, OWN_WORDS, SHARED_WORDS = 12, 5, 6, 8, 2
SYNONYM_P_PROFILE, SYNONYM_P_QUESTION = 0.3, 0.5
GRANT_STYLES = (  # (share of members, probability of each field being granted)
    (0.60, {"name": 0.95, "expertise": 0.9, "can_help_with": 0.9, "looking_for": 0.9,
            "interests": 0.8, "space": 0.85, "leaving_at": 0.7, "city": 0.8, "freelance": 0.9}),
    (0.25, {"name": 0.8, "expertise": 0.5, "can_help_with": 0.5, "looking_for": 0.5,
            "interests": 0.5, "space": 0.5, "leaving_at": 0.4, "city": 0.5, "freelance": 0.5}),
    (0.15, {"name": 0.9, "space": 0.9, "leaving_at": 0.3}),
)
SYLLABLES = ("ka", "lo", "mi", "ter", "zon", "bra", "vik", "sel", "dor", "pan", "qui", "rex",
             "tal", "nu", "gor", "fen", "ash", "bel", "cor", "dun")


@dataclass
class Truth:
    experts: dict[int, set[str]] = field(default_factory=dict)  # domain -> expert dids
    questions: list[tuple[str, str, int]] = field(default_factory=list)  # asker, text, domain
    missions: list[tuple[str, str, int]] = field(default_factory=list)  # company, text, domain
    freelancers: dict[int, set[str]] = field(default_factory=dict)  # domain -> freelancer dids
    offers: dict[str, set[int]] = field(default_factory=dict)  # did -> domains offered
    needs: dict[str, set[int]] = field(default_factory=dict)
    interests: dict[str, set[int]] = field(default_factory=dict)  # did -> domains of interest
    content: dict[str, int] = field(default_factory=dict)  # content id -> its domain
    specific: dict[int, set[str]] = field(default_factory=dict)  # domain -> own words, synonyms
    ride_pairs: set[tuple[str, str]] = field(default_factory=set)  # (rider, driver)
    riders: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Vocabulary:
    own: list[list[str]]  # domain -> its own words
    synonym: dict[str, str]  # own word -> its synonym
    family: list[list[str]]  # family -> shared words

    def family_of(self, domain: int) -> list[str]:
        return self.family[domain // PER_FAMILY]

    def words(self, domain: int) -> list[str]:
        return self.own[domain] + self.family_of(domain)


def vocabulary(rng: np.random.Generator, domains: int) -> Vocabulary:
    """Distinct made-up words: per domain ``OWN_WORDS`` and their synonyms, per family more."""
    seen: set[str] = set(GENERIC) | set(FILLER)

    def fresh() -> str:
        while True:
            w = "".join(rng.choice(SYLLABLES, 3))
            if w not in seen:
                seen.add(w)
                return w

    own = [[fresh() for _ in range(OWN_WORDS)] for _ in range(domains)]
    for d in range(domains):  # two words of each domain also belong to another family's domain
        own[d][-SHARED_WORDS:] = own[(d + 7) % domains][:SHARED_WORDS]
    synonym = {w: fresh() for ws in own for w in ws}
    family = [[fresh() for _ in range(FAMILY_WORDS)]
              for _ in range((domains + PER_FAMILY - 1) // PER_FAMILY)]
    return Vocabulary(own, synonym, family)


def _write(vocab: Vocabulary, rng: random.Random, domain: int, n: int, syn_p: float
           ) -> list[str]:
    """``n`` words a person would use about ``domain``: own words (some as synonyms) and
    family words.  (The stdlib generator: numpy's per-call overhead dominates for 2-3 words.)"""
    words = vocab.words(domain)
    out = []
    for i in rng.sample(range(len(words)), n):
        w = words[i]
        if i < OWN_WORDS and rng.random() < syn_p:
            w = vocab.synonym[w]
        out.append(w)
    return out


class _Table:
    """The vocabulary as arrays, to write words for many members in one numpy call."""

    def __init__(self, vocab: Vocabulary) -> None:
        rows = [vocab.words(d) for d in range(len(vocab.own))]
        self.words = np.asarray(rows)
        self.synonyms = np.asarray([[vocab.synonym.get(w, w) for w in row] for row in rows])

    def write(self, rng: np.random.Generator, domains: np.ndarray, n: int, syn_p: float
              ) -> list[list[str]]:
        """For each member, ``n`` distinct words of their domain, own words sometimes as their
        synonym (family words have none)."""
        slots = rng.random((len(domains), self.words.shape[1])).argsort(axis=1)[:, :n]
        rows = domains[:, None]
        syn = (rng.random(slots.shape) < syn_p) & (slots < OWN_WORDS)
        out: list[list[str]] = np.where(syn, self.synonyms[rows, slots],
                                        self.words[rows, slots]).tolist()
        return out


def _vary(rng: np.random.Generator, city: str) -> str:
    return [city, city.lower(), city.upper(), f" {city} ", city.replace(" ", "-")][
        int(rng.integers(5))]


def generate(  # noqa: PLR0915  # one pass per kind of data, read top to bottom
        *, members: int = 120_000, spaces: int = 200, cities: int = 30, domains: int = 60,
        popularity: float = 0.0,
        questions: int = 1000, missions: int = 300, content: int = 2000, riders: int = 2000,
        drivers: int = 4000, now_ms: int = 0, seed: int = 7
) -> tuple[Community, Truth, dict[str, Profile]]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)  # noqa: S311  # seeded test data, not secrets
    vocab = vocabulary(rng, domains)
    city_names = [f"City {i:02d}" for i in range(cities)]
    space_list = [Space(f"space-{i:03d}", f"Space {i:03d}", city_names[i % cities],
                        tuple(_write(vocab, pick, i % domains, 2, 0.0))) for i in range(spaces)]
    community = Community(space_list)
    truth = Truth(experts={d: set() for d in range(domains)},
                  freelancers={d: set() for d in range(domains)},
                  specific={d: {*ws, *(vocab.synonym[w] for w in ws)}
                            for d, ws in enumerate(vocab.own)})
    profiles: dict[str, Profile] = {}

    # Every member's choices at once; only the joining of strings is done member by member.
    home = rng.integers(spaces, size=members)
    if popularity > 0:  # Zipf: a few popular domains, many niche ones
        weights = 1 / np.arange(1, domains + 1) ** popularity
        first = rng.choice(domains, size=members, p=weights / weights.sum())
    else:
        first = rng.integers(domains, size=members)
    two = rng.random(members) < 1 / 3
    second = (first + rng.integers(1, domains, size=members)) % domains
    need = (first + rng.integers(1, domains, size=members)) % domains
    need = np.where(two & (need == second), (need + 1) % domains, need)
    need = np.where(need == first, (need + 1) % domains, need)
    need = np.where(two & (need == second), (need + 1) % domains, need)
    present = rng.random(members) < 0.3
    leave_min = rng.integers(15, 8 * 60, size=members)
    freelance = rng.random(members) < 0.1
    style = np.searchsorted(np.cumsum([s for s, _ in GRANT_STYLES]), rng.random(members))
    style = np.minimum(style, len(GRANT_STYLES) - 1)
    grant_draw = rng.random((members, 9))
    helpful_draw = rng.random((members, 2))
    generic = np.asarray(GENERIC)[rng.integers(len(GENERIC), size=(members, 5))].tolist()
    table = _Table(vocab)
    sp = SYNONYM_P_PROFILE
    expertise1, expertise2 = table.write(rng, first, 3, sp), table.write(rng, second, 3, sp)
    helps1, helps2 = table.write(rng, first, 2, sp), table.write(rng, second, 2, sp)
    dabbles = table.write(rng, rng.integers(domains, size=members), 1, sp)
    looking = table.write(rng, need, 3, sp)
    interests = table.write(rng, need, 2, sp)
    others = table.write(rng, rng.integers(domains, size=members), 2, sp)
    offered = table.write(rng, first, 3, sp)
    field_cols = ("name", "expertise", "can_help_with", "looking_for", "interests", "space",
                  "leaving_at", "city", "freelance")
    since = {"space": now_ms - 3_600_000}
    for i in range(members):
        did = f"m{i:06d}"
        space = space_list[int(home[i])]
        expert = [int(first[i]), int(second[i])] if two[i] else [int(first[i])]
        for d in expert:
            truth.experts[d].add(did)
        truth.offers[did], truth.needs[did] = set(expert), {int(need[i])}
        truth.interests[did] = {*expert, int(need[i])}
        g = generic[i]
        both = bool(two[i])
        values: dict[str, object] = {
            "name": f"Member {i}",
            "expertise": " ".join(expertise1[i] + (expertise2[i] if both else []) + g[:2]),
            "can_help_with": " ".join(helps1[i] + (helps2[i] if both else []) + dabbles[i]
                                      + g[2:4]),
            "looking_for": " ".join(looking[i] + g[3:5]),
            "interests": " ".join(interests[i] + others[i]),
            "city": space.city}
        if freelance[i]:
            values["freelance"] = "available for missions: " + " ".join(offered[i])
            truth.freelancers[expert[0]].add(did)
        if present[i]:
            values["space"] = space.id
            values["leaving_at"] = format_ts(now_ms + int(leave_min[i]) * 60_000)
        p_grant = GRANT_STYLES[int(style[i])][1]
        granted = {f: values[f] for j, f in enumerate(field_cols)
                   if f in values and grant_draw[i, j] < p_grant.get(f, 0.0)}
        profiles[did] = profile_from_granted(did, granted, since)
        if "expertise" in granted or "can_help_with" in granted:
            for j, d in enumerate(expert):  # past helpful answers follow true expertise
                if helpful_draw[i, j] < 0.4:
                    community.endorse("helpful", did, _write(vocab, pick, d, 3, 0.5))
                if freelance[i] and helpful_draw[i, j] < 0.3 and j == 0:
                    community.endorse("mission", did, _write(vocab, pick, d, 3, 0.5))

    dids = list(profiles)
    asker = rng.integers(len(dids), size=questions + missions)

    def ask(d: int) -> str:
        a, b = _write(vocab, pick, d, 2, SYNONYM_P_QUESTION)
        if rng.random() < 0.3:  # a word of an unrelated domain slips in
            b = f"{b} {_write(vocab, pick, int(rng.integers(domains)), 1, 0.0)[0]}"
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        return template.format(a=a, b=b, g=GENERIC[int(rng.integers(len(GENERIC)))],
                               f=FILLER[int(rng.integers(len(FILLER)))])

    for q in range(questions):
        d = int(rng.integers(domains))
        truth.questions.append((dids[int(asker[q])], ask(d), d))
    with_freelancers = [d for d, fs in truth.freelancers.items() if fs]
    for q in range(missions):
        d = with_freelancers[int(rng.integers(len(with_freelancers)))]
        truth.missions.append((f"company{q:04d}", "mission: " + ask(d), d))

    for n in range(content):
        d = int(rng.integers(domains))
        cid = f"content-{n:05d}"
        words = _write(vocab, pick, d, 3, 0.3)
        community.add_content(Content(cid, f"{words[0].title()} {FILLER[n % len(FILLER)]}: "
                                      f"{words[1]} and {words[2]}",
                                      (GENERIC[n % len(GENERIC)],),
                                      space_list[int(rng.integers(spaces))].id))
        truth.content[cid] = d

    # Rides: riders plan a day in another city; drivers share trips, half of them on a route
    # some rider planned.
    dates = [f"2026-12-{d:02d}" for d in range(1, 8)]
    routes: list[tuple[str, str, str]] = []
    by_city: dict[str, list[Space]] = defaultdict(list)
    for s in space_list:
        by_city[s.city].append(s)
    for r in range(riders):
        did = f"rider{r:05d}"
        a, b = (city_names[int(x)] for x in rng.choice(cities, 2, replace=False))
        date = dates[int(rng.integers(len(dates)))]
        routes.append((a, b, date))
        target = by_city[b][int(rng.integers(len(by_city[b])))]
        to_space = rng.random() < 0.5
        dest = target.id if to_space else _vary(rng, b)
        day = date if rng.random() < 0.5 else f"{date[8:]}/{date[5:7]}/{date[:4]}"
        profiles[did] = profile_from_granted(did, {"plan": {"space" if to_space else "city": dest,
                                                            "date": day, "from": _vary(rng, a)}},
                                             {})
        truth.riders.append(did)
    planned: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for rider, route in zip(truth.riders, routes, strict=True):
        planned[route].append(rider)
    for t in range(drivers):
        did = f"driver{t:05d}"
        if rng.random() < 0.5:
            a, b, date = routes[int(rng.integers(len(routes)))]
        else:
            a, b = (city_names[int(x)] for x in rng.choice(cities, 2, replace=False))
            date = dates[int(rng.integers(len(dates)))]
        day = date if rng.random() < 0.7 else f"{date[8:]}.{date[5:7]}.{date[:4]}"
        profiles[did] = profile_from_granted(did, {"trip": {
            "origin": _vary(rng, a), "destination": _vary(rng, b),
            "seats": int(rng.integers(1, 5)), "date": day}}, {})
        truth.ride_pairs.update((rider, did) for rider in planned.get((a, b, date), ()))

    for p in profiles.values():  # the sync's path; the caller folds the indexes (rebuild)
        community.upsert(p)
    return community, truth, profiles
