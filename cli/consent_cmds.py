"""Consent with a look before you leap: ``passport grant``, ``revoke``, ``grants``, ``receipts``.

A party is named by its did or by a name (the node's directory of organisations, then the
member's own contacts); a name that fits several parties is refused with the candidates.  A
grant, a revoke by name or of everything, shows who, what and until when, and asks first.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.args import check_fields, expiry_ms, split_fields
from cli.common import (
    AsJson,
    Home,
    Node,
    Yes,
    confirm,
    emit,
    names_for,
    opened,
    out,
    public_notice,
    table,
)
from cli.output import local_time
from ledger.consent import Grant
from ledger.times import now_ms
from wallet.errors import UsageError
from wallet.names import Party
from wallet.wallet import Wallet, grant_json

Custom = Annotated[bool, typer.Option("--custom", help="allow field names that are not "
                                                       "standard fields")]
FullDids = Annotated[bool, typer.Option("--full-dids", help="print whole dids in tables")]


def who_lines(party: Party) -> list[str]:
    """How a party is shown before consent: its name and where the name comes from, or a
    loud warning that nobody knows who it is."""
    if party.name is None:
        return [f"  to:      {party.did}",
                "  !!! UNKNOWN PARTY: not in the node's directory nor in your contacts. Check "
                "this did with its owner before you go on. !!!"]
    source = ("its own signed profile in the node's directory" if party.source == "directory"
              else f"your contacts ({party.source})")
    return [f"  to:      {party.label(full=False)}", f"  did:     {party.did}",
            f"  name from {source}"]


def grant(did: Annotated[str, typer.Argument(
              help="the service's or space's name (see 'passport directory') or did:key")],
          fields: Annotated[str, typer.Option(help="comma-separated field names")],
          purpose: Annotated[str, typer.Option(
              help="why, in a few words (public: stored in clear on the ledger)")],
          expires: Annotated[str, typer.Option(help="30d, 12h, 2w, or an RFC 3339 time")] = "30d",
          yes: Yes = False, custom: Custom = False,
          home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Let a service or space read these fields until the grant expires or you revoke it."""
    names = check_fields(split_fields(fields), custom)
    until = expiry_ms(expires)
    if not purpose.strip():
        raise UsageError("--purpose: say why in a few words, e.g. --purpose 'ride matching'")
    with opened(home, node) as w:
        party = names_for(w).resolve(did)
        missing = [f for f in names if w.view().value(f) is None]
        lines = ["Grant", *who_lines(party), f"  fields:  {', '.join(names)}",
                 f"  purpose: {purpose} (public: in clear on the ledger)",
                 f"  until:   {local_time(until)}"]
        if missing:
            lines.append(f"  (no value yet for {', '.join(missing)}: the grantee reads it once "
                         "you set it)")
        confirm(lines, "Grant?", yes)
        gid = w.grant(party.did, names, purpose, until)
        g = w.view().grants[gid]
    public_notice(f"the purpose {purpose[:60]!r}")
    emit(as_json, {**grant_json(g, now_ms()), "grantee_party": party.to_json()},
         f"grant {gid}: {party.label()} may read {', '.join(names)} until "
         f"{local_time(g.expires_ms)}")


def _grant_row(g: Grant, party: Party, now: int) -> str:
    return (f"  {g.grant_id}  {party.label()}  {', '.join(g.fields)}  until "
            f"{local_time(g.expires_ms)}  ({g.status(now)})")


def revoke(which: Annotated[str | None, typer.Argument(
               help="a grant id (see 'passport grants'), or a party's name or did: every live "
                    "grant to it")] = None,
           all_: Annotated[bool, typer.Option("--all", help="every live grant")] = False,
           yes: Yes = False, home: Home = None, node: Node = None,
           as_json: AsJson = False) -> None:
    """End grants now: the node stops serving them, later values leave the grantee out."""
    if (which is None) == (not all_):
        raise UsageError("name what to revoke: a grant id, a party's name or did, or --all")
    with opened(home, node) as w:
        now = now_ms()
        names = names_for(w)
        chosen = _to_revoke(w, which, now)
        if which is None or not which.startswith("g-"):  # by party or everything: ask first
            confirm(["Revoke", *(_grant_row(g, names.of(g.grantee), now) for g in chosen)],
                    f"Revoke {len(chosen)} grant(s)?", yes)
        done = [(g, w.revoke(g.grant_id)) for g in chosen]
    emit(as_json, [{"grant": g.grant_id, "grantee": g.grantee, "record": r.id,
                    "status": "revoked"} for g, r in done],
         "\n".join(f"grant {g.grant_id} revoked ({names.of(g.grantee).label()})"
                   for g, _ in done))


def _to_revoke(w: Wallet, which: str | None, now: int) -> list[Grant]:
    grants = w.view().grants
    if which is not None and which.startswith("g-"):
        found = grants.get(which)
        if found is None:
            raise UsageError(f"no grant {which!r} in your passport (see 'passport grants')")
        if found.revoked:
            raise UsageError(f"grant {which} was already revoked")
        return [found]
    live = [g for g in grants.values() if g.status(now) == "live"]
    if which is not None:
        party = names_for(w).resolve(which)
        live = [g for g in live if g.grantee == party.did]
        if not live:
            raise UsageError(f"no live grant to {party.label()} (see 'passport grants')")
    elif not live:
        raise UsageError("no live grant to revoke")
    return live


def grants(full_dids: FullDids = False, home: Home = None, node: Node = None,
           as_json: AsJson = False) -> None:
    """Every grant you made: who, which fields, until when, and whether it is live."""
    with opened(home, node) as w:
        now = now_ms()
        listed = list(w.view().grants.values())
        names = names_for(w)
        parties = {g.grantee: names.of(g.grantee) for g in listed}
    if as_json:
        emit(True, [{**grant_json(g, now), "grantee_party": parties[g.grantee].to_json()}
                    for g in listed])
        return
    out.print(table(("grant", "grantee", "fields", "purpose", "until", "status"), [
        [g.grant_id, parties[g.grantee].label(full=full_dids), ", ".join(g.fields), g.purpose,
         local_time(g.expires_ms), g.status(now)] for g in listed]) if listed else "no grants")


def receipts(full_dids: FullDids = False, home: Home = None, node: Node = None,
             as_json: AsJson = False) -> None:
    """Who read what of your passport, and when: every scoped read leaves a signed receipt."""
    with opened(home, node) as w:
        listed = w.receipts()
        names = names_for(w)
        parties = {r["service"]: names.of(r["service"]) for r in listed}
    if as_json:
        emit(True, [{**r, "service_party": parties[r["service"]].to_json()} for r in listed])
        return
    out.print(table(("when", "service", "fields", "grant", "served by"), [
        [local_time(r["served"]), parties[r["service"]].label(full=full_dids),
         ", ".join(f["field"] for f in r["fields"]),
         ", ".join(sorted({f["grant"] for f in r["fields"]})), str(r.get("node", ""))]
        for r in listed])
        if listed else "no reads of your passport yet")


def register(app: typer.Typer) -> None:
    for fn, name in ((grant, "grant"), (revoke, "revoke"), (grants, "grants"),
                     (receipts, "receipts")):
        app.command(name)(fn)
