"""The client library for services: signed calls, verified answers, plain Python values.

A service written against ``ServiceClient`` never sees the wire format.  Every value it gets
has been checked: the record's signature under the member's keys, its inclusion in a tree head
signed by the node (whose key the service may pin), the blob's hash, and the commitment the
member signed, after decryption with the service's own key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import nacl.signing

from ledger import keys, merkle
from ledger.chain import validate_chain
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode, canonical
from ledger.errors import LedgerError, SignatureError
from ledger.records import Record, parse_record, signer_of
from passport_api.signing import sign_request
from wallet.seal import open_for


class NodeError(Exception):
    """The node refused a call; ``problem`` is its RFC 9457 body, ``code`` its stable type."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("type", "")).rsplit("/", 1)[-1]
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")


@dataclass(frozen=True)
class FieldValue:
    value: Any
    record_id: str
    grant: str


@dataclass(frozen=True)
class ReadResult:
    member: str
    values: dict[str, FieldValue]
    receipt_id: int

    def plain(self) -> dict[str, Any]:
        return {name: v.value for name, v in self.values.items()}


class NodeClient:
    """Calls to one node, signed with ``signing_key`` when the endpoint requires it."""

    def __init__(self, base_url: str, signing_key: nacl.signing.SigningKey, *,
                 log_key: bytes | None = None, timeout: float = 30.0,
                 did: str | None = None) -> None:
        self.did = did or keys.did_of(signing_key)
        self._key = signing_key
        self._log_key = log_key
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def call(self, method: str, path: str, *, json_body: Any = None,
             params: dict[str, Any] | None = None, signed: bool = True) -> httpx.Response:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        query = urlencode(params or {})
        headers = {"content-type": "application/json"} if json_body is not None else {}
        if signed:
            headers.update(sign_request(self._key, method, path, query, body, keyid=self.did))
        response = self._http.request(method, path + ("?" + query if query else ""),
                                      content=body, headers=headers)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            raise NodeError(response.status_code, problem)
        return response

    def append(self, raw: bytes, blobs: dict[str, bytes] | None = None) -> dict[str, Any]:
        body = {"record": raw.decode(), "blobs": {k: b64url_encode(v)
                                                  for k, v in (blobs or {}).items()}}
        out: dict[str, Any] = self.call("POST", "/v1/records", json_body=body,
                                        signed=False).json()
        return out

    # --- verified reads ----------------------------------------------------------------------

    def read(self, member: str, fields: list[str]) -> ReadResult:
        """The member's current values of ``fields``, each verified and decrypted."""
        out = self.call("POST", "/v1/reads", json_body={"member": member,
                                                          "fields": fields}).json()
        head = self._tree_head(out["tree_head"])
        values = {}
        for name, served in out["fields"].items():
            rec = parse_record(served["record"].encode())
            self._check_record(member, name, rec)
            merkle.verify_inclusion(merkle.leaf_hash(rec.raw), served["index"], head[0],
                                    [b64url_decode(h) for h in served["inclusion"]], head[1])
            value = open_for(b64url_decode(served["blob"]),
                             {self.did: served["wrapped_key"]}, self.did, self._key,
                             author=member, field=name, seq=rec.seq,
                             expected_commitment=rec.body["commitment"])
            values[name] = FieldValue(value, rec.id, served["grant"])
        return ReadResult(member, values, int(out["receipt"]["id"]))

    def _tree_head(self, head: dict[str, Any]) -> tuple[int, bytes]:
        note = head["checkpoint"].encode()
        if self._log_key is not None:
            parsed = parse_checkpoint(note, nacl.signing.VerifyKey(self._log_key))
            return parsed.size, parsed.root
        return int(head["size"]), base64.b64decode(head["root"])

    def _check_record(self, member: str, name: str, rec: Record) -> None:
        if rec.author != member or rec.type != "passport.set" or rec.body["field"] != name:
            raise SignatureError(f"the node served {rec.id} for {name!r}, which is not "
                                 f"{member}'s passport.set of that field")
        if signer_of(rec, [keys.public_key_from_did(member)]) is not None:
            return
        # Signed by a device or a rotated key: the member's chain says which keys were in force.
        chain: list[Record] = []
        after: int | None = 0
        while after is not None and after < rec.seq:
            page = self.call("GET", f"/v1/members/{member}/chain", signed=False,
                             params={"after_seq": after, "limit": 1000}).json()
            chain.extend(parse_record(r["record"].encode()) for r in page["records"])
            after = page["next_after_seq"]
        state = validate_chain([r for r in chain if r.seq <= rec.seq])
        if state.head != rec.id:
            raise SignatureError(f"{rec.id} is not on {member}'s chain")

    def receipts(self, member: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.call("GET", f"/v1/members/{member}/receipts").json()[
            "receipts"]
        return out


def verify_receipt(listed: dict[str, Any], log_key: bytes | None) -> dict[str, Any]:
    """An access receipt as the node listed it, parsed, its node signature checked if pinned."""
    raw = listed["receipt"].encode("utf-8")
    receipt: dict[str, Any] = json.loads(raw)
    if canonical(receipt) != raw:
        raise SignatureError(f"receipt {listed['id']} is not in canonical form")
    if log_key is not None and not keys.verify(log_key, keys.RECEIPT_DOMAIN, raw,
                                               b64url_decode(listed["node_sig"])):
        raise SignatureError(f"receipt {listed['id']} is not signed by the node's log key")
    return {"id": listed["id"], **receipt, "node_sig_verified": log_key is not None}


__all__ = ["FieldValue", "LedgerError", "NodeClient", "NodeError", "ReadResult"]
