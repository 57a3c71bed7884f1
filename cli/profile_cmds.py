"""Names: an organisation's public profile (``passport profile``), the node's directory of
them (``passport directory``), and the member's private contacts (``passport contacts``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import AsJson, Home, Node, emit, home_of, node_of, opened, out, table
from cli.output import local_time
from ledger.profiles import Profile
from passport_api.client import NodeClient
from wallet.addressbook import AddressBook
from wallet.keeper import talking_to
from wallet.names import short_did
from wallet.profile import own_profile, publish

Text = Annotated[str | None, typer.Option(show_default=False)]


def _profile_text(p: Profile) -> str:
    parts = [f"{p.name} · {p.kind} · {p.did}"]
    parts += [f"{k}: {v}" for k, v in (("city", p.city), ("description", p.description),
                                       ("web", p.web)) if v]
    parts.append(f"published {local_time(p.ts)} (record {p.record_id})")
    return "\n".join(parts)


def profile(name: Annotated[str | None, typer.Option(help="a new public name")] = None,
            city: Annotated[str | None, typer.Option(help="the space's city ('' removes it)")
                            ] = None,
            description: Annotated[str | None, typer.Option(
                help="a short description ('' removes it)")] = None,
            web: Annotated[str | None, typer.Option(help="web address ('' removes it)")] = None,
            home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """(space, service) Show your public profile; with options, publish an updated one."""
    with opened(home, node) as w:
        if any(v is not None for v in (name, city, description, web)):
            shown = publish(w, name=name, city=city, description=description, web=web)
        else:
            found = own_profile(w)
            if found is None:
                emit(as_json, None, "no public profile (members have none: their name is a "
                     "sealed field)" if w.store.role == "member" else
                     "no public profile yet: 'passport profile --name ...'")
                return
            shown = found
    emit(as_json, shown.to_json(), _profile_text(shown))


def directory(query: Annotated[str, typer.Argument(help="part of a name; empty: all")] = "",
              home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The node's directory of spaces, services and nodes (public profiles), by name."""
    del home  # public: no wallet needed (accepted so that every command takes --home)
    url = node_of(node)
    with talking_to(url):
        found = NodeClient(url).directory(query)
    if as_json:
        emit(True, [p.to_json() for p in found])
        return
    out.print(table(("name", "kind", "city", "did", "web"), [
        [p.name, p.kind, p.city or "", p.did, p.web or ""] for p in found])
        if found else f"no one in the directory of {url} matches {query!r}")


contacts_app = typer.Typer(no_args_is_help=True, help="Your private address book: names of "
                                                      "people and places, never sent to a node.")


@contacts_app.command("add")
def contacts_add(did: Annotated[str, typer.Argument(help="their did:key")],
                 name: Annotated[str, typer.Argument(help="the name you know them by")],
                 home: Home = None, as_json: AsJson = False) -> None:
    """Remember a name for a did (on this machine only)."""
    book = AddressBook.load(home_of(home))
    contact = book.add(did, name)
    book.save()
    assert contact is not None  # a typed name is either taken or refused
    emit(as_json, contact.__dict__, f"{contact.name} · {short_did(did)} added to your contacts")


@contacts_app.command("list")
def contacts_list(full_dids: Annotated[bool, typer.Option("--full-dids")] = False,
                  home: Home = None, as_json: AsJson = False) -> None:
    """Everyone in your address book, and how the wallet learned each name."""
    listed = AddressBook.load(home_of(home)).all()
    if as_json:
        emit(True, [c.__dict__ for c in listed])
        return
    out.print(table(("name", "did", "from", "since"), [
        [c.name, c.did if full_dids else short_did(c.did), c.source, local_time(c.added_ms)]
        for c in listed]) if listed else "no contacts yet ('passport contacts add DID NAME')")


@contacts_app.command("remove")
def contacts_remove(did: Annotated[str, typer.Argument(help="their did:key")],
                    home: Home = None, as_json: AsJson = False) -> None:
    """Forget a name."""
    book = AddressBook.load(home_of(home))
    contact = book.remove(did)
    book.save()
    emit(as_json, contact.__dict__, f"{contact.name} removed from your contacts")


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
    app.command("directory")(directory)
    app.add_typer(contacts_app, name="contacts")
