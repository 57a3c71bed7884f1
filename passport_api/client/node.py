"""``NodeClient``: one method per route of a Passport node, the only HTTP to a node.

Every answer comes back as a frozen value of ``results``; every refusal as a ``NodeError``
subclass.  Reads of values are verified here (record signature under the keys in force,
inclusion in a signed head, blob hash, commitment), so a service never sees the wire format.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import nacl.signing

from ledger import keys, merkle
from ledger.chain import ChainState, advance
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode, canonical
from ledger.errors import SignatureError
from ledger.profiles import PROFILE_TYPE, Profile, profile_of
from ledger.records import Record, parse_record, signer_of
from ledger.seal import open_blob, open_for
from passport_api.client import transport
from passport_api.client.errors import NodeAnswerError, NodeError, NodeNotFoundError
from passport_api.client.results import (
    Appended,
    Attestation,
    BatchAppended,
    Erasure,
    FieldValue,
    Health,
    LogEntry,
    NodeRecord,
    PeerBlobs,
    Proof,
    ReadResult,
    SignedHead,
)
from passport_api.signing import sign_request

PAGE = 1000  # records per page of the pagers (the node's largest page)

JsonDict = dict[str, Any]


def _record(d: JsonDict) -> NodeRecord:
    rec = parse_record(str(d["record"]).encode("utf-8"))
    if "id" in d and d["id"] != rec.id:
        raise NodeAnswerError(200, {"detail": f"the node served {rec.id} as {d['id']}"})
    return NodeRecord(int(d["index"]), rec)


class NodeClient:
    """Calls to one node, signed with ``signing_key`` where the route requires it."""

    def __init__(self, base_url: str, signing_key: nacl.signing.SigningKey | None = None, *,
                 log_key: bytes | None = None, timeout: float = transport.DEFAULT_TIMEOUT_S,
                 did: str | None = None) -> None:
        self.url = base_url.rstrip("/")
        self.did = did or (keys.did_of(signing_key) if signing_key is not None else "")
        self._key = signing_key
        self._log_key = log_key
        self._timeout = timeout
        self._chains: dict[str, ChainState] = {}  # members' verified chain states (reads)

    def close(self) -> None:
        """Nothing to release: the connection pool is the process's (``transport``)."""

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def call(self, method: str, path: str, *, json_body: Any = None,
             params: dict[str, Any] | None = None, signed: bool = True) -> transport.Answer:
        """One request to ``path`` (``/v1/...``), signed if asked; refusals raise."""
        body = b"" if json_body is None else json.dumps(json_body).encode()
        query = urlencode(params or {})
        headers = {"content-type": "application/json"} if json_body is not None else {}
        if signed:
            if self._key is None:
                raise ValueError(f"{method} {path} must be signed: this client holds no key")
            headers.update(sign_request(self._key, method, path, query, body, keyid=self.did))
        return transport.send(self.url, method, path + ("?" + query if query else ""),
                              content=body, headers=headers, timeout=self._timeout)

    def _get(self, path: str, **params: Any) -> JsonDict:
        return transport.json_of(self.call("GET", path, params=params or None, signed=False))

    # --- the log ----------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Whether ``/v1/health`` answers 200 now (start-up waits poll this; any service)."""
        try:
            self.call("GET", "/v1/health", signed=False)
        except NodeError:
            return False
        return True

    def health(self) -> Health:
        d = self._get("/v1/health")
        return Health(str(d["status"]), str(d["origin"]), int(d["size"]),
                      bytes.fromhex(d["log_key"]))

    def log_head(self) -> SignedHead:
        return SignedHead.of(self._get("/v1/log/head"))

    def log_head_at(self, size: int) -> SignedHead:
        return SignedHead.of(self._get(f"/v1/log/heads/{size}"))

    def inclusion_proof(self, index: int, size: int) -> Proof:
        return Proof(tuple(self._get("/v1/log/proofs/inclusion", index=index,
                                     size=size)["hashes"]))

    def consistency_proof(self, old_size: int, new_size: int) -> Proof:
        return Proof(tuple(self._get("/v1/log/proofs/consistency", old_size=old_size,
                                     new_size=new_size)["hashes"]))

    def log_entries(self, start: int, limit: int) -> tuple[LogEntry, ...]:
        got = self._get("/v1/log/entries", start=start, limit=limit)["entries"]
        return tuple(LogEntry(int(e["index"]), str(e["record"]).encode("utf-8")) for e in got)

    # --- records ----------------------------------------------------------------------------

    def append(self, raw: bytes, blobs: dict[str, bytes] | None = None) -> Appended:
        d = transport.json_of(self.call("POST", "/v1/records", signed=False, json_body={
            "record": raw.decode("utf-8"),
            "blobs": {k: b64url_encode(v) for k, v in (blobs or {}).items()}}))
        return Appended(int(d["index"]), str(d["id"]), bool(d["duplicate"]),
                        SignedHead.of(d["tree_head"]))

    def append_batch(self, raws: list[bytes], blobs: dict[str, bytes] | None = None,
                     erasures: dict[str, bytes] | None = None) -> BatchAppended:
        """``erasures``: the author's signed order for each named value erased before (an
        imported passport), stored erased with its order."""
        body: JsonDict = {
            "records": [r.decode("utf-8") for r in raws],
            "blobs": {k: b64url_encode(v) for k, v in sorted((blobs or {}).items())}}
        if erasures:
            body["erasures"] = {k: v.decode("utf-8") for k, v in sorted(erasures.items())}
        d = transport.json_of(self.call("POST", "/v1/records/batch", signed=False,
                                        json_body=body))
        return BatchAppended(tuple(d["indexes"]), tuple(d["ids"]), int(d["duplicates"]),
                             SignedHead.of(d["tree_head"]))

    def record(self, record_id: str) -> NodeRecord:
        return _record(self._get(f"/v1/records/{record_id}"))

    def chain_page(self, did: str, after_seq: int = 0, limit: int = PAGE
                   ) -> tuple[tuple[NodeRecord, ...], int | None]:
        d = self._get(f"/v1/members/{did}/chain", after_seq=after_seq, limit=limit)
        return tuple(_record(r) for r in d["records"]), d["next_after_seq"]

    def chain(self, did: str, after_seq: int = 0, *, up_to_seq: int | None = None,
              page: int = PAGE) -> Iterator[NodeRecord]:
        """The one chain pager: ``did``'s records after ``after_seq`` in seq order."""
        after: int | None = after_seq
        while after is not None and (up_to_seq is None or after < up_to_seq):
            served_page, after = self.chain_page(did, after, page)
            for served in served_page:
                if up_to_seq is not None and served.record.seq > up_to_seq:
                    return
                yield served

    def follow_chain(self, did: str, state: ChainState | None) -> ChainState | None:
        """``state`` advanced over the records the node has after it (None: no chain yet)."""
        for served in self.chain(did, 0 if state is None else state.seq):
            state = advance(state or ChainState.genesis(did), served.record)
        return state

    def attestations(self, subject: str) -> Iterator[Attestation]:
        """Every attest record about ``subject``, paged."""
        after: int | None = -1
        while after is not None:
            d = self._get(f"/v1/members/{subject}/attestations", after_index=after, limit=PAGE)
            for a in d["attestations"]:
                served = _record(a)
                yield Attestation(served.index, served.record, bool(a["accepted"]))
            after = d["next_after_index"]

    def consent_feed(self, grantee: str, after_index: int = -1, limit: int = PAGE
                     ) -> tuple[tuple[NodeRecord, ...], int, bool]:
        """One page of the grantee's consent feed: (records, scanned_to, more)."""
        d = self._get(f"/v1/grantees/{grantee}/consent", after_index=after_index, limit=limit)
        return (tuple(_record(r) for r in d["records"]), int(d["scanned_to"]), bool(d["more"]))

    # --- values and reads -------------------------------------------------------------------

    def blob(self, name: str) -> bytes:
        """A sealed value, for its author (signed); ``BlobErasedError`` once erased."""
        return self.call("GET", f"/v1/blobs/{name}").content

    def erase_blob(self, name: str) -> None:
        self.call("DELETE", f"/v1/blobs/{name}")

    def read(self, member: str, fields: list[str], *,
             unwrap: Callable[[str], bytes] | None = None) -> ReadResult:
        """The member's current values of ``fields``, each verified and decrypted.

        ``unwrap`` opens a wrapped content key when this client's key cannot itself (a key
        held by the wallet agent); by default the client's own key opens it."""
        out = transport.json_of(self.call("POST", "/v1/reads", json_body={
            "member": member, "fields": fields}))
        head = self._tree_head(out["tree_head"])
        values = {}
        assert self._key is not None  # call() refused a signed request without one
        for name, served in out["fields"].items():
            rec = parse_record(served["record"].encode())
            self._check_record(member, name, rec)
            merkle.verify_inclusion(merkle.leaf_hash(rec.raw), served["index"], head[0],
                                    [b64url_decode(h) for h in served["inclusion"]], head[1])
            blob = b64url_decode(served["blob"])
            if unwrap is None:
                value = open_for(blob, {self.did: served["wrapped_key"]}, self.did, self._key,
                                 author=member, field=name, seq=rec.seq,
                                 expected_commitment=rec.body["commitment"])
            else:
                value = open_blob(blob, unwrap(served["wrapped_key"]), author=member,
                                  field=name, seq=rec.seq,
                                  expected_commitment=rec.body["commitment"])
            values[name] = FieldValue(value, rec.id, served["grant"])
        return ReadResult(member, values, int(out["receipt"]["id"]))

    def _tree_head(self, head: JsonDict) -> tuple[int, bytes]:
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
        # Signed by a device or a rotated key: the member's chain says which keys were in
        # force.  The verified state is kept and advanced, never re-checked from seq 1.
        state = self._chains.get(member)
        if state is None or state.seq < rec.seq:
            state = self.follow_chain(member, state)
            if state is not None:
                self._chains[member] = state
        if state is None or state.seq < rec.seq:
            raise SignatureError(f"{rec.id} is not on {member}'s chain")
        if state.head != rec.id:
            found = next(iter(self.chain(member, rec.seq - 1, up_to_seq=rec.seq)), None)
            if found is None or found.id != rec.id:
                raise SignatureError(f"{rec.id} is not on {member}'s chain")
        if signer_of(rec, state.keys_at(rec.seq)) is None:
            raise SignatureError(f"{rec.id} is not signed by a key in force on {member}'s "
                                 "chain")

    def receipts(self, member: str) -> list[JsonDict]:
        out: list[JsonDict] = transport.json_of(self.call(
            "GET", f"/v1/members/{member}/receipts"))["receipts"]
        return out

    # --- the directory of organisations ------------------------------------------------------

    def directory(self, query: str = "", limit: int = 100) -> tuple[Profile, ...]:
        """Public profiles whose name contains ``query``, each signature checked."""
        got = self._get("/v1/directory", q=query, limit=limit)["profiles"]
        return tuple(self._profile(_record(d)) for d in got)

    def profile(self, did: str) -> Profile | None:
        """``did``'s latest public profile (checked), or None if it published none."""
        try:
            return self._profile(_record(self._get(f"/v1/directory/{did}")))
        except NodeNotFoundError:
            return None

    def _profile(self, served: NodeRecord) -> Profile:
        rec = served.record
        if rec.type != PROFILE_TYPE:
            raise NodeAnswerError(200, {"detail": f"the node served {rec.id} as a profile"})
        if signer_of(rec, [keys.public_key_from_did(rec.author)]) is None:
            state = self.follow_chain(rec.author, None)  # signed by a rotated key or device
            if state is None or signer_of(rec, state.keys_at(rec.seq)) is None:
                raise SignatureError(f"profile {rec.id} is not signed by a key in force on "
                                     f"{rec.author}'s chain")
        return profile_of(rec.author, rec.id, rec.ts, rec.body)

    # --- check-in desks ---------------------------------------------------------------------

    def checkin_challenge(self) -> JsonDict:
        return transport.json_of(self.call("POST", "/v1/checkin/challenges"))

    def checkin_verify(self, record_id: str) -> JsonDict:
        return transport.json_of(self.call("POST", "/v1/checkin/verify",
                                           json_body={"record_id": record_id}))

    def checkin_challenges(self, since_ms: int) -> list[JsonDict]:
        out: list[JsonDict] = transport.json_of(self.call(
            "GET", "/v1/checkin/challenges", params={"since_ms": since_ms}))["challenges"]
        return out

    def checkin_status(self, nonce_hash: str) -> JsonDict:
        return self._get(f"/v1/checkin/status/{nonce_hash}")

    def checkin_answer(self, record_id: str) -> JsonDict:
        return transport.json_of(self.call("POST", "/v1/checkin/answers", signed=False,
                                           json_body={"record_id": record_id}))

    def has_record(self, record_id: str) -> bool:
        """Whether the node holds ``record_id`` (yet)."""
        try:
            self.record(record_id)
        except NodeNotFoundError:
            return False
        return True

    # --- federation, anchors ----------------------------------------------------------------

    def peer_blobs(self, names: list[str]) -> PeerBlobs:
        """Sealed values for a peer node (signed with that node's log key)."""
        d = transport.json_of(self.call("POST", "/v1/federation/blobs",
                                        json_body={"names": names}))
        return PeerBlobs({n: b64url_decode(v) for n, v in d["blobs"].items()},
                         frozenset(d["erased"]),
                         {n: str(o).encode() for n, o in d.get("orders", {}).items()})

    def erasures(self, since_ms: int) -> tuple[Erasure, ...]:
        got = self._get("/v1/federation/erasures", since_ms=since_ms)["erasures"]
        return tuple(Erasure(str(e["name"]), int(e["erased_ms"]),
                             str(e["order"]).encode() if e.get("order") else None) for e in got)

    def erasure_order(self, name: str) -> bytes:
        """The author's signed order that erased ``name`` (``NodeNotFoundError`` if none)."""
        return str(self._get(f"/v1/erasures/{name}")["order"]).encode()

    def peers(self) -> list[JsonDict]:
        out: list[JsonDict] = self._get("/v1/federation/peers")["peers"]
        return out

    def forks(self) -> JsonDict:
        return self._get("/v1/federation/forks")

    def equivocations(self) -> JsonDict:
        return self._get("/v1/equivocations")

    def gossip_head(self, checkpoint: str, log_key_hex: str) -> JsonDict:
        """Show this node a head of another log; it says whether it fits what it saw."""
        return transport.json_of(self.call("POST", "/v1/gossip/heads", signed=False, json_body={
            "checkpoint": checkpoint, "log_key": log_key_hex}))

    def anchors(self) -> JsonDict:
        return self._get("/v1/anchors")

    def evidence(self, record_id: str) -> JsonDict:
        return self._get(f"/v1/records/{record_id}/evidence")


def verify_receipt(listed: JsonDict, log_key: bytes | None) -> JsonDict:
    """An access receipt as the node listed it, parsed, its node signature checked if pinned."""
    raw = listed["receipt"].encode("utf-8")
    receipt: JsonDict = json.loads(raw)
    if canonical(receipt) != raw:
        raise SignatureError(f"receipt {listed['id']} is not in canonical form")
    if log_key is not None and not keys.verify(log_key, keys.RECEIPT_DOMAIN, raw,
                                               b64url_decode(listed["node_sig"])):
        raise SignatureError(f"receipt {listed['id']} is not signed by the node's log key")
    return {"id": listed["id"], **receipt, "node_sig_verified": log_key is not None}
