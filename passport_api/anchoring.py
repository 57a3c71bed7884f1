"""The node's automatic anchoring: a background thread per worker, one anchoring at a time.

Off unless ``PASSPORT_ANCHOR_RPC`` is set (``inprocess`` for the in-process EVM, or an
http(s) JSON-RPC URL).  Each worker runs a thread that wakes every ``PASSPORT_ANCHOR_POLL_S``
seconds and, when the log has grown by ``PASSPORT_ANCHOR_EVERY_RECORDS`` records or
``PASSPORT_ANCHOR_EVERY_MINUTES`` have passed since the last anchor, runs one anchoring round.
A lease row in the database lets only one process run a round at a time, so several uvicorn
workers never anchor twice.  A failing round (RPC down, chain reset, no funds) is logged and
retried on the next wake-up; requests never wait for it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.errors import LedgerError
from passport_api.settings import NodeSettings

if TYPE_CHECKING:  # the CLI imports this module for its constants: keep it light
    from ledger.store.ledger import Ledger

ENV_RPC = "PASSPORT_ANCHOR_RPC"
ENV_KEY = "PASSPORT_ANCHOR_KEY"  # hex secp256k1 key; from the environment only, never a file
ENV_CONTRACT = "PASSPORT_ANCHOR_CONTRACT"
ENV_CONFIRMATIONS = "PASSPORT_ANCHOR_CONFIRMATIONS"
ENV_EVERY_RECORDS = "PASSPORT_ANCHOR_EVERY_RECORDS"
ENV_EVERY_MINUTES = "PASSPORT_ANCHOR_EVERY_MINUTES"
ENV_POLL_S = "PASSPORT_ANCHOR_POLL_S"
DEFAULT_EVERY_RECORDS = 1000
DEFAULT_EVERY_MINUTES = 10.0
DEFAULT_POLL_S = 5.0

log = logging.getLogger("passport.anchoring")


@dataclass(frozen=True)
class AnchorSettings:
    rpc: str  # "inprocess" or an http(s) URL
    contract: str | None = None
    confirmations: int = 1
    every_records: int = DEFAULT_EVERY_RECORDS
    every_minutes: float = DEFAULT_EVERY_MINUTES
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_env(cls) -> AnchorSettings | None:
        rpc = os.environ.get(ENV_RPC)
        if not rpc:
            return None
        return cls(rpc=rpc, contract=os.environ.get(ENV_CONTRACT) or None,
                   confirmations=int(os.environ.get(ENV_CONFIRMATIONS, "1")),
                   every_records=int(os.environ.get(ENV_EVERY_RECORDS, DEFAULT_EVERY_RECORDS)),
                   every_minutes=float(os.environ.get(ENV_EVERY_MINUTES,
                                                      DEFAULT_EVERY_MINUTES)),
                   poll_s=float(os.environ.get(ENV_POLL_S, DEFAULT_POLL_S)))

    def to_env(self) -> dict[str, str]:
        env = {ENV_RPC: self.rpc, ENV_CONFIRMATIONS: str(self.confirmations),
               ENV_EVERY_RECORDS: str(self.every_records),
               ENV_EVERY_MINUTES: str(self.every_minutes), ENV_POLL_S: str(self.poll_s)}
        if self.contract:
            env[ENV_CONTRACT] = self.contract
        return env


def anchorer_for(ledger: Ledger, home: Any, settings: AnchorSettings) -> Any:
    """An ``contracts.anchoring.Anchorer`` for this node (web3 is imported only here)."""
    # Imported on use: web3 costs a second at start-up, and anchoring is off by default.
    from contracts.anchoring import AnchorConfig, Anchorer  # noqa: PLC0415

    config = AnchorConfig(rpc=settings.rpc, private_key=os.environ.get(ENV_KEY) or None,
                          contract=settings.contract, confirmations=settings.confirmations,
                          every_records=settings.every_records,
                          every_s=settings.every_minutes * 60)
    return Anchorer(ledger, config, home=home)


class AnchorLoop:
    """The background thread of one worker.  ``last_error`` tells what the last round hit."""

    def __init__(self, ledger: Ledger, node: NodeSettings, settings: AnchorSettings) -> None:
        self.ledger, self.node, self.settings = ledger, node, settings
        self.last_error: str | None = None
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="passport-anchoring",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        anchorer: Any = None
        while not self._stop.wait(self.settings.poll_s):
            try:
                if anchorer is None:
                    anchorer = anchorer_for(self.ledger, self.node.home, self.settings)
                    anchorer.setup()
                if anchorer.due() or anchorer.store.pending(anchorer.chain_id,
                                                            anchorer.contract):
                    result = anchorer.round()
                    self.rounds += 1
                    if result.sent is not None:
                        log.info("anchored tree size %d in tx 0x%s", result.sent.tree_size,
                                 result.sent.tx_hash.hex())
                self.last_error = None
            except LedgerError as e:  # the chain is down, a lease is held, ...: retry later
                if e.code == "anchor-busy":
                    continue  # another worker is anchoring: nothing is wrong
                self.last_error = str(e)
                log.warning("anchoring: %s (retrying)", e)
                if "chain" in e.code or "contract" in e.code:
                    anchorer = None  # set up again once the chain is back
            except Exception as e:  # never let a bug in anchoring stop the node serving
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("anchoring failed (retrying)")
                anchorer = None


def start_anchoring(node: NodeSettings, ledger: Ledger) -> Callable[[], None]:
    """Start the loop if anchoring is configured; returns the function that stops it."""
    settings = AnchorSettings.from_env()
    if settings is None:
        return lambda: None
    loop = AnchorLoop(ledger, node, settings)
    loop.start()
    return loop.stop
