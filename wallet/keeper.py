"""The wallet's hold on its own chain: verified once, kept, and advanced record by record.

A process starts from the state an earlier one verified (``wallet.resume``: chain state,
keys in force, the records the consent view folds from) and asks the node only for the
records after it, each checked with ``ledger.chain.advance``; with no usable state kept it
verifies the whole chain from seq 1.  Every sync also checks the node's signed tree head
against the last one seen (``wallet.state``), and a main device keeps its own copy of the
chain (``wallet.localcopy``) and refuses a node that lost records of it.  Each append moves
the state by one record and adopts the head the append returns (checked for consistency).
So a command costs the same at seq 10 and at seq 10,000.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nacl.signing

from ledger import keys
from ledger.chain import Author, ChainState, advance, validate_chain
from ledger.errors import LedgerError
from ledger.records import Record
from passport_api.client import NodeClient, NodeError, NodeUnreachableError, SignedHead
from wallet import localcopy, resume
from wallet.errors import (
    KeystoreError,
    NodeRefusedError,
    UnreachableNodeError,
    UntrustedNodeError,
)
from wallet.keystore import Keystore
from wallet.resume import ConsentTrail
from wallet.state import WalletState, accept_head

log = logging.getLogger(__name__)


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


class ChainKeeper:
    """One party's chain over one node, as this wallet verified it (``Wallet`` acts on it)."""

    def __init__(self, home: Path, store: Keystore, passphrase: str | None, node: str) -> None:
        """``passphrase`` is None when the keys are held by the wallet agent (``wallet.agent``):
        everything works but ``rotate``, which saves a new seed under the passphrase."""
        self.home, self.store, self.node = home, store, node
        self._passphrase = passphrase
        self.state = WalletState.load(home)
        self._chain: list[Record] | None = []  # None: not loaded (see ``chain``)
        self.chain_state: ChainState | None = None
        self._trail = ConsentTrail(store.did)
        self.author = Author(store.signing_keys[0], did=store.did)
        self.client = NodeClient(node, store.signing_keys[0], did=store.did)
        self.served = 0  # records of the member's chain fetched from the node by this process
        self._kept = 0  # the seq of the state kept in ``chain.json`` (``wallet.resume``)
        self._tail: list[Record] = []  # the records checked by this process, in seq order
        self._state_moved = False  # ``self.state`` changed since it was last saved

    @property
    def did(self) -> str:
        return self.store.did

    def close(self) -> None:
        self.client.close()

    def sync(self, *, full: bool = False) -> None:
        """Bring the chain up to the node's: only the records after the state an earlier
        process verified (``wallet.resume``), or the whole chain from seq 1 (``full``, or
        when no usable state is kept); check and adopt the node's head; move the cached
        readers' chains forward."""
        held = None if full else resume.load(self.home, self.did, self.node)
        with talking_to(self.node):
            self._check_head()
            if held is None or not self._resume(held):
                self._adopt(self.chain_of(self.did))
        self._take_keys()
        if not self.store.device:  # the member's own copy: never build on a node that lost it
            self._catch_up_with_copy()
        self._refresh_readers()
        self._keep_state()
        if self.chain_state is None and not self.store.device:
            self._genesis()

    def _adopt(self, records: list[Record]) -> None:
        """Start over from ``records`` (the whole chain), checked record by record."""
        self._chain, self.chain_state = [], None
        self._trail = ConsentTrail(self.did)
        self.served += len(records)
        self._kept, self._tail = 0, []
        for record in records:
            self._advance(record)

    def _resume(self, held: resume.Held) -> bool:
        """Carry on from ``held``: the node must serve its head record at its seq, then the
        records after it are checked one by one.  False when the node does not continue it
        (another history, or records lost): the caller verifies the whole chain instead."""
        served = [s.record for s in self.client.chain(self.did, held.state.seq - 1)]
        self.served += len(served)
        if not served or served[0].seq != held.state.seq or served[0].id != held.state.head:
            log.warning("passport: note: the node at %s does not continue the chain state "
                        "this wallet kept (seq %d); verifying your whole chain again",
                        self.node, held.state.seq)
            return False
        self._chain, self.chain_state, self._trail = None, held.state, held.trail
        self._kept, self._tail = held.state.seq, []
        for record in served[1:]:
            self._advance(record)
        return True

    def _keep_state(self) -> None:
        """Keep what moved for the next process: the head and readers (``wallet.json``), the
        chain state (``chain.json``)."""
        if self._state_moved:
            self.state.save(self.home)
            self._state_moved = False
        if self.chain_state is not None and self.chain_state.seq != self._kept:
            resume.save(self.home, self.node, self.chain_state, self._trail)
            self._kept = self.chain_state.seq

    def _catch_up_with_copy(self) -> None:
        """The copy kept here may be ahead of the chain just fetched (another process of this
        wallet appended since): take what the node has after it; refuse if it still lacks
        records the copy holds (the node lost them).  Then the copy takes the records it
        lacks (appended by another device, or by a process that stopped short)."""
        held = self.chain_state.seq if self.chain_state is not None else 0
        kept = localcopy.count(self.home)
        if kept > held:
            with talking_to(self.node):
                for served in self.client.chain(self.did, held):
                    self.served += 1
                    self._advance(served.record)
            self._take_keys()
            held = self.chain_state.seq if self.chain_state is not None else 0
        localcopy.check_node_holds(self.home, held, self.node)
        if kept < held:
            if self._chain is not None or kept < self._kept:  # the whole chain (as before)
                localcopy.keep_chain(self.home, self.chain)
            else:  # only the records fetched by this process, after the copy's last
                for record in self._tail:
                    if record.seq > kept:
                        localcopy.keep(self.home, record, None)

    @property
    def chain(self) -> list[Record]:
        """The member's whole chain, checked; loaded only by the commands that need it
        (erase, export, attestations ...), from the copy kept here or else the node."""
        if self._chain is None:
            self._chain = self._load_chain()
        return self._chain

    def _load_chain(self) -> list[Record]:
        state = self.chain_state
        if state is None:
            return []
        try:
            records = localcopy.records(self.home)[:state.seq] if not self.store.device else []
        except KeystoreError:  # a damaged copy: the node's chain is checked the same way
            records = []
        if len(records) != state.seq or records[-1].id != state.head:
            with talking_to(self.node):
                records = [s.record for s in self.client.chain(self.did, up_to_seq=state.seq)]
        try:
            checked = validate_chain(records) if records else None
        except LedgerError as e:
            raise UntrustedNodeError(f"your chain as served does not verify: {e}") from None
        if checked is None or checked.seq != state.seq or checked.head != state.head:
            raise UntrustedNodeError(f"the node serves another history of your chain than the "
                                     f"one this wallet verified (seq {state.seq})")
        return records

    def _advance(self, record: Record) -> None:
        """One more record of this chain: checked against the state so far, then folded in."""
        self.chain_state = advance(self.chain_state or ChainState.genesis(self.did), record)
        self._tail.append(record)
        if self._chain is not None:
            self._chain.append(record)
        self._trail.apply(record)

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
        self._state_moved = True  # saved by ``_keep_state``, once per command

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
            self._keep_state()

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
        self._state_moved = True
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
        self._state_moved = True

