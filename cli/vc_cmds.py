"""``passport present`` and ``passport verify-presentation``: one field, or an attestation about
the member, as a W3C Verifiable Credential 2.0 with an eddsa-jcs-2022 Data Integrity proof, for
verifiers outside Passport (docs/protocol.md, "Verifiable Credentials")."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import AsJson, Home, Node, emit, opened
from cli.ledger_cmds import _pinned
from cli.output import value_text
from wallet.errors import PresentationInvalidError, UsageError


def present(
    field: Annotated[str | None, typer.Argument(help="the field to present, e.g. city")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="where to write the credential "
                                             "(JSON); - for stdout")] = None,
    attestation: Annotated[str | None, typer.Option(
        help="present this attestation about you (its record id) instead of a field")] = None,
    with_proof: Annotated[bool, typer.Option(
        "--with-proof", help="include the record, its inclusion proof and the signed "
        "checkpoint")] = False,
    home: Home = None, node: Node = None, as_json: AsJson = False) -> None:
    """Write a Verifiable Credential of one field (value and salt) or of an attestation."""
    from wallet import vc_present
    from wallet.keystore import write_private

    if (field is None) == (attestation is None):
        raise UsageError("name a FIELD to present, or --attestation ID, not both")
    if out is None:
        raise UsageError("--out FILE: where to write the credential (- for stdout)")
    with opened(home, node) as w:
        if attestation is not None:
            credential = vc_present.present_attestation(w, attestation, with_proof=with_proof)
        else:
            assert field is not None
            credential = vc_present.present_field(w, field, with_proof=with_proof)
    text = json.dumps(credential, indent=2, ensure_ascii=False) + "\n"
    if str(out) == "-":
        sys.stdout.write(text)
        return
    try:
        write_private(out, text.encode("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    what = f"attestation {attestation}" if attestation else f"field {field!r}"
    emit(as_json, {"out": str(out), "kind": credential["type"][1], "issuer": w.did,
                   "verificationMethod": credential["proof"]["verificationMethod"]},
         f"{what} written to {out} as a Verifiable Credential signed by "
         f"{credential['proof']['verificationMethod']}")


def _read(file: Path) -> Any:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError, RecursionError) as e:
        raise PresentationInvalidError("format", f"cannot read a JSON credential from {file}: "
                                  f"{e}") from None


def verify_presentation(
    file: Annotated[Path, typer.Argument(help="the credential (JSON); - for stdin")],
    log_key: Annotated[str | None, typer.Option(
        help="the node's log public key (hex or did:key), to check the checkpoint's "
        "signature")] = None,
    chain: Annotated[list[Path] | None, typer.Option(
        help="an export file (passport export) of the member's or attester's chain, to check "
        "keys in force after rotations; repeatable")] = None,
    as_json: AsJson = False) -> None:
    """Check a presented credential offline: the proof, the commitment, the record, the log."""
    from wallet import portable
    from wallet.vc_verify import verify_presentation as verify

    chains = {}
    for path in chain or []:
        verified_export = portable.verify_export(portable.read(path))
        chains[verified_export.member] = verified_export.records
    result = verify(_read(file), log_key=_pinned(log_key), chains=chains)
    if as_json:
        emit(True, result.json())
        return
    for check in result.checks:
        print(f"{check.status}: {check.name}: {check.detail}")
    print(f"ok: {result.kind} of {result.member} verifies")
    subject = result.subject
    if "field" in subject:  # what was verified, not only that it was
        print(f"{subject['field']}: {value_text(subject.get('value'))}")
    elif "claim" in subject:
        print(f"claim: {value_text(subject['claim'])}")


def register(app: typer.Typer) -> None:
    commands: list[tuple[Callable[..., None], str]] = [
        (present, "present"), (verify_presentation, "verify-presentation")]
    for fn, name in commands:
        app.command(name)(fn)
