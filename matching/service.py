"""The matcher as its own small HTTP service (FastAPI), with its own key: ``passport match serve``.

It is a service like any other (DESIGN §8, §9): it learns members' fields only through their
grants and the node's scoped reads (``matching.sync``), keeps them in memory (``Community``), and
answers members' signed requests (RFC 9421, the node's profile: ``passport_api.signing``).
Freshness: a background loop reads the node's consent feed for this service every ``poll_ms``
and refreshes only the members it names (``Matcher.catch_up``); every answer catches up once
more before ranking, so a revoke on the node takes effect on the next query.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from ledger.times import now_ms
from matching.index import Community, Content
from matching.model import Space
from matching.rank import (
    Answer,
    match_mission,
    people_to_meet,
    route_question,
    suggest_content,
    suggest_spaces,
)
from matching.rides import RideBook, RideError
from matching.sync import NodeSync
from matching.text import tokenize
from passport_api.bodyguard import BodyGuard
from passport_api.client import NodeClient, NodeError
from passport_api.signing import verify_request

MAX_SKEW_S = 60
DEFAULT_POLL_MS = 250
REBUILD_AFTER_CHANGES = 500
CONSENT_RULE = ("only fields each member granted to this matcher are used; a field not "
                "granted is never read; a revoke is applied before this answer was ranked")


@dataclass
class Pending:
    kind: str  # "helpful" or "mission"
    subject: str
    attestation: str
    domain: tuple[str, ...]


@dataclass
class Asked:
    by: str
    text: str
    routed: tuple[str, ...]
    kind: str = "helpful"


@dataclass
class Matcher:
    """All state of one matcher process; every method is safe to call from any thread."""

    sync: NodeSync
    community: Community = field(default_factory=Community)
    rides: RideBook = field(default_factory=RideBook)
    watched: set[str] = field(default_factory=set)
    asked: dict[str, Asked] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    last_poll_ms: int = 0
    poll_took_ms: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    sync_lock: threading.Lock = field(default_factory=threading.Lock)
    feed_lock: threading.Lock = field(default_factory=threading.Lock)  # one catch-up at a time

    def refresh(self, dids: list[str]) -> bool:
        """Re-read these members from the node; True if any profile changed."""
        changed = False
        now = now_ms()
        for did in dict.fromkeys(dids):
            if did not in self.watched:
                continue
            try:
                with self.sync_lock:
                    profile = self.sync.refresh(did, now)
            except (NodeError, httpx.HTTPError):
                continue  # the node is unreachable or refused: keep what we have
            with self.lock:
                old = self.community.profiles.get(did)
                if profile is None and old is not None:
                    self.community.remove(did)
                    changed = True
                elif profile is not None and profile != old:
                    self.community.upsert(profile)
                    changed = True
        return changed

    def catch_up(self) -> bool:
        """Read the node's consent feed since the last call and refresh the members it names
        (and those whose grant expired); a member who granted to this service is watched from
        then on.  True if any profile changed.  Cost: the records since the last call."""
        with self.feed_lock:
            try:
                with self.sync_lock:
                    news = self.sync.changes()
                    due = self.sync.expiring(now_ms())
            except (NodeError, httpx.HTTPError):
                return False  # the node is unreachable: keep what we have, retry next time
            self.watched.update(news.granted)
            return self.refresh(sorted(news.members | set(due)))

    def poll_once(self) -> None:
        start = time.perf_counter()
        self.catch_up()
        self._endorsements()
        with self.lock:
            if self.community.pending >= REBUILD_AFTER_CHANGES:
                self.community.rebuild()
        self.last_poll_ms = now_ms()
        self.poll_took_ms = (time.perf_counter() - start) * 1000

    def _endorsements(self) -> None:
        for item in list(self.pending):
            try:
                with self.sync_lock:
                    state = self.sync.accepted(item.subject, item.attestation)
            except (NodeError, httpx.HTTPError):
                continue
            if state is None:
                self.pending.remove(item)
            elif state:
                with self.lock:
                    self.community.endorse(item.kind, item.subject, item.domain)
                self.pending.remove(item)

    def answer(self, caller: str, rank: Callable[[], Answer]) -> Answer:
        """Catch up with the consent feed, then rank: a grant, revoke or new value already on
        the node when the question arrives is applied before this answer is ranked."""
        del caller  # the feed covers the caller like every other member
        self.catch_up()
        with self.lock:
            return rank()


class Settings(BaseModel):
    node: str
    poll_ms: int = DEFAULT_POLL_MS


async def _caller(request: Request) -> str:
    """The did of a member's signed request (RFC 9421, the node's profile); replays refused."""
    matcher: Matcher = request.app.state.matcher
    seen: dict[tuple[str, str], float] = request.app.state.nonces
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        verified = verify_request(request.method, request.url.path, request.url.query,
                                  headers, body, now=int(time.time()), max_skew_s=MAX_SKEW_S,
                                  keys_of=matcher.sync.keys_of)
    except Exception as e:  # every refusal of the signature profile is one 401
        raise HTTPException(401, f"signed request refused: {e}") from None
    now = time.time()
    for key in [k for k, until in seen.items() if until < now]:
        del seen[key]
    if (verified.did, verified.nonce) in seen:
        raise HTTPException(401, "replayed request: this nonce was already used")
    seen[(verified.did, verified.nonce)] = now + 2 * MAX_SKEW_S
    return verified.did


Caller = Annotated[str, Depends(_caller)]


class SpaceIn(BaseModel):
    name: str = Field(max_length=200)
    city: str = Field(max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)


class ContentIn(BaseModel):
    title: str = Field(max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=50)
    space: str | None = None


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=3, ge=1, le=20)


class EndorseIn(BaseModel):
    subject: str
    attestation: str


class GrantIn(BaseModel):
    grant: str = ""


class DidIn(BaseModel):
    did: str


def create_app(matcher: Matcher, settings: Settings) -> FastAPI:  # noqa: PLR0915  # one route each
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.poll_ms / 1000):
            try:
                matcher.poll_once()
            except Exception:  # noqa: S112  # a bad poll must not kill the loop; the next one retries
                continue

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=loop, name="matcher-poll", daemon=True)
        thread.start()
        yield
        stop.set()
        thread.join(timeout=5)

    app = FastAPI(title="Passport matcher", version="1", lifespan=lifespan,
                  docs_url="/v1/docs", openapi_url="/v1/openapi.json", redoc_url=None)
    app.add_middleware(BodyGuard)  # bodies bounded in size and depth before FastAPI parses them
    app.state.matcher = matcher
    app.state.nonces = {}
    c = matcher.community

    def consent(extra: dict[str, Any]) -> dict[str, Any]:
        return {**extra, "consent": {"matcher": matcher.sync.me, "rule": CONSENT_RULE,
                                     "polled": matcher.last_poll_ms}}

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        with matcher.lock:
            return {"did": matcher.sync.me, "node": settings.node, "watched": len(matcher.watched),
                    "profiles": len(c.profiles), "spaces": len(c.spaces),
                    "pending_index_changes": c.pending, "poll_ms": settings.poll_ms,
                    "last_poll_ms": matcher.last_poll_ms,
                    "poll_took_ms": round(matcher.poll_took_ms, 2), "reads": matcher.sync.reads}

    @app.post("/v1/members")
    def join(who: Caller) -> dict[str, Any]:
        matcher.watched.add(who)
        matcher.refresh([who])
        with matcher.lock:
            p = c.profiles.get(who)
        return consent({"did": who, "fields_used": sorted(p.fields) if p else []})

    @app.delete("/v1/members")
    def leave(who: Caller) -> dict[str, Any]:
        matcher.watched.discard(who)
        with matcher.lock:
            c.remove(who)
        with matcher.sync_lock:
            matcher.sync.forget(who)
        return consent({"did": who, "fields_used": []})

    @app.post("/v1/spaces")
    def add_space(body: SpaceIn, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            c.add_space(Space(who, body.name, body.city, tuple(body.tags)))
        return {"space": who, "name": body.name, "city": body.city}

    @app.post("/v1/content")
    def add_content(body: ContentIn, who: Caller) -> dict[str, Any]:
        cid = "c-" + hashlib.sha256(f"{who}|{body.title}".encode()).hexdigest()[:12]
        with matcher.lock:
            c.add_content(Content(cid, body.title, tuple(body.tags), body.space))
        return {"content": cid}

    @app.get("/v1/people")
    def people(who: Caller, k: int = 5) -> dict[str, Any]:
        result = matcher.answer(who, lambda: people_to_meet(c, who, now_ms(), k))
        return consent(result.json())

    @app.post("/v1/met")
    def met(body: DidIn, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            c.mark_met(who, body.did)
        return {"met": body.did}

    @app.post("/v1/questions")
    def ask(body: TextIn, who: Caller) -> dict[str, Any]:
        result = matcher.answer(who, lambda: route_question(c, who, body.text, now_ms(), body.k))
        qid = "q-" + secrets.token_urlsafe(9)
        routed = tuple(s.did for s in result.suggestions)
        with matcher.lock:
            c.note_routed(routed)
            matcher.asked[qid] = Asked(who, body.text, routed)
        return consent({"question": qid, **result.json()})

    def endorse(key: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        asked = matcher.asked.get(key)
        if asked is None or asked.by != who:
            raise HTTPException(404, f"no {key} asked by you")
        if body.subject not in asked.routed:
            raise HTTPException(400, f"{body.subject} was not suggested for {key}")
        with matcher.sync_lock:
            rec = matcher.sync.record(body.attestation)
        if rec is None or rec.type != "attest" or rec.author != who or \
                rec.body.get("subject") != body.subject:
            raise HTTPException(400, f"{body.attestation} is not your attestation about "
                                     f"{body.subject} on the node")
        matcher.pending.append(Pending(asked.kind, body.subject, body.attestation,
                                       tuple(tokenize(asked.text))))
        return {"attestation": body.attestation, "counted": "once the subject accepts it"}

    @app.post("/v1/questions/{qid}/helpful")
    def helpful(qid: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        return endorse(qid, body, who)

    @app.get("/v1/suggestions")
    def suggestions(who: Caller, k: int = 3) -> dict[str, Any]:
        matcher.catch_up()
        with matcher.lock:
            now = now_ms()
            spaces, content = suggest_spaces(c, who, now, k), suggest_content(c, who, now, k)
        return consent({"spaces": spaces.json(), "content": content.json()})

    @app.post("/v1/missions")
    def mission(body: TextIn, who: Caller) -> dict[str, Any]:
        result = matcher.answer(who, lambda: match_mission(c, who, body.text, body.k))
        mid = "m-" + secrets.token_urlsafe(9)
        with matcher.lock:
            matcher.asked[mid] = Asked(who, body.text, tuple(s.did for s in result.suggestions),
                                       kind="mission")
        return consent({"mission": mid, **result.json()})

    @app.post("/v1/missions/{mid}/feedback")
    def feedback(mid: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        return endorse(mid, body, who)

    @app.get("/v1/rides/offers")
    def offers(who: Caller) -> dict[str, Any]:
        matcher.catch_up()
        with matcher.lock:
            listed = matcher.rides.for_rider(c, who)
        return consent({"offers": [o.json() for o in listed]})

    @app.get("/v1/rides/requests")
    def requests(who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return consent({"offers": [o.json() for o in matcher.rides.for_driver(who)]})

    def act(oid: str, fn: Callable[[], Any]) -> dict[str, Any]:
        try:
            with matcher.lock:
                offer = fn()
        except RideError as e:
            raise HTTPException(409, str(e)) from None
        out: dict[str, Any] = offer.json()
        return out

    @app.post("/v1/rides/offers/{oid}/accept")
    def accept(oid: str, body: GrantIn, who: Caller) -> dict[str, Any]:
        return act(oid, lambda: matcher.rides.accept(oid, who, body.grant))

    @app.post("/v1/rides/offers/{oid}/decline")
    def decline(oid: str, who: Caller) -> dict[str, Any]:
        return act(oid, lambda: matcher.rides.decline(oid, who))

    @app.post("/v1/rides/offers/{oid}/share")
    def share(oid: str, body: GrantIn, who: Caller) -> dict[str, Any]:
        return act(oid, lambda: matcher.rides.share(oid, who, body.grant))

    return app


def serve(client: NodeClient, node: str, host: str, port: int, poll_ms: int) -> None:
    matcher = Matcher(NodeSync(client))
    app = create_app(matcher, Settings(node=node, poll_ms=poll_ms))
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1)
