"""The matcher's in-memory state: the community as the matcher may see it, and its indexes.

``Community`` holds a ``Profile`` per member (granted fields only), the space directory, the
content catalogue, the endorsements that count (helpful answers and mission feedback the
subject accepted, kept as the text of what they were about), the routing load and who has met
whom.  It is mutable, like the node's ``PassportView``, and pure: no I/O and no clock.  The edges
(``matching.sync`` and ``matching.service``) feed it; the rankers in ``matching.rank`` read it.

Consent holds in everything derived: term indexes, embeddings (``matching.embed.Vectors``),
space profiles and endorsement memory are functions of what is held now.  A changed or revoked
field drops its vectors and terms at once; a space's profile is recomputed from the members
placed there now, never accumulated.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from matching.embed import DIM, Vectors, use_encoder
from matching.model import Profile, Space, norm_place
from matching.text import TextIndex, Texts, tokenize

ENDORSEMENT_KINDS = ("helpful", "mission")
LOAD_HALF_LIFE_QUERIES = 200  # routing load halves every 200 questions
SMALL = 5_000  # below this many members the term index is rebuilt before any answer
QUERY_CACHE = 512


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
    return tokenize(mission_text(p))


def offer_text(p: Profile) -> str:
    return f"{p.expertise}. {p.can_help_with}" if p.expertise and p.can_help_with else \
        p.expertise or p.can_help_with


def need_text(p: Profile) -> str:
    return p.looking_for


def mission_text(p: Profile) -> str:
    return ". ".join(t for t in (p.freelance, p.expertise, p.can_help_with) if t) \
        if p.freelance else ""


@dataclass(frozen=True, slots=True)
class Endorsement:
    """Accepted help (``helpful``) or mission feedback (``mission``): who, about what, when."""

    kind: str
    did: str
    text: str
    at_ms: int

    @property
    def key(self) -> str:
        return f"{self.kind}\x00{self.did}\x00{self.at_ms}\x00{self.text}"


class Community:
    def __init__(self, spaces: Iterable[Space] = (),
                 encoder: Callable[[Sequence[str]], np.ndarray] = use_encoder) -> None:
        self.encoder = encoder
        self.spaces: dict[str, Space] = {}
        self._space_names: dict[str, str] = {}
        self.profiles: dict[str, Profile] = {}
        self.content: dict[str, Content] = {}
        self.drivers: set[str] = set()  # members with a granted trip
        self.endorsements: dict[str, dict[str, Counter[str]]] = {
            k: defaultdict(Counter) for k in ENDORSEMENT_KINDS}  # derived from _endorsed
        self._endorsed: dict[str, Endorsement] = {}
        self._by_subject: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._endorse_seq = 0
        # only endorsements within HELP_MIN cosine count: a shorter exact re-score suffices
        self.endorsed_vecs = {k: Vectors(encoder, keep=1_000) for k in ENDORSEMENT_KINDS}
        self.load: dict[str, float] = defaultdict(float)
        self.met: dict[str, set[str]] = defaultdict(set)
        self.at_space: dict[str, set[str]] = defaultdict(set)  # space id -> members placed there
        self._placed_as: dict[str, set[str]] = defaultdict(set)  # presence as written -> members
        self.space_terms: dict[str, Counter[str]] = {}  # derived in space_index(), from now
        self.offers = Texts({})
        self.needs = Texts({})
        self.missions = Texts({})
        self.offer_vecs = Vectors(encoder)
        self.need_vecs = Vectors(encoder, np.float16)
        self.mission_vecs = Vectors(encoder)
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._space_index: TextIndex | None = None
        self._space_vecs = np.zeros((0, DIM), dtype=np.float32)
        self._space_vec: dict[str, np.ndarray] = {}  # per space, kept until it changes
        self._dirty_spaces: set[str] = set()
        self._content_index: TextIndex | None = None
        for space in spaces:
            self.add_space(space)

    # --- the directory ---------------------------------------------------------------------------

    def add_space(self, space: Space) -> None:
        """List a space; members who checked in there before it was listed are placed now."""
        old = self.spaces.get(space.id)
        if old is not None:
            for name in (norm_place(old.name), norm_place(old.id)):
                if self._space_names.get(name) == space.id:
                    del self._space_names[name]
        self.spaces[space.id] = space
        self._space_names[norm_place(space.name)] = space.id
        self._space_names[norm_place(space.id)] = space.id
        for name in (norm_place(space.name), norm_place(space.id)):
            for did in self._placed_as.get(name, ()):
                self.at_space[space.id].add(did)
        self._dirty_spaces.add(space.id)
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
        self.offer_vecs.put(profile.did, offer_text(profile))
        self.need_vecs.put(profile.did, need_text(profile))
        self.mission_vecs.put(profile.did, mission_text(profile))
        if profile.presence is not None:
            self._placed_as[norm_place(profile.presence.space)].add(profile.did)
            space = self.resolve_space(profile.presence.space)
            if space is not None:
                self.at_space[space.id].add(profile.did)
                self._dirty_spaces.add(space.id)
                self._space_index = None

    def remove(self, did: str) -> None:
        """The member is gone from every answer (revoked everything, or left)."""
        self._forget_place(did)
        self.drivers.discard(did)
        if self.profiles.pop(did, None) is not None:
            for texts in (self.offers, self.needs, self.missions):
                texts.put(did, [])
            for vecs in (self.offer_vecs, self.need_vecs, self.mission_vecs):
                vecs.put(did, "")

    def _forget_place(self, did: str) -> None:
        old = self.profiles.get(did)
        if old is not None and old.presence is not None:
            self._placed_as[norm_place(old.presence.space)].discard(did)
            space = self.resolve_space(old.presence.space)
            if space is not None:
                self.at_space[space.id].discard(did)
                self._dirty_spaces.add(space.id)
                self._space_index = None

    def rebuild(self) -> None:
        """Fold the side indexes into fresh main ones (seconds at 100k members)."""
        self.offers = Texts({d: offer_tokens(p) for d, p in self.profiles.items()})
        self.needs = Texts({d: need_tokens(p) for d, p in self.profiles.items()})
        self.missions = Texts({d: mission_tokens(p) for d, p in self.profiles.items()})
        self._space_index = None

    @property
    def pending(self) -> int:
        return self.offers.pending

    def ready(self) -> None:
        """Before an answer: embed what changed; a small community folds its term changes
        into the main index, so its answers do not depend on the order things happened in."""
        if len(self.profiles) <= SMALL and (self.offers.pending or self.needs.pending
                                            or self.missions.pending):
            self.rebuild()
        for vecs in (self.offer_vecs, self.need_vecs, self.mission_vecs,
                     *self.endorsed_vecs.values()):
            vecs.flush()

    def _vectors(self) -> list[Vectors]:
        return [self.offer_vecs, self.need_vecs, self.mission_vecs, *self.endorsed_vecs.values()]

    def embed_stored_with(self, encoder: Callable[[Sequence[str]], np.ndarray]) -> None:
        """Profiles and endorsements are embedded through ``encoder`` (a file of vectors:
        ``matching.vector_store``); a query's own embedding keeps ``self.encoder``, so a
        question never reaches that file."""
        for vecs in self._vectors():
            vecs.encoder = encoder

    def held_keys(self) -> set[bytes]:
        """The hash of every text a live vector is made from."""
        return set().union(*(v.held() for v in self._vectors()))

    def drain_dropped(self) -> set[bytes]:
        """Texts whose last vector went since the last call (a revoke, an edit, a leave)."""
        gone: set[bytes] = set()
        for vecs in self._vectors():
            gone |= vecs.dropped
            vecs.dropped = set()
        return {k for k in gone if not any(v.holds(k) for v in self._vectors())}

    def held(self) -> dict[str, object]:
        """What the derived state holds, for checking consent: per index and vector store the
        members (or endorsements) with something in it and from which text, and the space
        profiles.  Equal for two communities holding the same granted values."""
        self.ready()
        self.space_index()
        vecs = {"offer": self.offer_vecs, "need": self.need_vecs,
                "mission": self.mission_vecs, **{f"endorsed-{k}": v
                                                  for k, v in self.endorsed_vecs.items()}}
        return {
            **{name: sorted((d, v.key_of(d)) for d in v.dids if v.key_of(d) is not None)
               for name, v in vecs.items()},
            "terms": {name: sorted(t.docs.items())
                      for name, t in (("offers", self.offers), ("needs", self.needs),
                                      ("missions", self.missions))},
            "spaces": {s: sorted(n.items()) for s, n in self.space_terms.items() if n},
            "endorsements": {k: {d: sorted(n.items()) for d, n in e.items() if n}
                             for k, e in self.endorsements.items()},
            "placed": {s: sorted(m) for s, m in self.at_space.items() if m},
        }

    def embed(self, text: str) -> np.ndarray:
        """A query's vector (a few hundred recent ones kept)."""
        key = " ".join(text.split())
        v = self._queries.get(key)
        if v is None:
            v = self.encoder([key])[0].astype(np.float32)
            self._queries[key] = v
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(key)
        return v

    def drop_queries(self, texts: Iterable[str]) -> None:
        """Forget these queries' vectors (a member's questions, deleted on their request)."""
        for text in texts:
            self._queries.pop(" ".join(text.split()), None)

    # --- what members did ------------------------------------------------------------------------

    def endorse(self, kind: str, did: str, domain: Iterable[str]) -> None:
        """An accepted endorsement in a domain's words (kept for callers that have only
        words; ``add_endorsement`` with the question's text is better: it carries meaning)."""
        self._endorse_seq += 1
        self.add_endorsement(kind, did, " ".join(domain), -self._endorse_seq)

    def add_endorsement(self, kind: str, did: str, text: str, at_ms: int) -> None:
        """Accepted help on a question (``helpful``) or feedback on a mission (``mission``),
        by what it was about: it raises ``did`` for requests of similar meaning."""
        if kind not in ENDORSEMENT_KINDS:
            raise ValueError(f"unknown endorsement kind {kind!r}")
        e = Endorsement(kind, did, " ".join(text.split()), at_ms)
        self._endorsed[e.key] = e
        self._by_subject[kind, did].add(e.key)
        self.endorsed_vecs[kind].put(e.key, e.text)
        self._recount(kind, did)

    def remove_endorsement(self, kind: str, did: str, text: str, at_ms: int) -> None:
        """The endorsement is withdrawn (or its attestation revoked): it counts no more."""
        e = Endorsement(kind, did, " ".join(text.split()), at_ms)
        if self._endorsed.pop(e.key, None) is not None:
            self._by_subject[kind, did].discard(e.key)
            self.endorsed_vecs[kind].put(e.key, "")
            self._recount(kind, did)

    def add_helpful(self, answerer: str, question: str, at_ms: int) -> None:
        self.add_endorsement("helpful", answerer, question, at_ms)

    def remove_helpful(self, answerer: str, question: str, at_ms: int) -> None:
        self.remove_endorsement("helpful", answerer, question, at_ms)

    def _recount(self, kind: str, did: str) -> None:
        words: Counter[str] = Counter()
        for key in self._by_subject.get((kind, did), ()):
            words.update(set(tokenize(self._endorsed[key].text)))
        if words:
            self.endorsements[kind][did] = words
        else:
            self.endorsements[kind].pop(did, None)

    def endorsed(self, kind: str) -> list[Endorsement]:
        """The live endorsements of a kind, in the row order of ``endorsed_vecs[kind]``."""
        vecs = self.endorsed_vecs[kind]
        return [self._endorsed[k] for k in vecs.dids if k in self._endorsed]

    def endorsement(self, key: str) -> Endorsement | None:
        return self._endorsed.get(key)

    def endorsements_held(self) -> list[Endorsement]:
        """Every endorsement that counts, embedded yet or not."""
        return list(self._endorsed.values())

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
        """Spaces as documents: tags, name, and the interests of the members placed there now
        (a space whose members changed is recomputed, so a revoked or changed interest stops
        shaping it at once; the others keep their profile)."""
        if self._space_index is None:
            self.need_vecs.flush()
            self.offer_vecs.flush()
            for sid in self._dirty_spaces | (set(self.spaces) - set(self._space_vec)):
                self._profile_space(sid)
            self._dirty_spaces.clear()
            docs = []
            for sid, space in self.spaces.items():
                terms = tokenize(" ".join(space.tags) + " " + space.name)
                counts = self.space_terms.get(sid, Counter())
                for term, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:200]:
                    terms.extend([term] * min(k, 20))
                docs.append((sid, terms))
            self._space_index = TextIndex(docs)
            self._space_vecs = np.stack([self._space_vec[s] for s in self.spaces]) \
                if self.spaces else np.zeros((0, DIM), dtype=np.float32)
        return self._space_index

    def _profile_space(self, sid: str) -> None:
        """One space's profile from the members placed there now."""
        counts: Counter[str] = Counter()
        total = np.zeros(DIM, dtype=np.float32)
        for did in sorted(d for d in self.at_space.get(sid, ()) if d in self.profiles):
            counts.update(interest_tokens(self.profiles[did]))
            for v in (self.need_vecs.vec(did), self.offer_vecs.vec(did)):
                if v is not None:
                    total += v
        self.space_terms[sid] = counts
        norm = float(np.linalg.norm(total))
        self._space_vec[sid] = total / norm if norm > 0 else total

    def space_vectors(self) -> np.ndarray:
        """One unit vector per space (``space_index`` row order): what its members offer and
        look for."""
        self.space_index()
        return self._space_vecs

    def content_index(self) -> TextIndex:
        if self._content_index is None:
            self._content_index = TextIndex([
                (c.id, tokenize(c.title + " " + " ".join(c.tags))) for c in self.content.values()])
        return self._content_index
