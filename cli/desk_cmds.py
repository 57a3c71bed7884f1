"""Check-in: ``passport desk challenge`` and ``passport desk verify`` (space), ``passport
checkin`` (member)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.args import duration_ms
from cli.common import AsJson, Home, Node, emit, names_for, opened, out, table
from cli.output import local_time, value_text
from ledger.times import format_ts, now_ms
from wallet import checkin as ck
from wallet.addressbook import learn
from wallet.errors import UsageError
from wallet.wallet import Wallet

app = typer.Typer(no_args_is_help=True, help="A space's front desk: check-in challenges.")


@app.command()
def challenge(home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Issue a single-use check-in challenge: one token for the member to paste (or scan)."""
    with opened(home, node) as w:
        require_space(w, "issues check-in challenges")
        issued = ck.issue(w)
    token = issued.token()
    emit(as_json, {"challenge": token, "space": issued.space,
                   "expires": format_ts(issued.expires_ms)},
         f"{token}\n(single use, valid until {local_time(issued.expires_ms)}; the member runs "
         "'passport checkin <token>')")


EXIT_SOME_REFUSED = 3  # some check-ins verified (or none), others refused: each one is listed


@app.command()
def verify(since: Annotated[str, typer.Option(help="how far back: 1d, 12h ...")] = "1d",
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Verify the check-ins at this desk and attest presence; shows each member's granted
    fields (and only those).  Each check-in is verified on its own: one that fails is listed
    with its reason beside the others.  Exit code 0 when every check-in verified, 3 when some
    were refused (each listed), 1 when the desk could not verify at all (node unreachable)."""
    back = duration_ms(since)
    if back is None:
        raise UsageError(f"--since {since!r}: give a duration like 1d, 12h or 90m")
    with opened(home, node) as w:
        require_space(w, "verifies check-ins")
        known = ck.load_seen(w)  # one scoped read (and receipt) per check-in, ever
        seen = ck.desk_verify(w, max(now_ms() - back, 0), known=known)
        ck.save_seen(w, known)
        for s in seen:  # a granted name: the desk's own address book, never the node's
            if "member" in s:
                learn(w.home, s["member"], s.get("fields", {}).get("name"), "check-in")
        names = names_for(w)
        who = {s["member"]: names.of(s["member"]).label() for s in seen if "member" in s}
    refused = [s for s in seen if "refused" in s]
    if as_json:
        emit(True, seen)
    elif not seen:
        out.print("no check-ins yet")
    else:
        verified = [s for s in seen if "refused" not in s]
        if verified:
            out.print(table(("at", "member", "granted fields", "attestation"), [
                [local_time(s["at"]), who[s["member"]], _fields(s), s["attestation"]]
                for s in verified]))
        for s in refused:
            out.print(f"refused: check-in {s['checkin']}: {s['refused']}")
    if refused:
        raise typer.Exit(EXIT_SOME_REFUSED)


def _fields(seen: dict[str, Any]) -> str:
    shown = [f"{k}: {value_text(v)}" for k, v in seen["fields"].items()]
    shown += [f"{k}: (not readable: {why})" for k, why in seen.get("unreadable", {}).items()]
    return ", ".join(shown) or "-"


def checkin(token: Annotated[str, typer.Argument(help="the challenge token the desk shows")],
            home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(member) Check in at a space's desk by answering its challenge."""
    with opened(home, node) as w:
        if ck.Challenge.from_token(token).space == w.did:
            raise UsageError("a desk cannot check in at itself: answer the challenge from the "
                             "member's own wallet (--home)")
        record = ck.check_in(w, token)
    emit(as_json, {"record": record.id, "seq": record.seq},
         f"checked in (record {record.id}); the desk can now verify it")


def require_space(w: Wallet, what: str) -> None:
    """Only a space's wallet acts as a front desk (its role is in its key store)."""
    if w.store.role != "space":
        raise UsageError(f"only a space's desk {what}; this wallet is a {w.store.role}'s "
                         "(a desk is made with 'passport init --role space')")


def register(main: typer.Typer) -> None:
    from cli.web_cmds import serve_desk  # light: its web stack loads on call

    if not any(c.name == "serve" for c in app.registered_commands):
        app.command("serve")(serve_desk)
    main.add_typer(app, name="desk")
    main.command("checkin")(checkin)
