"""The matcher's HTTP routes (FastAPI): members' signed requests in (``matching.auth``),
RFC 9457 problems out; one route per ``matching.client.MatcherClient`` method."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ledger.times import now_ms
from matching.auth import LOOP_STATUS, ProblemError, caller, problem_response
from matching.index import Content
from matching.loops import LoopError, Topic
from matching.model import Space
from matching.rank import (
    match_mission,
    people_to_meet,
    route_question,
    suggest_content,
    suggest_spaces,
)
from matching.rides import RideError
from matching.schemas import (
    AnswerIn,
    ContentIn,
    DidIn,
    EndorseIn,
    GrantIn,
    IntroIn,
    SpaceIn,
    TextIn,
)
from matching.service import Matcher
from matching.state_store import StateError, StateStore, Writer
from matching.sync import NodeSync
from matching.vector_store import VectorStore, beside
from passport_api.bodyguard import BodyGuard
from passport_api.client import NodeClient

CONSENT_RULE = ("only fields each member granted to this matcher are used; a field not "
                "granted is never read; a revoke is applied before this answer was ranked")
FORGET_NOTE = ("fields you still grant are still read; 'passport match leave' revokes them. "
               "Attestations are on members' chains, not the matcher's to delete")
log = logging.getLogger(__name__)


class Settings(BaseModel):
    node: str
    poll_ms: int = 250


Caller = Annotated[str, Depends(caller)]


def create_app(matcher: Matcher, settings: Settings) -> FastAPI:  # noqa: PLR0915  # one route each
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.poll_ms / 1000):
            try:
                matcher.poll_once()
            except Exception:  # a bad poll must not kill the loop; the next one retries
                log.exception("poll failed; retrying in %s ms", settings.poll_ms)

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
    app.state.nonce_lock = threading.Lock()
    c, loops = matcher.community, matcher.loops

    @app.exception_handler(ProblemError)
    async def problem(_: Request, e: ProblemError) -> JSONResponse:
        return problem_response(e.status, e.kind, e.detail)

    @app.exception_handler(LoopError)
    async def loop_error(_: Request, e: LoopError) -> JSONResponse:
        return problem_response(LOOP_STATUS[e.kind], e.kind, str(e))

    @app.exception_handler(RideError)
    async def ride_error(_: Request, e: RideError) -> JSONResponse:
        return problem_response(409, "conflict", str(e))

    @app.exception_handler(StateError)
    async def state_error(_: Request, e: StateError) -> JSONResponse:
        log.error("%s", e)
        return problem_response(503, "state-error", "the matcher could not save this change; "
                                                     "nothing was changed, try again")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem_response(400, "bad-request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(e.status_code, "bad-request")
        return problem_response(e.status_code, kind, str(e.detail))

    def consent(extra: dict[str, Any]) -> dict[str, Any]:
        return {**extra, "consent": {"matcher": matcher.sync.me, "rule": CONSENT_RULE,
                                     "polled": matcher.last_poll_ms}}

    def reachable(who: str, answer: dict[str, Any]) -> dict[str, Any]:
        """Each suggested person with how ``who`` can reach them (an intro, or its state)."""
        with matcher.lock:
            for s in answer.get("suggestions", []):
                s["reach"] = loops.reach(who, str(s["did"]))
        return answer

    def ranked(who: str, context: str, rank: Callable[[], Any]) -> dict[str, Any]:
        result = matcher.answer(rank)
        dids = [s.did for s in result.suggestions]
        with matcher.lock:
            new = [d for d in dids if d != who and d not in loops.matched.get(who, {})]
        if new:  # a pair already matched keeps its first context: nothing to write
            with matcher.saving() as w:
                w.matched(who, new, context)
                loops.note_matched(who, new, context)
        return reachable(who, result.json())

    def named(did: str, key: str) -> dict[str, str]:
        return {key: matcher.name_of(did)}

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
        matcher.watch(who)
        matcher.refresh([who])
        with matcher.lock:
            p = c.profiles.get(who)
        return consent({"did": who, "fields_used": sorted(p.fields) if p else []})

    @app.delete("/v1/members")
    def leave(who: Caller) -> dict[str, Any]:
        matcher.leave(who)
        return consent({"did": who, "fields_used": []})

    @app.delete("/v1/history")
    def forget(who: Caller) -> dict[str, Any]:
        """What the caller sent the matcher, deleted (``matching.forget``); counts per kind."""
        return {"did": who, **matcher.forget(who), "note": FORGET_NOTE}

    @app.post("/v1/spaces")
    def add_space(body: SpaceIn, who: Caller) -> dict[str, Any]:
        present = matcher.list_space(Space(who, body.name, body.city, tuple(body.tags)))
        return {"space": who, "name": body.name, "city": body.city, "present": present}

    @app.post("/v1/content")
    def add_content(body: ContentIn, who: Caller) -> dict[str, Any]:
        cid = "c-" + hashlib.sha256(f"{who}|{body.title}".encode()).hexdigest()[:12]
        item = Content(cid, body.title, tuple(body.tags), body.space)
        with matcher.saving() as w:
            w.content(item)
            c.add_content(item)
        return {"content": cid}

    @app.get("/v1/people")
    def people(who: Caller, k: int = 5) -> dict[str, Any]:
        return consent(ranked(who, "people to meet",
                              lambda: people_to_meet(c, who, now_ms(), max(1, min(k, 20)))))

    @app.post("/v1/met")
    def met(body: DidIn, who: Caller) -> dict[str, Any]:
        with matcher.saving() as w:
            w.met(who, body.did)
            c.mark_met(who, body.did)
        return {"met": body.did}

    @app.post("/v1/questions")
    def ask(body: TextIn, who: Caller) -> dict[str, Any]:
        result = matcher.answer(lambda: route_question(c, who, body.text, now_ms(), body.k))
        qid = "q-" + secrets.token_urlsafe(9)
        routed = tuple(s.did for s in result.suggestions)
        with matcher.saving() as w:
            opened(w, Topic(qid, "helpful", who, body.text, routed, now_ms()),
                   f"question {qid}: {body.text[:80]}")
            c.note_routed(routed)
        return consent({"question": qid, **reachable(who, result.json())})

    def opened(w: Writer, topic: Topic, context: str) -> None:
        w.topic(topic)
        w.matched(topic.by, topic.routed, context)
        loops.open(topic, context)

    def question_json(who: str, t: Topic, answered: bool) -> dict[str, Any]:
        return {"question": t.id, "asker": t.by, **named(t.by, "asker_name"), "text": t.text,
                "at": t.at_ms, "answered": answered, "reach": loops.reach(who, t.by)}

    @app.get("/v1/inbox")
    def inbox(who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return {"questions": [question_json(who, t, False) for t in loops.inbox(who)],
                    "intros": [intro_json(i) for i in loops.waiting_for(who)],
                    "answered": [question_json(who, t, True) for t in loops.answered(who)]}

    @app.post("/v1/questions/{qid}/answers")
    def answer(qid: str, body: AnswerIn, who: Caller) -> dict[str, Any]:
        with matcher.saving() as w:
            reply = loops.answer(qid, who, body.text, now_ms())
            asker = loops.topic(qid).by
            w.topic(loops.topic(qid))
        return {"answer": reply.id, "question": qid, "by": who, **named(who, "name"),
                "text": reply.text, "at": reply.at_ms, "helpful": "",
                "reach": loops.reach(who, asker)}

    @app.get("/v1/questions/{qid}/answers")
    def answers(qid: str, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            t = loops.own(qid, who)
            replies = [{"answer": r.id, "question": qid, "by": r.by, **named(r.by, "name"),
                        "text": r.text, "at": r.at_ms, "helpful": r.helpful,
                        "reach": loops.reach(who, r.by) if r.by else ""} for r in t.replies]
        return {"question": qid, "text": t.text, "answers": replies}

    @app.get("/v1/topics/{tid}")
    def topic(tid: str, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            t = loops.own(tid, who)
        return {"id": tid, "kind": t.kind, "text": t.text}

    def endorse(tid: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            loops.own(tid, who)  # before asking the node about a stranger's record
        with matcher.sync_lock:
            rec = matcher.sync.record(body.attestation)
        if rec is None or rec.type != "attest" or rec.author != who or \
                rec.body.get("subject") != body.subject:
            raise ProblemError(400, "bad-request", f"{body.attestation} is not your attestation "
                                              f"about {body.subject} on the node")
        with matcher.saving() as w:
            w.pending(loops.endorse(tid, who, body.subject, body.attestation, now_ms()))
            w.topic(loops.topic(tid))
        return {"attestation": body.attestation, "counted": "once the subject accepts it"}

    @app.post("/v1/questions/{qid}/helpful")
    def helpful(qid: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        return endorse(qid, body, who)

    @app.get("/v1/suggestions")
    def suggestions(who: Caller, k: int = 3) -> dict[str, Any]:
        matcher.catch_up()
        with matcher.lock:
            now, k = now_ms(), max(1, min(k, 20))
            spaces, content = suggest_spaces(c, who, now, k), suggest_content(c, who, now, k)
        return consent({"spaces": spaces.json(), "content": content.json()})

    @app.post("/v1/missions")
    def mission(body: TextIn, who: Caller) -> dict[str, Any]:
        result = matcher.answer(lambda: match_mission(c, who, body.text, body.k))
        mid = "m-" + secrets.token_urlsafe(9)
        with matcher.saving() as w:
            opened(w, Topic(mid, "mission", who, body.text,
                            tuple(s.did for s in result.suggestions), now_ms()),
                   f"mission {mid}: {body.text[:80]}")
        return consent({"mission": mid, **reachable(who, result.json())})

    @app.post("/v1/missions/{mid}/feedback")
    def feedback(mid: str, body: EndorseIn, who: Caller) -> dict[str, Any]:
        return endorse(mid, body, who)

    def intro_json(i: Any) -> dict[str, Any]:
        return {"intro": i.id, "requester": i.requester, **named(i.requester, "requester_name"),
                "target": i.target, **named(i.target, "target_name"), "context": i.context,
                "note": i.note, "status": i.status, "requester_grant": i.requester_grant,
                "target_grant": i.target_grant, "at": i.at_ms}

    @app.get("/v1/matched/{did}")
    def matched(did: str, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return {"did": did, "context": loops.context(who, did),
                    "reach": loops.reach(who, did)}

    @app.post("/v1/intros")
    def introduce(body: IntroIn, who: Caller) -> dict[str, Any]:
        with matcher.saving() as w:
            made = loops.introduce(who, body.target, body.note, body.grant, now_ms())
            w.intro(made)
            return intro_json(made)

    @app.get("/v1/intros")
    def intros(who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return {"intros": [intro_json(i) for i in loops.intros_of(who)]}

    @app.get("/v1/intros/{iid}")
    def intro(iid: str, who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return intro_json(loops.intro(iid, who))

    @app.post("/v1/intros/{iid}/accept")
    def accept_intro(iid: str, body: GrantIn, who: Caller) -> dict[str, Any]:
        if not body.grant:
            raise ProblemError(400, "bad-request", "accepting an introduction needs the grant of "
                                              "your contact to them")
        with matcher.saving() as w:
            done = loops.answer_intro(iid, who, body.grant)
            w.intro(done)
            return intro_json(done)

    @app.post("/v1/intros/{iid}/decline")
    def decline_intro(iid: str, who: Caller) -> dict[str, Any]:
        with matcher.saving() as w:
            done = loops.answer_intro(iid, who, None)
            w.intro(done)
            return intro_json(done)

    @app.get("/v1/rides/offers")
    def offers(who: Caller) -> dict[str, Any]:
        matcher.catch_up()
        with matcher.saving() as w:
            before = {o.id: o for o in matcher.rides.offers.values() if o.rider == who}
            listed = matcher.rides.for_rider(c, who)
            for o in listed:
                if before.get(o.id) != o:
                    w.offer(o)
            for oid in before.keys() - {o.id for o in listed}:
                w.drop_offer(oid)
        return consent({"offers": [o.json() for o in listed]})

    @app.get("/v1/rides/requests")
    def requests(who: Caller) -> dict[str, Any]:
        with matcher.lock:
            return consent({"offers": [o.json() for o in matcher.rides.for_driver(who)]})

    def act(fn: Callable[[], Any]) -> dict[str, Any]:
        with matcher.saving() as w:
            offer = fn()
            w.offer(offer)
        out: dict[str, Any] = offer.json()
        return out

    @app.post("/v1/rides/offers/{oid}/accept")
    def accept(oid: str, body: GrantIn, who: Caller) -> dict[str, Any]:
        return act(lambda: matcher.rides.accept(oid, who, body.grant))

    @app.post("/v1/rides/offers/{oid}/decline")
    def decline(oid: str, who: Caller) -> dict[str, Any]:
        return act(lambda: matcher.rides.decline(oid, who))

    @app.post("/v1/rides/offers/{oid}/share")
    def share(oid: str, body: GrantIn, who: Caller) -> dict[str, Any]:
        return act(lambda: matcher.rides.share(oid, who, body.grant))

    return app


def open_matcher(client: NodeClient, state: Path) -> Matcher:
    """The matcher with what its state file holds, its community read again from the node
    (``StateError``, one line, if the file cannot be used)."""
    matcher = Matcher(NodeSync(client), state=StateStore.open(state, client.did),
                      vectors=VectorStore.open(beside(state)))
    matcher.restore()
    return matcher


def serve(client: NodeClient, node: str, host: str, port: int, poll_ms: int, *,
          state: Path) -> None:
    """Run the matcher on ``host:port`` reading ``node`` as ``client``'s service, keeping its
    own state in ``state`` (``matching.state_store.FILE_NAME`` in its home by default)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    matcher = open_matcher(client, state)
    app = create_app(matcher, Settings(node=node, poll_ms=poll_ms))
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1)
