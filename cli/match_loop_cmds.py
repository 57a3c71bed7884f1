"""``passport match inbox|answer|answers|helpful|intro|intros|accept-intro|decline-intro``:
questions routed to you and their answers, and introductions that end in shared contacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from cli import match_flows as member
from cli.common import AsJson, Home, Node, emit, names_for, out, table
from cli.match_common import Matcher, calling, who
from cli.output import local_time
from matching.client import Intro
from wallet.contacts import contact_of

Question = Annotated[str, typer.Argument(help="the question id (q-...)")]


def inbox(home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Questions routed to you, introductions waiting for you, answers to your questions."""
    with calling(home, node, matcher) as (_, client):
        box = client.inbox()
    if as_json:
        emit(True, {"questions": [q.__dict__ for q in box.questions],
                    "intros": [intro_json(i) for i in box.intros],
                    "answered": [q.__dict__ for q in box.answered]})
        return
    if not (box.questions or box.intros or box.answered):
        out.print("your inbox is empty")
    if box.questions:
        out.print(table(("question", "from", "asks", "answer with", "reach"), [
            [q.question, q.asker_name or q.asker, q.text,
             f"passport match answer {q.question} '...'", q.reach] for q in box.questions],
            title="questions for you"))
    if box.intros:
        out.print(table(("intro", "from", "matched on", "note", "accept with"), [
            [i.intro, i.requester_name or i.requester, i.context, i.note,
             f"passport match accept-intro {i.intro}"] for i in box.intros],
            title="introductions asked of you"))
    if box.answered:
        out.print(table(("question", "asked", "read with"), [
            [q.question, q.text, f"passport match answers {q.question}"] for q in box.answered],
            title="your questions with answers"))


def answer(question: Question, text: Annotated[str, typer.Argument(help="your answer")],
           home: Home = None, node: Node = None, matcher: Matcher = None,
           as_json: AsJson = False) -> None:
    """Answer a question routed to you; the asker sees it and may mark it helpful."""
    with calling(home, node, matcher) as (_, client):
        given = client.answer(question, text)
    emit(as_json, given.__dict__, f"answered {question} ({given.answer}); to reach the asker: "
                                  f"{given.reach}")


def answers(question: Question, home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """The answers to your question, and how to reach each answerer."""
    with calling(home, node, matcher) as (_, client):
        found = client.answers(question)
    if as_json:
        emit(True, {"question": found.question, "text": found.text,
                    "answers": [a.__dict__ for a in found.answers]})
        return
    if not found.answers:
        out.print(f"no answers to {question} yet ({found.text})")
        return
    out.print(table(("by", "answer", "helpful", "reach"), [
        [who(a.name, a.by), a.text, a.helpful or f"passport match helpful {question} {a.by}",
         a.reach] if a.by else ["-", a.text, "-", "-"]  # withdrawn by its author
        for a in found.answers], title=f"{question}: {found.text}"))


def helpful(question: Question,
            answerer: Annotated[str, typer.Argument(help="the did of who answered")],
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """Mark an answer helpful: an attestation, naming what the question was about, which the
    answerer may accept into their passport."""
    with calling(home, node, matcher) as (w, client):
        rec, about = member.mark_helpful(w, client, question, answerer)
    emit(as_json, {"attestation": rec.id, "subject": answerer, "question": question,
                   "about": about},
         f"attested {rec.id} ({about!r}); {answerer} may accept it with "
         f"'passport accept {rec.id}', and it counts once they do")


def intro_json(i: Intro, contact: Any = None) -> dict[str, Any]:
    return {**i.__dict__, "contact": contact}


def intro(did: Annotated[str, typer.Argument(help="the did of someone the matcher suggested")],
          note: Annotated[str, typer.Option(help="a few words for them")] = "",
          home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Ask to be introduced: your `contact` is granted to them; once they accept, theirs to you."""
    with calling(home, node, matcher) as (w, client):
        made = member.introduce(w, client, did, note)
    emit(as_json, intro_json(made), f"introduction {made.intro} asked of {did}; your contact "
                                    f"is granted to them (grant {made.requester_grant})")


def intros(home: Home = None, node: Node = None, matcher: Matcher = None,
           as_json: AsJson = False) -> None:
    """Your introductions, and, once accepted, the other's contact (read through their grant)."""
    with calling(home, node, matcher) as (w, client):
        found = member.intros(w, client)
        names = names_for(w)
        other = {r.other: names.of(r.other).label() for r in found}
    if as_json:
        emit(True, {"intros": [intro_json(r.intro, r.contact) for r in found]})
        return
    if not found:
        out.print("no introductions yet (see 'passport match people', 'ask', 'mission')")
        return

    def reach(r: member.Reached) -> str:
        if r.intro.status == "accepted":
            return str(r.contact) if r.contact is not None else "no contact granted to you"
        if r.intro.status == "requested" and r.intro.target == w.did:
            return f"passport match accept-intro {r.intro.intro}"
        return r.intro.status
    out.print(table(("intro", "with", "matched on", "status", "reach", "since"), [
        [r.intro.intro, other[r.other], r.intro.context, r.intro.status, reach(r),
         local_time(r.intro.at)] for r in found]))


def accept_intro(intro_id: Annotated[str, typer.Argument(help="the introduction id (i-...)")],
                 home: Home = None, node: Node = None, matcher: Matcher = None,
                 as_json: AsJson = False) -> None:
    """Accept an introduction: your `contact` is granted back; print theirs."""
    with calling(home, node, matcher) as (w, client):
        done = member.accept_intro(w, client, intro_id)
        contact = contact_of(w, done.requester)
    emit(as_json, intro_json(done, contact),
         f"introduced to {done.requester_name or done.requester}; reach them at: "
         f"{contact if contact is not None else '(they granted no contact)'}")


def decline_intro(intro_id: Annotated[str, typer.Argument(help="the introduction id (i-...)")],
                  home: Home = None, node: Node = None, matcher: Matcher = None,
                  as_json: AsJson = False) -> None:
    """Decline an introduction; nothing of yours is granted."""
    with calling(home, node, matcher) as (_, client):
        done = client.decline_intro(intro_id)
    emit(as_json, intro_json(done), f"declined {intro_id}")


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (inbox, "inbox"), (answer, "answer"), (answers, "answers"), (helpful, "helpful"),
        (intro, "intro"), (intros, "intros"), (accept_intro, "accept-intro"),
        (decline_intro, "decline-intro")]
    for fn, name in commands:
        app.command(name)(fn)
