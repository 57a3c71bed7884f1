"""The wallet: a party's keys, its chain as the node holds it, and the acts it signs.

Everything but the key store can be rebuilt from the node: the chain (validated record by
record), the fields (each value opened with the member's own keys) and the grants.  So a
member who keeps only ``keystore.json`` and its passphrase recovers the whole passport.
How the chain is kept verified between commands, and advanced one record per append
without a re-check from seq 1, is ``wallet.keeper``; readers' chain states are cached in
``wallet.json`` and moved forward on sync.  So a ``set`` costs the same at seq 10 and at
seq 10,000.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from ledger import consent, keys, merkle, seal
from ledger.errors import LedgerError, SealError
from ledger.records import Record
from ledger.times import format_ts, now_ms
from passport_api.client import (
    BlobErasedError,
    NodeClient,
    NodeError,
    NodeUnreachableError,
    verify_receipt,
)
from wallet import agent, keystore, localcopy
from wallet import receipts as peer_receipts
from wallet.errors import (
    NodeRefusedError,
    UntrustedNodeError,
    UsageError,
)
from wallet.fields import set_field
from wallet.keeper import ChainKeeper, talking_to

DEFAULT_NODE = "http://127.0.0.1:8400"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldValue:
    field: str
    value: Any  # None when erased
    record_id: str
    seq: int
    ts: str
    erased: bool = False


class Wallet(ChainKeeper):
    """One party's wallet over one node.  Call ``sync`` before acting (the CLI does)."""

    def gossip(self, other: str) -> dict[str, Any]:
        """Show another node the head this wallet holds of its own node's log.

        The other node (one that follows this wallet's node) says whether the head fits the
        history it has seen; a head that does not is evidence that this wallet's node shows
        different histories to different parties, and is reported as ``UntrustedNodeError``.
        """
        if not self.state.checkpoint or self.state.log_key is None:
            raise UsageError("no tree head to compare yet: run 'passport sync' first")
        with talking_to(other):
            try:
                verdict = NodeClient(other).gossip_head(self.state.checkpoint,
                                                        self.state.log_key)
            except NodeError as e:
                if isinstance(e, NodeUnreachableError):
                    raise
                raise NodeRefusedError(f"{other} refused the head: {e.problem.get('detail')}"
                                  ) from None
        if verdict["known"] and not verdict["consistent"]:
            raise UntrustedNodeError(f"{other} holds a history of {self.node} that your head does "
                                "not fit: the node showed you a different history (evidence "
                                f"kept at {other}/v1/federation/forks); not trusting it")
        return verdict

    # --- reading one's own passport ------------------------------------------------------------

    def view(self) -> consent.PassportView:
        """The member's fields and grants as of the last record (kept, not refolded)."""
        return self._trail.view

    def content_key(self, record: Record) -> bytes:
        """The key of a value the member set: unwrapped with whichever of its keys it used."""
        recipients = record.body["recipients"]
        candidates = [recipients[d] for d in [self.did, *(keys.did_of(k) for k in
                                                          self.store.signing_keys)]
                      if d in recipients]
        if not candidates:
            raise SealError(f"{record.id} is not sealed to this wallet (a value set before "
                            "this device was added?)")
        for wrapped in dict.fromkeys(candidates):
            for key in reversed(self.store.signing_keys):
                try:
                    return agent.unwrap(wrapped, key)
                except SealError:
                    continue
        raise SealError(f"none of this wallet's keys opens {record.id}")

    def value_of(self, record: Record) -> FieldValue:
        name = record.body["field"]
        with talking_to(self.node):
            try:
                blob = self.client.blob(record.body["blob"])
            except BlobErasedError:
                return FieldValue(name, None, record.id, record.seq, record.ts, erased=True)
        value = seal.open_blob(blob, self.content_key(record), author=self.did, field=name,
                               seq=record.seq, expected_commitment=record.body["commitment"])
        return FieldValue(name, value, record.id, record.seq, record.ts)

    def fields(self) -> dict[str, FieldValue]:
        return {name: self.value_of(rec) for name, rec in sorted(self.view().values.items())
                if rec is not None}

    def field(self, name: str) -> FieldValue:
        rec = self.view().value(name)
        if rec is None:
            raise UsageError(f"{name!r} has no value in your passport (see 'passport show')")
        return self.value_of(rec)

    # --- writing -------------------------------------------------------------------------------

    def set(self, name: str, value: Any) -> Record:
        """Seal ``value`` to the member, its devices and its live readers; append it."""
        readers = consent.live_readers(self._trail.view, name, now_ms())
        recipients = {d: self.encryption_key(d) for d in [self.did, *readers]}
        for key, _, removed in self.devices():  # the member's other devices read it too
            if removed is None:
                recipients[keys.did_from_public_key(key)] = key
        update = set_field(self.author, name, value, readers, encryption_keys=recipients)
        self._append(update.record, update.blobs)
        return update.record

    def clear(self, name: str) -> Record:
        if self.view().value(name) is None:
            raise UsageError(f"{name!r} has no value to clear")
        return self.write("passport.clear", {"field": name})

    def erase(self, name: str) -> list[str]:
        """Crypto-shred every value the field ever had, then clear it if it has one now."""
        sets = [r for r in self.chain if r.type == "passport.set" and r.body["field"] == name]
        if not sets:
            raise UsageError(f"{name!r} never had a value in your passport")
        erased = []
        with talking_to(self.node):
            for rec in sets:
                try:
                    self.client.erase_blob(rec.body["blob"])
                    erased.append(rec.body["blob"])
                except BlobErasedError:
                    pass
                localcopy.forget_blob(self.home, rec.body["blob"])
        if self.view().value(name) is not None:
            self.clear(name)
        return erased

    def grant(self, grantee: str, fields: list[str], purpose: str, expires_ms: int) -> str:
        keys.public_key_from_did(grantee)
        if grantee == self.did:
            raise UsageError("you cannot grant your own passport to yourself")
        view = self.view()
        target = self.encryption_key(grantee)
        wrapped = {}
        for name in fields:
            rec = view.value(name)
            if rec is not None:
                wrapped[name] = seal.wrap_key_to(self.content_key(rec), target)
        gid = "g-" + secrets.token_urlsafe(12)
        self.write("consent.grant", {
            "grant": gid, "grantee": grantee, "fields": fields, "purpose": purpose,
            "expires": format_ts(expires_ms), "keys": wrapped})
        return gid

    def revoke(self, gid: str) -> Record:
        grant = self.view().grants.get(gid)
        if grant is None:
            raise UsageError(f"no grant {gid!r} in your passport (see 'passport grants')")
        if grant.revoked:
            raise UsageError(f"grant {gid} was already revoked")
        return self.write("consent.revoke", {"grant": gid})

    def rotate(self) -> str:
        """Rotate to the pre-committed key, committing to a fresh one saved beforehand."""
        state = self.chain_state
        if self.store.device:
            raise UsageError("only the main device rotates the key")
        if state is None or state.next_commitment is None:
            raise UsageError("this chain has no pre-rotation commitment to rotate to")
        if self._passphrase is None:
            raise UsageError("rotating saves a new key under your passphrase: the wallet agent "
                             "cannot do it; run it with the agent stopped")
        nxt = self.store.key_committed_to(state.next_commitment)
        after = self.store.add()
        keystore.save(self.store, self.home, self._passphrase)  # the new seed first: no loss
        record = self.author.rotate(nxt, keys.key_commitment(bytes(after.verify_key)))
        self._append(record)
        self._take_keys()
        return keys.did_from_public_key(bytes(nxt.verify_key))

    def add_device(self, device: str, label: str) -> Record:
        """Let a second device sign this chain; re-seal current values so it can read them."""
        if self.store.device:
            raise UsageError("only the main device adds devices")
        record = self.write("device.add", {"device": device, "label": label})
        for _name, current in sorted(self.view().values.items()):
            if current is not None and not (value := self.value_of(current)).erased:
                self.set(value.field, value.value)
        return record

    def remove_device(self, device: str) -> Record:
        """Cut a lost device off: one record; later values are not sealed to it."""
        if self.store.device:
            raise UsageError("only the main device removes devices")
        live = {keys.did_from_public_key(k) for k, _, gone in self.devices() if gone is None}
        if device not in live:
            raise UsageError(f"{device} is not a device in force on your chain")
        return self.write("device.remove", {"device": device})

    # --- reading as a service, and receipts ----------------------------------------------------

    def read(self, member: str, fields: list[str]) -> dict[str, Any]:
        keys.public_key_from_did(member)
        with talking_to(self.node):
            key = self.author.signing_key
            result = self.client.read(member, fields, unwrap=lambda w: agent.unwrap(w, key))
        return {"member": member, "receipt": result.receipt_id,
                "fields": {n: {"value": v.value, "record": v.record_id, "grant": v.grant}
                           for n, v in result.values.items()}}

    def receipts(self) -> list[dict[str, Any]]:
        """Receipts of every read of the passport: at this node and at its peers (each tagged
        with the node that served the read; see wallet.receipts)."""
        with talking_to(self.node):
            listed = self.client.receipts(self.did)
        key = bytes.fromhex(self.state.log_key) if self.state.log_key else None
        return [{**verify_receipt(r, key), "node": self.node} for r in listed] + (
            peer_receipts.at_peers(self))

    def prove(self, record_id: str) -> dict[str, Any]:
        """An inclusion proof of one record in the latest head, checked here before shown."""
        with talking_to(self.node):
            stored = self.client.record(record_id)
            size = self.state.size
            proof = self.client.inclusion_proof(stored.index, size)
        try:
            merkle.verify_inclusion(merkle.leaf_hash(stored.record.raw), stored.index, size,
                                    proof.decoded(), base64.b64decode(self.state.root))
        except LedgerError as e:
            raise NodeRefusedError(f"the node's inclusion proof for {record_id} does not verify: "
                              f"{e}") from None
        return {"record": stored.record.raw.decode("utf-8"), "id": stored.id,
                "index": stored.index,
                "tree_head": {"size": size, "root": self.state.root,
                              "checkpoint": self.state.checkpoint},
                "inclusion": list(proof.hashes), "verified": True}


def grant_json(g: consent.Grant, now: int) -> dict[str, Any]:
    return {"grant": g.grant_id, "grantee": g.grantee, "fields": list(g.fields),
            "purpose": g.purpose, "expires": format_ts(g.expires_ms),
            "status": g.status(now), "granted": format_ts(g.ts_ms)}
