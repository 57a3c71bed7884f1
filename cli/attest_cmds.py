"""``passport attest``, ``attestations`` and ``accept``: statements about another party,
sealed to the two of them, which the subject may accept into their passport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from cli.common import AsJson, Home, Node, emit, names_for, opened, out, table
from cli.output import local_time
from wallet import attest as attestations_of


def attest(did: Annotated[str, typer.Argument(help="the subject's did:key")],
           claim: Annotated[str, typer.Option(help="what you state, as a JSON object, e.g. "
                                              "'{\"kind\": \"presence\"}'")],
           about: Annotated[str | None, typer.Option(
               help="the record id it is about (a check-in, an answer), optional")] = None,
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Attest something about a party: sealed so only they and you can read the claim."""
    parsed = attestations_of.parse_claim(claim)
    with opened(home, node) as w:
        subject = names_for(w).of(did)
        record = attestations_of.attest(w, did, parsed, about)
    emit(as_json, {"attestation": record.id, "subject": did, "seq": record.seq},
         f"attested about {subject.label()} (attestation {record.id}); they may accept it with "
         f"'passport accept {record.id}'")


def attestations(full_dids: Annotated[bool, typer.Option("--full-dids", help="print whole "
                                                         "dids in tables")] = False,
                 home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """The attestations about you, opened with your key, and whether you accepted each."""
    with opened(home, node) as w:
        found = attestations_of.attestations(w)
        names = names_for(w)
        who = {a.attester: names.of(a.attester) for a in found}
    if as_json:
        emit(True, {"subject": w.did, "attestations": [
            {**a.json(), "attester_party": who[a.attester].to_json()} for a in found]})
        return
    if not found:
        out.print("nobody has attested anything about you yet", markup=False)
        return
    out.print(table(("attestation", "attester", "at", "claim", "accepted"), [
        [a.id, who[a.attester].label(full=full_dids), local_time(a.ts),
         "(sealed, not to your keys)" if a.claim is None
         else json.dumps(a.claim, ensure_ascii=False, sort_keys=True),
         "yes" if a.accepted else "no"] for a in found], title=w.did))


def accept(attestation: Annotated[str, typer.Argument(help="the attestation's record id")],
           home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Accept an attestation about you into your passport (an attest.accept on your chain)."""
    with opened(home, node) as w:
        record = attestations_of.accept(w, attestation)
    emit(as_json, {"attestation": attestation, "record": record.id, "seq": record.seq},
         f"accepted {attestation} (record {record.id})")


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (attest, "attest"), (attestations, "attestations"), (accept, "accept")]
    for fn, name in commands:
        app.command(name)(fn)
