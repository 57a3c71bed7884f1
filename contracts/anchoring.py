"""The node's anchoring: put the latest signed tree head on chain, and see it confirmed.

``Anchorer.round()`` is idempotent and safe to call again after any crash or restart:

1. settle every pending anchor: mined and deep enough -> confirmed; reverted -> reverted;
   its nonce taken by another transaction -> replaced; vanished from the chain (a reorg below
   the confirmation depth, a restarted RPC node, a dropped transaction) -> the same signed
   bytes are broadcast again, so the anchor is neither lost nor sent twice;
2. if nothing is pending and the log has grown past what the chain holds, sign one
   ``anchor(log_id, size, root)``, record it as pending, then broadcast it.

One transaction is in flight at a time, and a lease row keeps two processes (several uvicorn
workers, ``passport node anchor``) from anchoring at once.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.chain import Chain, account, address_of, new_private_key
from contracts.errors import AnchorBusyError, AnchorConfigError, ContractMissingError
from contracts.evidence import log_id as compute_log_id
from ledger.store.anchors import (
    CONFIRMED,
    PENDING,
    REPLACED,
    REVERTED,
    AnchorRow,
    AnchorStore,
)
from ledger.store.ledger import Ledger
from ledger.times import now_ms

ANCHOR_KEY_FILE = "anchor-eth.key"  # dev chains only: a key the node made for itself
LEASE_NAME = "anchoring"
LEASE_TTL_MS = 120_000


@dataclass(frozen=True)
class AnchorConfig:
    rpc: str | None = None  # None: the in-process EVM
    private_key: str | None = None  # hex; from the environment, never from a file in git
    contract: str | None = None  # an Anchor already deployed; else the node deploys one
    confirmations: int = 1
    every_records: int = 1000  # automatic anchoring: after this many new records ...
    every_s: float = 600.0  # ... or this long after the last anchor, if the log grew


@dataclass
class RoundResult:
    sent: AnchorRow | None = None  # the anchor signed and broadcast in this round
    settled: list[tuple[AnchorRow, str]] = field(default_factory=list)  # (row, new status)
    pending: list[AnchorRow] = field(default_factory=list)  # still waiting after this round
    note: str = ""


class Anchorer:
    """Anchors one ledger on one chain.  ``setup()`` once, then ``round()`` as often as wanted."""

    def __init__(self, ledger: Ledger, config: AnchorConfig, *, home: Path | None = None,
                 chain: Chain | None = None, clock: Callable[[], int] = now_ms) -> None:
        self.ledger = ledger
        self.config = config
        self.store = AnchorStore(ledger.engine)
        self.chain = chain or Chain.connect(config.rpc)
        self.home = home
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.log_id = compute_log_id(ledger.origin, ledger.public_key)
        self._key: str | None = None
        self.chain_id = 0
        self.contract = ""

    @property
    def sender(self) -> str:
        assert self._key is not None, "call setup() first"
        return address_of(self._key)

    # --- set-up -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Find the key, the chain id and the contract (deploying one if none is configured).

        Runs under the lease, so two workers starting together make one key and deploy one
        contract.
        """
        self.chain_id = self.chain.chain_id()
        self._take_lease()
        try:
            self._setup()
        finally:
            self.store.release_lease(LEASE_NAME, self.holder)

    def _take_lease(self) -> None:
        if not self.store.take_lease(LEASE_NAME, self.holder, self.clock(), LEASE_TTL_MS):
            raise AnchorBusyError("another process is anchoring this log right now; "
                                  "try again")

    def _setup(self) -> None:
        self._key = self._load_key()
        if self.chain.is_dev() and self.chain.balance(self.sender) == 0:
            self.chain.fund_dev(self.sender)
        if self.config.contract is not None:
            self.chain.check_contract(self.config.contract)
            self.contract = self.config.contract
            self.store.add_contract(self.chain_id, self.contract, self.clock())
            return
        known = self.store.contract_for(self.chain_id)
        if known is not None:
            try:
                self.chain.check_contract(known)
                self.contract = known
                return
            except ContractMissingError as e:
                # The chain was reset (an in-process EVM, a fresh anvil): what was anchored
                # there is gone, so those anchors prove nothing any more.
                self.store.retire_contract(self.chain_id, known, self.clock(), str(e))
        self.contract, _ = self.chain.deploy(self._key)
        self.store.add_contract(self.chain_id, self.contract, self.clock())

    def _load_key(self) -> str:
        if self.config.private_key:
            return "0x" + account(self.config.private_key).key.hex().removeprefix("0x")
        if not self.chain.is_dev():
            raise AnchorConfigError("anchoring on a real chain needs a funded key in "
                                    "PASSPORT_ANCHOR_KEY")
        if self.home is None:
            return "0x" + new_private_key().hex()
        path = self.home / ANCHOR_KEY_FILE
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(new_private_key().hex() + "\n")
        return "0x" + path.read_text().strip().removeprefix("0x")

    # --- rounds -------------------------------------------------------------------------------

    def round(self, *, anchor: bool = True) -> RoundResult:
        """Settle pending anchors, then (with ``anchor``) send a new one if the log grew.

        Raises ``AnchorError`` when another process holds the lease, ``ChainUnavailableError``
        when the RPC is down (then nothing was changed that a later round cannot finish).
        """
        if not self.contract:
            self.setup()
        self._take_lease()
        try:
            result = RoundResult()
            self._recheck_latest_confirmed()
            for row in self.store.pending(self.chain_id, self.contract):
                status = self._settle(row)
                if status != PENDING:
                    result.settled.append((row, status))
            result.pending = self.store.pending(self.chain_id, self.contract)
            if anchor and not result.pending:
                result.sent = self._send_new(result)
                if result.sent is not None:
                    result.pending = [result.sent]
            return result
        finally:
            self.store.release_lease(LEASE_NAME, self.holder)

    def _recheck_latest_confirmed(self) -> None:
        """A confirmed anchor whose block left the canonical chain goes back to pending."""
        row = self.store.latest_confirmed(self.chain_id)
        if row is None or row.contract != self.contract or row.block_number is None:
            return
        if self.chain.block_hash(row.block_number) != row.block_hash:
            self.store.update(row.id, status=PENDING, now_ms=self.clock(),
                              detail="its block left the canonical chain")

    def _settle(self, row: AnchorRow) -> str:
        now = self.clock()
        receipt = self.chain.receipt(row.tx_hash)
        if receipt is None:
            if self.chain.transaction_known(row.tx_hash):
                return PENDING  # in the pool, not mined yet
            if self.chain.nonce(row.sender) > row.nonce:
                self.store.update(row.id, status=REPLACED, now_ms=now,
                                  detail=f"nonce {row.nonce} was used by another transaction")
                return REPLACED
            self.chain.send_raw(row.raw_tx)  # the very same signed bytes: never a second anchor
            self.store.update(row.id, status=PENDING, now_ms=now,
                              detail="not on the chain; broadcast again")
            return PENDING
        if receipt.status != 1:
            on_chain, _ = self.chain.latest(self.contract, row.sender, row.log_id)
            self.store.update(row.id, status=REVERTED, now_ms=now,
                              block_number=receipt.block_number, block_hash=receipt.block_hash,
                              detail=f"reverted; the chain holds size {on_chain}")
            return REVERTED
        depth = self.chain.block_number() - receipt.block_number + 1
        canonical = self.chain.block_hash(receipt.block_number) == receipt.block_hash
        if canonical and depth >= self.config.confirmations:
            self.store.update(row.id, status=CONFIRMED, now_ms=now,
                              block_number=receipt.block_number, block_hash=receipt.block_hash,
                              detail=None)
            return CONFIRMED
        self.store.update(row.id, status=PENDING, now_ms=now, block_number=receipt.block_number,
                          block_hash=receipt.block_hash,
                          detail=f"mined, {depth} of {self.config.confirmations} confirmations")
        return PENDING

    def _send_new(self, result: RoundResult) -> AnchorRow | None:
        assert self._key is not None
        head = self.ledger.latest_tree_head().head
        on_chain, _ = self.chain.latest(self.contract, self.sender, self.log_id)
        if head.size == 0 or on_chain >= head.size:
            result.note = f"nothing to anchor: the chain holds size {on_chain}, the log {head.size}"
            return None
        nonce = self.chain.nonce(self.sender, pending=True)
        signed = self.chain.sign_anchor(self._key, self.contract, log_id=self.log_id,
                                        size=head.size, root=head.root, nonce=nonce)
        row = self.store.add_pending(
            chain_id=self.chain_id, contract=self.contract, sender=self.sender,
            log_id=self.log_id, tree_size=head.size, root=head.root, nonce=nonce,
            tx_hash=signed.tx_hash, raw_tx=signed.raw, now_ms=self.clock())
        self.chain.send_raw(signed.raw)  # if this fails, the next round broadcasts the row
        return row

    # --- when -----------------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether automatic anchoring should send now: N new records, or T since the last."""
        size = self.ledger.size()
        last = self.store.latest_confirmed(self.chain_id or None)
        anchored = last.tree_size if last is not None else 0
        if size <= anchored:
            return False
        if size - anchored >= self.config.every_records:
            return True
        since_ms = self.clock() - (last.updated_ms if last is not None else 0)
        return last is None or since_ms >= self.config.every_s * 1000

    def anchor_now(self, *, wait_s: float = 0, poll_s: float = 0.2) -> RoundResult:
        """One round, then more rounds (without sending again) until nothing is pending or
        ``wait_s`` has passed."""
        result = self.round()
        deadline = time.monotonic() + wait_s
        while result.pending and time.monotonic() < deadline:
            time.sleep(poll_s)
            later = self.round(anchor=False)
            result.settled.extend(later.settled)
            result.pending = later.pending
        return result
