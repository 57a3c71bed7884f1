"""``passport match ...``: the matcher service, and what members, spaces and companies ask it.

Every command but ``serve`` opens the caller's wallet and signs its requests to the matcher with
the wallet's key in force (``matching.client``); what is written to the member's chain, and in
what order, is ``matching.member``.  This module parses, calls and prints.  The loops (inbox,
answers, introductions) are in ``cli.match_loop_cmds``; structured fields and rides in
``cli.match_field_cmds``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from cli import match_field_cmds, match_loop_cmds
from cli import match_flows as member
from cli.args import expiry_ms, split_fields
from cli.common import AsJson, Home, Node, Yes, confirm, emit, opened, out
from cli.match_common import Matcher, calling, show
from matching.client import Forgotten

JOIN_FIELDS = "name,expertise,can_help_with,looking_for,interests,city,space,leaving_at"

app = typer.Typer(no_args_is_help=True, help="The matcher: people to meet, questions, spaces, "
                  "rides and missions, on the fields you grant it.")


def serve(home: Home = None, node: Node = None,
          host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8500,
          poll_ms: Annotated[int, typer.Option(help="re-read members' chains every N ms")] = 250,
          state: Annotated[Path | None, typer.Option(
              help="the matcher's state file (default: matcher-state.sqlite in the wallet "
                   "directory)", show_default=False)] = None,
          ) -> None:
    """Run the matcher (or ride service) as its own HTTP service, with this wallet's key."""
    from matching.app import serve as run
    from matching.state_store import FILE_NAME
    from passport_api.client import NodeClient

    with opened(home, node) as w:
        key, did, where, wallet_home = w.author.signing_key, w.did, w.node, w.home
    path = state or Path(wallet_home) / FILE_NAME
    out.print(f"matcher {did} on http://{host}:{port}, reading {where}, state in {path}")
    run(NodeClient(where, key, did=did), where, host, port, poll_ms, state=path)


def join(fields: Annotated[str, typer.Option(help="fields the matcher may read")] = JOIN_FIELDS,
         expires: Annotated[str, typer.Option(help="30d, 12h, or an RFC 3339 time")] = "30d",
         home: Home = None, node: Node = None, matcher: Matcher = None,
         as_json: AsJson = False) -> None:
    """Grant the matcher these fields and tell it you joined; it reads nothing else."""
    names, until = split_fields(fields), expiry_ms(expires)
    with calling(home, node, matcher) as (w, client):
        joined, gid, new = member.join(w, client, names, until)
    emit(as_json, {"did": joined.did, "fields_used": list(joined.fields_used), "grant": gid,
                   "new_grant": new},
         f"joined (grant {gid}{'' if new else ', already in force'}); the matcher uses: "
         f"{', '.join(joined.fields_used) or 'nothing yet'}")


FORGET_LINES = [
    "The matcher deletes what you sent it: your questions and missions (with the answers to",
    "them), your answers on others' questions (each becomes 'withdrawn by its author' in the",
    "asker's thread), whom it matched you with and whom you met, endorsements waiting or",
    "counted, introductions not accepted and ride offers not agreed.",
    "It keeps, for the other member: accepted introductions (without your note) and ride",
    "agreements for today or later.  Attestations on members' chains stay on the ledger."]


def forgotten_text(done: Forgotten) -> str:
    def said(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n) or "nothing"
    return f"deleted: {said(done.deleted)}; kept for the other members: {said(done.kept)}"


def forget(yes: Yes = False, home: Home = None, node: Node = None, matcher: Matcher = None,
           as_json: AsJson = False) -> None:
    """Delete what you sent the matcher (questions, answers, matches, introductions, rides)."""
    confirm(FORGET_LINES, "Delete it?", yes)
    with calling(home, node, matcher) as (_, client):
        done = client.forget()
    emit(as_json, done.json(), f"{forgotten_text(done)}\n{done.note}")


def leave(also_forget: Annotated[bool, typer.Option(
              "--forget", help="also delete what you sent the matcher (as 'match forget')")
          ] = False, yes: Yes = False,
          home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """Revoke every live grant to the matcher and leave it; --forget deletes your history too."""
    if also_forget:
        confirm(FORGET_LINES, "Leave and delete it?", yes)
    with calling(home, node, matcher) as (w, client):
        revoked = member.leave(w, client)
        done = client.forget() if also_forget else None
    text = f"left; revoked {', '.join(revoked) or 'no grants'}; " + (
        forgotten_text(done) if done is not None else
        "your questions, answers and introductions stay with the matcher "
        "('passport match forget' deletes them)")
    emit(as_json, {"revoked": revoked, **({"forgotten": done.json()} if done else {})}, text)


def checkin(token: Annotated[str, typer.Argument(help="the desk's passport-checkin:... token")],
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """Check in at a desk, then set your `space` field (sealed to whom you granted it)."""
    with calling(home, node, matcher) as (w, client):
        record, space, told = member.checkin(w, client, token)
    emit(as_json, {"checkin": record.id, "space": space, "matcher_told": told},
         f"checked in at {space}; your 'space' field says so to whom you granted it"
         + ("" if told else " (the matcher was not reachable; it reads it on its next poll)"))


def people(k: Annotated[int, typer.Option(min=1, max=20, help="how many")] = 5,
           home: Home = None, node: Node = None, matcher: Matcher = None,
           as_json: AsJson = False) -> None:
    """People to meet now, at your space or nearby, why, and how to reach them."""
    with calling(home, node, matcher) as (_, client):
        answer = client.people(k)
    show(as_json, answer, "people to meet now")


def ask(question: Annotated[str, typer.Argument(help="your question")],
        home: Home = None, node: Node = None, matcher: Matcher = None,
        as_json: AsJson = False) -> None:
    """Route your question to three members likely to answer; they see it in their inbox."""
    with calling(home, node, matcher) as (_, client):
        answer = client.ask(question)
    show(as_json, answer, f"question {answer.id}: sent to their inbox; see the answers with "
                          f"'passport match answers {answer.id}'")


def suggest(k: Annotated[int, typer.Option(min=1, max=20, help="how many of each")] = 3,
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """Spaces and content to suggest from your interests and the community's check-ins."""
    with calling(home, node, matcher) as (_, client):
        spaces, content = client.suggestions(k)
    if as_json:
        emit(True, {"spaces": spaces.json(), "content": content.json()})
        return
    show(False, spaces, "spaces", people=False)
    show(False, content, "content", people=False)


def space(name: Annotated[str, typer.Option(help="the space's name")],
          city: Annotated[str, typer.Option(help="its city")],
          tags: Annotated[str, typer.Option(help="comma-separated tags")] = "",
          home: Home = None, node: Node = None, matcher: Matcher = None,
          as_json: AsJson = False) -> None:
    """(space) List this space in the matcher's directory."""
    with calling(home, node, matcher) as (_, client):
        listed = client.list_space(name, city, [t.strip() for t in tags.split(",") if t.strip()])
    emit(as_json, {"space": listed.space, "name": listed.name, "city": listed.city,
                   "present": listed.present},
         f"{name} ({city}) listed as {listed.space}; {listed.present} member(s) present now")


def mission(need: Annotated[str, typer.Argument(help="what the company needs")],
            k: Annotated[int, typer.Option(min=1, max=20, help="how many")] = 5,
            home: Home = None, node: Node = None, matcher: Matcher = None,
            as_json: AsJson = False) -> None:
    """(company) Freelancers for a mission, and how to reach them."""
    with calling(home, node, matcher) as (_, client):
        answer = client.mission(need, k)
    show(as_json, answer, f"mission {answer.id}")


def feedback(mission_id: Annotated[str, typer.Argument(help="the mission id (m-...)")],
             freelancer: Annotated[str, typer.Argument(help="the freelancer's did")],
             rating: Annotated[int, typer.Option(min=1, max=5, help="1 to 5")],
             comment: Annotated[str, typer.Option(help="a few words")] = "",
             home: Home = None, node: Node = None, matcher: Matcher = None,
             as_json: AsJson = False) -> None:
    """(company) Feedback at a mission's end: an attestation the freelancer may accept."""
    with calling(home, node, matcher) as (w, client):
        rec = member.mission_feedback(w, client, mission_id, freelancer, rating=rating,
                                      comment=comment)
    emit(as_json, {"attestation": rec.id, "subject": freelancer, "mission": mission_id},
         f"attested {rec.id}; {freelancer} may accept it with 'passport accept {rec.id}', "
         "and it counts once they do")


_COMMANDS: list[tuple[Callable[..., None], str]] = [
    (serve, "serve"), (join, "join"), (leave, "leave"), (forget, "forget"),
    (checkin, "checkin"),
    (people, "people"), (ask, "ask"), (suggest, "suggest"), (space, "space"),
    (mission, "mission"), (feedback, "feedback")]
for _fn, _name in _COMMANDS:
    app.command(_name)(_fn)
match_loop_cmds.register(app)
match_field_cmds.register(app)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="match")
    import cli.match_eval_cmds  # noqa: F401 (adds 'match eval' to app)
