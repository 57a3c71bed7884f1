"""The matcher's in-memory state: the community as the matcher may see it, and its indexes.

``Community`` holds a ``Profile`` per member (granted fields only), the space directory, the
content catalogue, the endorsements that count (helpful answers and mission feedback the
subject accepted), the routing load and who has met whom.  It is mutable, like the node's
``PassportView``, and pure: no I/O and no clock.  The edges (``matching.sync`` and
``matching.service``) feed it; the rankers in ``matching.rank`` read it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from matching.model import Profile, Space, norm_place
from matching.text import TextIndex, Texts, tokenize

ENDORSEMENT_KINDS = ("helpful", "mission")
LOAD_HALF_LIFE_QUERIES = 200  # routing load halves every 200 questions


@dataclass(frozen=True, slots=True)
class Content:
    """Something to suggest (an event, a talk, an article), posted by a space or a service."""

    id: str
    title: str
    tags: tuple[str, ...] = ()
    space: str | None = None


def offer_tokens(p: Profile) -> list[str]:
    return tokenize(f"{p.expertise} {p.can_help_with}")


def need_tokens(p: Profile) -> list[str]:
    return tokenize(p.looking_for)


def interest_tokens(p: Profile) -> list[str]:
    return tokenize(f"{p.interests} {p.looking_for} {p.expertise}")


def mission_tokens(p: Profile) -> list[str]:
    return tokenize(f"{p.expertise} {p.can_help_with} {p.freelance}") if p.freelance else []


class Community:
    def __init__(self, spaces: Iterable[Space] = ()) -> None:
        self.spaces: dict[str, Space] = {}
        self._space_names: dict[str, str] = {}
        self.profiles: dict[str, Profile] = {}
        self.content: dict[str, Content] = {}
        self.drivers: set[str] = set()  # members with a granted trip
        self.endorsements: dict[str, dict[str, Counter[str]]] = {
            k: defaultdict(Counter) for k in ENDORSEMENT_KINDS}
        self.load: dict[str, float] = defaultdict(float)
        self.met: dict[str, set[str]] = defaultdict(set)
        self.at_space: dict[str, set[str]] = defaultdict(set)  # space id -> members placed there
        self.space_terms: dict[str, Counter[str]] = defaultdict(Counter)  # check-ins' interests
        self.offers = Texts({})
        self.needs = Texts({})
        self.missions = Texts({})
        self._space_index: TextIndex | None = None
        self._content_index: TextIndex | None = None
        for space in spaces:
            self.add_space(space)

    # --- the directory ---------------------------------------------------------------------------

    def add_space(self, space: Space) -> None:
        self.spaces[space.id] = space
        self._space_names[norm_place(space.name)] = space.id
        self._space_names[norm_place(space.id)] = space.id
        self._space_index = None

    def resolve_space(self, text: str) -> Space | None:
        """A space by id or name (loosely compared); None if the directory does not know it."""
        found = self.spaces.get(text) or self.spaces.get(self._space_names.get(norm_place(text),
                                                                               ""))
        return found

    def city_of(self, place: str) -> str:
        """The city of a space, or ``place`` itself read as a city."""
        space = self.resolve_space(place)
        return norm_place(space.city) if space is not None else norm_place(place)

    def add_content(self, item: Content) -> None:
        self.content[item.id] = item
        self._content_index = None

    # --- members ---------------------------------------------------------------------------------

    def upsert(self, profile: Profile) -> None:
        """The member's profile now; every index forgets the previous one at once."""
        self._forget_place(profile.did)
        self.profiles[profile.did] = profile
        if profile.trip is not None:
            self.drivers.add(profile.did)
        else:
            self.drivers.discard(profile.did)
        self.offers.put(profile.did, offer_tokens(profile))
        self.needs.put(profile.did, need_tokens(profile))
        self.missions.put(profile.did, mission_tokens(profile))
        if profile.presence is not None:
            space = self.resolve_space(profile.presence.space)
            if space is not None:
                self.at_space[space.id].add(profile.did)
                self.space_terms[space.id].update(interest_tokens(profile))
                self._space_index = None

    def remove(self, did: str) -> None:
        """The member is gone from every answer (revoked everything, or left)."""
        self._forget_place(did)
        self.drivers.discard(did)
        if self.profiles.pop(did, None) is not None:
            for texts in (self.offers, self.needs, self.missions):
                texts.put(did, [])

    def _forget_place(self, did: str) -> None:
        old = self.profiles.get(did)
        if old is not None and old.presence is not None:
            space = self.resolve_space(old.presence.space)
            if space is not None:
                self.at_space[space.id].discard(did)

    def rebuild(self) -> None:
        """Fold the side indexes into fresh main ones (seconds at 100k members)."""
        self.offers = Texts({d: offer_tokens(p) for d, p in self.profiles.items()})
        self.needs = Texts({d: need_tokens(p) for d, p in self.profiles.items()})
        self.missions = Texts({d: mission_tokens(p) for d, p in self.profiles.items()})
        self._space_index = None

    @property
    def pending(self) -> int:
        return self.offers.pending

    # --- what members did ------------------------------------------------------------------------

    def endorse(self, kind: str, did: str, domain: Iterable[str]) -> None:
        """An accepted endorsement (helpful answer, mission feedback) in a domain's words."""
        self.endorsements[kind][did].update(set(domain))

    def note_routed(self, dids: Iterable[str]) -> None:
        """Questions were routed to these members: their load rises, everyone's decays."""
        decay = 0.5 ** (1 / LOAD_HALF_LIFE_QUERIES)
        for did in list(self.load):
            self.load[did] *= decay
            if self.load[did] < 0.01:
                del self.load[did]
        for did in dids:
            self.load[did] += 1.0

    def mark_met(self, a: str, b: str) -> None:
        self.met[a].add(b)
        self.met[b].add(a)

    # --- spaces and content as documents ---------------------------------------------------------

    def space_index(self) -> TextIndex:
        if self._space_index is None:
            docs = []
            for sid, space in self.spaces.items():
                terms = tokenize(" ".join(space.tags) + " " + space.name)
                for term, n in self.space_terms[sid].most_common(200):
                    terms.extend([term] * min(n, 20))
                docs.append((sid, terms))
            self._space_index = TextIndex(docs)
        return self._space_index

    def content_index(self) -> TextIndex:
        if self._content_index is None:
            self._content_index = TextIndex([
                (c.id, tokenize(c.title + " " + " ".join(c.tags))) for c in self.content.values()])
        return self._content_index
