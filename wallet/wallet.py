"""The wallet: a party's keys, its chain as the node holds it, and the acts it signs.

Everything but the key store is rebuilt from the node on ``sync``: the chain (validated record
by record), the fields (each value opened with the member's own keys) and the grants.  So a
member who keeps only ``keystore.json`` and its passphrase recovers the whole passport.
Every sync also checks the node's tree head against the last one seen (``wallet.state``).

After a sync the wallet keeps what it verified and advances it one record at a time: its
chain state (keys in force) and passport view grow with each append (``ledger.chain.advance``,
never a re-check from seq 1), the tree head the append returns is checked for consistency and
adopted, and readers' chain states are cached in ``wallet.json`` and moved forward on sync.
So a ``set`` costs the same at seq 10 and at seq 10,000: one append and one proof.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing

from ledger import consent, keys, merkle, seal
from ledger.chain import Author, ChainState, advance
from ledger.errors import LedgerError, SealError
from ledger.records import Record
from ledger.times import format_ts, now_ms
from passport_api.client import (
    BlobErasedError,
    NodeClient,
    NodeError,
    NodeUnreachableError,
    SignedHead,
    verify_receipt,
)
from wallet import keystore, localcopy
from wallet import receipts as peer_receipts
from wallet.errors import (
    KeystoreError,
    NodeRefusedError,
    UnreachableNodeError,
    UntrustedNodeError,
    UsageError,
)
from wallet.fields import set_field
from wallet.keystore import Keystore
from wallet.state import WalletState, accept_head

DEFAULT_NODE = "http://127.0.0.1:8400"
PAGE = 1000


@dataclass(frozen=True)
class FieldValue:
    field: str
    value: Any  # None when erased
    record_id: str
    seq: int
    ts: str
    erased: bool = False


@contextmanager
def talking_to(node: str) -> Iterator[None]:
    """Turn transport failures and node problems into one-line wallet errors."""
    try:
        yield
    except NodeUnreachableError as e:
        raise UnreachableNodeError(f"cannot reach the node at {node} ({e.detail.rsplit('(', 1)[-1]}"
                              "; is 'passport node serve' running, or is --node right?") from None
    except NodeError as e:
        reasons = e.problem.get("fields")
        why = "; ".join(f"{f}: {r.get('detail') or r.get('reason')}"
                        for f, r in sorted(reasons.items())) if isinstance(reasons, dict) else ""
        raise NodeRefusedError(f"the node refused: {e.problem.get('detail') or e}"
                          f"{' (' + why + ')' if why else ''} [{e.code or e.status}]") from None


class Wallet:
    """One party's wallet over one node.  Call ``sync`` before acting (the CLI does)."""

    def __init__(self, home: Path, store: Keystore, passphrase: str, node: str) -> None:
        self.home, self.store, self.node = home, store, node
        self._passphrase = passphrase
        self.state = WalletState.load(home)
        self.chain: list[Record] = []
        self.chain_state: ChainState | None = None
        self._view = consent.PassportView(store.did)
        self.author = Author(store.signing_keys[0], did=store.did)
        self.client = NodeClient(node, store.signing_keys[0], did=store.did)

    @property
    def did(self) -> str:
        return self.store.did

    def close(self) -> None:
        self.client.close()

    # --- sync ----------------------------------------------------------------------------------

    def sync(self) -> None:
        """Fetch and validate the chain, adopt the node's head after checking it, and move
        the cached readers' chains forward."""
        with talking_to(self.node):
            records = self.chain_of(self.did)
            self._check_head()
        self._adopt(records)
        if not self.store.device:  # the member's own copy: never build on a node that lost it
            self._catch_up_with_copy()
            localcopy.keep_chain(self.home, self.chain)
        self._refresh_readers()
        if not records and not self.store.device:
            self._genesis()

    def _adopt(self, records: list[Record]) -> None:
        """Start over from ``records`` (the whole chain), checked record by record."""
        self.chain, self.chain_state = [], None
        self._view = consent.PassportView(self.did)
        for record in records:
            self._advance(record)
        self._take_keys()

    def _catch_up_with_copy(self) -> None:
        """The copy kept here may be ahead of the chain just fetched (another process of this
        wallet appended since): take what the node has after it; refuse if it still lacks
        records the copy holds (the node lost them)."""
        held = self.chain_state.seq if self.chain_state is not None else 0
        if localcopy.count(self.home) > held:
            with talking_to(self.node):
                for served in self.client.chain(self.did, held):
                    self._advance(served.record)
            self._take_keys()
            held = self.chain_state.seq if self.chain_state is not None else 0
        localcopy.check_node_holds(self.home, held, self.node)

    def _advance(self, record: Record) -> None:
        """One more record of this chain: checked against the state so far, then folded in."""
        self.chain_state = advance(self.chain_state or ChainState.genesis(self.did), record)
        self.chain.append(record)
        self._view.apply(record)

    def _take_keys(self) -> None:
        """Sign with the key the chain has in force for this device (main key or device)."""
        if self.store.device:
            key = self._device_key()
        else:
            key = (self.store.key_for(self.chain_state.main_key) if self.chain_state
                   else self.store.signing_keys[0])
        seq, head = (self.chain_state.seq, self.chain_state.head) if self.chain_state else (0,
                                                                                             None)
        self.author = Author(key, did=self.did, seq=seq, head=head)
        self.client = NodeClient(self.node, key, did=self.did,
                                 log_key=None if self.state.log_key is None
                                 else bytes.fromhex(self.state.log_key))

    def _device_key(self) -> nacl.signing.SigningKey:
        """This device's key, if the member's chain has it in force."""
        key = self.store.signing_keys[0]
        state = self.chain_state
        if state is None:
            raise KeystoreError(f"{self.did}'s chain is not on the node at {self.node}")
        mine = [e for e in state.epochs if e.key == bytes(key.verify_key)]
        if not mine:
            raise KeystoreError("this device is not on the member's chain yet: on the main "
                                f"device run 'passport device add {keys.did_of(key)}'")
        if all(e.last_seq is not None for e in mine):
            raise KeystoreError("this device was removed from the member's chain; it can no "
                                "longer sign for it")
        return key

    def devices(self) -> list[tuple[bytes, int, int | None]]:
        """(key, added before seq, removed at seq or None) of every device of the chain."""
        state = self.chain_state
        return [] if state is None else [(e.key, e.first_seq, e.last_seq)
                                         for e in state.epochs if e.role == "device"]

    def _check_head(self) -> None:
        self._accept(self.client.log_head(), self.client.health().log_key)

    def _accept(self, head: SignedHead, log_key: bytes) -> None:
        """Adopt ``head`` after checking it is signed by the pinned key and consistent with
        the last head seen (one consistency proof from the node when the log grew)."""
        proof = None
        if 0 < self.state.size < head.size:
            proof = list(self.client.consistency_proof(self.state.size, head.size).hashes)
        accept_head(self.state, head.checkpoint, log_key, proof)
        self.state.save(self.home)

    def _genesis(self) -> None:
        """Open the chain with the first pre-rotation commitment (to the store's second key)."""
        nxt = self.store.signing_keys[1]
        self.write("key.rotate", {"next": self.did,
                                  "next_commitment": keys.key_commitment(bytes(nxt.verify_key))})

    def write(self, record_type: str, body: dict[str, Any],
              blobs: dict[str, bytes] | None = None) -> Record:
        """Sign the next record of this chain and append it (for modules beside the wallet:
        attestations, check-ins)."""
        record = self.author.next(record_type, body)
        self._append(record, blobs)
        return record

    def _append(self, record: Record, blobs: dict[str, bytes] | None = None) -> None:
        """Append a record signed by ``self.author``; advance the state; adopt the new head."""
        with talking_to(self.node):
            appended = self.client.append(record.raw, blobs)
            self._advance(record)
            if not self.store.device:
                localcopy.keep(self.home, record, blobs)
            if self.state.log_key is not None:
                self._accept(appended.tree_head, bytes.fromhex(self.state.log_key))

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
        return self._view

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
                    return seal.unwrap_key(wrapped, key)
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

    def chain_of(self, did: str) -> list[Record]:
        """A party's whole chain as the node serves it (validated by the caller)."""
        with talking_to(self.node):
            return [served.record for served in self.client.chain(did)]

    def encryption_key(self, did: str) -> bytes:
        """The Ed25519 key a party decrypts with now: its chain's main key, else its did's.

        Another party's chain state is cached (``wallet.json``) and moved forward by ``sync``,
        so a ``set`` to known readers asks the node nothing about them.
        """
        if did == self.did and self.chain_state is not None:
            return self.chain_state.main_key
        state = self._reader_state(did)
        return state.main_key if state is not None else keys.public_key_from_did(did)

    def _reader_state(self, did: str) -> ChainState | None:
        cached = self.state.readers.get(did)
        if cached is not None:
            return ChainState.from_json(cached) if cached else None
        keys.public_key_from_did(did)
        with talking_to(self.node):
            state = self.client.follow_chain(did, None)
        self.state.readers[did] = "" if state is None else state.to_json()
        self.state.save(self.home)
        return state

    def _refresh_readers(self) -> None:
        """Move every cached reader's chain state over the records added since (a rotation
        changes the key its values are sealed to)."""
        if not self.state.readers:
            return
        with talking_to(self.node):
            for did, cached in sorted(self.state.readers.items()):
                old = ChainState.from_json(cached) if cached else None
                new = self.client.follow_chain(did, old)
                self.state.readers[did] = "" if new is None else new.to_json()
        self.state.save(self.home)

    def set(self, name: str, value: Any) -> Record:
        """Seal ``value`` to the member, its devices and its live readers; append it."""
        readers = consent.live_readers(self._view, name, now_ms())
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
            result = self.client.read(member, fields)
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
