"""The one module that talks to Ethereum (web3.py and eth-account); everything else calls it.

A ``Chain`` is a ``Web3`` object over one of three providers, chosen by ``connect(rpc)``:

- ``None`` or ``"inprocess"``: web3's ``EthereumTesterProvider`` over py-evm, inside this
  process, with funded dev accounts; it vanishes with the process (development and tests);
- ``http://...`` / ``https://...``: a JSON-RPC node, anvil in the tests or any EVM testnet.

Every method translates provider faults into ``ChainUnavailableError`` (the RPC is down or
answers with an error), so callers handle one type.  Values crossing this module are plain
Python (bytes, int, str), never web3 types.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import TransactionNotFound, Web3Exception
from web3.logs import DISCARD
from web3.types import Wei

from contracts import RECURSION_LIMIT
from contracts.errors import AnchorConfigError, ChainUnavailableError, ContractMissingError

sys.setrecursionlimit(RECURSION_LIMIT)  # py_ecc raised it on import (see contracts/__init__)

BUILD_FILE = Path(__file__).with_name("build") / "Anchor.json"
INPROCESS = "inprocess"
ANCHOR_GAS_LIMIT = 120_000  # an anchor costs under 70k gas; fixed, so a reverting call is mined
DEPLOY_GAS_LIMIT = 1_000_000
DEFAULT_TIP_WEI = 10**9  # 1 gwei priority fee when the node does not suggest one
RPC_TIMEOUT_S = 10
DEV_FUNDS_WEI = 10**20  # 100 ether for a dev key on a dev chain


@dataclass(frozen=True)
class AnchorEvent:
    contract: str  # checksummed address of the contract that emitted it
    sender: str  # checksummed address of the anchoring account
    log_id: bytes
    size: int
    root: bytes


@dataclass(frozen=True)
class Receipt:
    tx_hash: bytes
    status: int  # 1 success, 0 reverted
    block_number: int
    block_hash: bytes
    gas_used: int
    sender: str
    events: tuple[AnchorEvent, ...]


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    tx_hash: bytes
    nonce: int


@cache
def artifact() -> dict[str, Any]:
    """The committed build output: ABI and bytecode of contracts/Anchor.sol."""
    data: dict[str, Any] = json.loads(BUILD_FILE.read_text())
    return data


def account(private_key: bytes | str) -> LocalAccount:
    """An eth-account signer; the key never leaves this object (and never reaches a message)."""
    try:
        signer: LocalAccount = Account.from_key(private_key)
    except (ValueError, TypeError) as e:
        raise AnchorConfigError("the anchoring key is not a valid secp256k1 private key") from e
    return signer


def new_private_key() -> bytes:
    return bytes(Account.create().key)


def address_of(private_key: bytes | str) -> str:
    return str(account(private_key).address)


def checksum(address: str) -> ChecksumAddress:
    try:
        return Web3.to_checksum_address(address)
    except (ValueError, TypeError) as e:
        raise ContractMissingError(f"{address[:60]!r} is not an Ethereum address") from e


@contextmanager
def _rpc(what: str) -> Iterator[None]:
    try:
        yield
    except (Web3Exception, requests.RequestException, OSError) as e:
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ChainUnavailableError(f"{what}: {detail}") from e


class Chain:
    """One chain target.  Cheap to create; holds a provider, no other state."""

    def __init__(self, w3: Web3, rpc: str | None) -> None:
        self.w3 = w3
        self.rpc = rpc  # None for the in-process EVM

    @classmethod
    def connect(cls, rpc: str | None = None, *, timeout_s: float = RPC_TIMEOUT_S) -> Chain:
        if rpc is None or rpc == INPROCESS:
            return cls(Web3(EthereumTesterProvider()), None)
        if not rpc.startswith(("http://", "https://")):
            raise ChainUnavailableError(f"chain RPC must be http(s)://... or {INPROCESS!r}, "
                                        f"not {rpc[:60]!r}")
        w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": timeout_s}))
        return cls(w3, rpc)

    @property
    def where(self) -> str:
        return self.rpc or "the in-process EVM"

    # --- reads --------------------------------------------------------------------------------

    def chain_id(self) -> int:
        with _rpc(f"cannot read the chain id from {self.where}"):
            return int(self.w3.eth.chain_id)

    def block_number(self) -> int:
        with _rpc(f"cannot read the block number from {self.where}"):
            return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> bytes | None:
        """The hash of the canonical block at ``number``; None past the head."""
        with _rpc(f"cannot read block {number} from {self.where}"):
            try:
                block = self.w3.eth.get_block(number)
            except Web3Exception as e:
                if "not found" in str(e).lower():
                    return None
                raise
            return bytes(block["hash"])

    def code(self, address: str) -> bytes:
        with _rpc(f"cannot read code at {address} from {self.where}"):
            return bytes(self.w3.eth.get_code(checksum(address)))

    def balance(self, address: str) -> int:
        with _rpc(f"cannot read the balance of {address} from {self.where}"):
            return int(self.w3.eth.get_balance(checksum(address)))

    def nonce(self, address: str, *, pending: bool = False) -> int:
        with _rpc(f"cannot read the nonce of {address} from {self.where}"):
            return int(self.w3.eth.get_transaction_count(checksum(address),
                                                         "pending" if pending else "latest"))

    def is_dev(self) -> bool:
        """True on chains that hand out funds: the in-process EVM and anvil."""
        if self.rpc is None:
            return True
        with _rpc(f"cannot read the client version of {self.where}"):
            return str(self.w3.client_version).lower().startswith("anvil")

    def _contract(self, address: str) -> Any:
        return self.w3.eth.contract(address=checksum(address), abi=artifact()["abi"])

    def check_contract(self, address: str) -> None:
        """Raise ``ContractMissingError`` unless the Anchor contract's code is at ``address``."""
        code = self.code(address)
        if not code:
            raise ContractMissingError(f"no contract at {address} on {self.where} "
                                       "(a wrong address, or a chain that was reset)")
        if "0x" + code.hex() != artifact()["deployedBytecode"]:
            raise ContractMissingError(f"the contract at {address} is not Passport's Anchor")

    def latest(self, contract: str, sender: str, log_id: bytes) -> tuple[int, bytes]:
        """The latest (size, root) ``sender`` anchored for ``log_id``; (0, zeros) when none."""
        with _rpc(f"cannot read the latest anchor from {self.where}"):
            size, root = self._contract(contract).functions.latest(
                checksum(sender), log_id).call()
        return int(size), bytes(root)

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction with its Anchored events; None if not mined."""
        with _rpc(f"cannot read the receipt of 0x{tx_hash.hex()} from {self.where}"):
            try:
                r = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
            events = []
            if r.get("to"):
                decoded = self._contract(r["to"]).events.Anchored().process_receipt(
                    r, errors=DISCARD)
                events = [AnchorEvent(contract=checksum(ev["address"]),
                                      sender=checksum(ev["args"]["sender"]),
                                      log_id=bytes(ev["args"]["logId"]),
                                      size=int(ev["args"]["size"]),
                                      root=bytes(ev["args"]["root"])) for ev in decoded]
            return Receipt(tx_hash=bytes(r["transactionHash"]), status=int(r["status"]),
                           block_number=int(r["blockNumber"]), block_hash=bytes(r["blockHash"]),
                           gas_used=int(r["gasUsed"]), sender=checksum(r["from"]),
                           events=tuple(events))

    def transaction_known(self, tx_hash: bytes) -> bool:
        """Whether the node knows the transaction at all (mined or waiting in its pool)."""
        with _rpc(f"cannot look up 0x{tx_hash.hex()} on {self.where}"):
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
            return True

    # --- writes -------------------------------------------------------------------------------

    def _fees(self) -> dict[str, int]:
        with _rpc(f"cannot read fees from {self.where}"):
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except Web3Exception:
                tip = DEFAULT_TIP_WEI
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _sign(self, private_key: bytes | str, tx: dict[str, Any]) -> SignedTx:
        signed = account(private_key).sign_transaction(tx)
        return SignedTx(raw=bytes(signed.raw_transaction), tx_hash=bytes(signed.hash),
                        nonce=int(tx["nonce"]))

    def sign_anchor(self, private_key: bytes | str, contract: str, *, log_id: bytes, size: int,
                    root: bytes, nonce: int) -> SignedTx:
        """A signed ``anchor(log_id, size, root)`` call, not yet sent (so it can be recorded)."""
        data = self._contract(contract).encode_abi("anchor", args=[log_id, size, root])
        tx = {"to": checksum(contract), "data": data, "value": 0, "nonce": nonce,
              "gas": ANCHOR_GAS_LIMIT, "chainId": self.chain_id(), "type": 2, **self._fees()}
        return self._sign(private_key, tx)

    def sign_deploy(self, private_key: bytes | str, nonce: int) -> SignedTx:
        tx = {"data": artifact()["bytecode"], "value": 0, "nonce": nonce,
              "gas": DEPLOY_GAS_LIMIT, "chainId": self.chain_id(), "type": 2, **self._fees()}
        return self._sign(private_key, tx)

    def send_raw(self, raw: bytes) -> None:
        """Broadcast a signed transaction; resending one the node already has is not an error."""
        try:
            with _rpc(f"cannot send a transaction to {self.where}"):
                self.w3.eth.send_raw_transaction(raw)
        except ChainUnavailableError as e:
            text = str(e).lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return
            raise

    def wait(self, tx_hash: bytes, *, timeout_s: float = 60) -> Receipt:
        with _rpc(f"no receipt for 0x{tx_hash.hex()} from {self.where}"):
            self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout_s,
                                                     poll_latency=0.1)
        found = self.receipt(tx_hash)
        assert found is not None
        return found

    def deploy(self, private_key: bytes | str) -> tuple[str, Receipt]:
        """Deploy the committed Anchor bytecode; returns its address and the receipt."""
        sender = address_of(private_key)
        signed = self.sign_deploy(private_key, self.nonce(sender, pending=True))
        self.send_raw(signed.raw)
        receipt = self.wait(signed.tx_hash)
        with _rpc(f"cannot read the deployment receipt from {self.where}"):
            found = self.w3.eth.get_transaction_receipt(HexBytes(signed.tx_hash))
            address = found["contractAddress"]
        if receipt.status != 1 or address is None:
            raise ContractMissingError(f"deploying the Anchor contract failed on {self.where}")
        return checksum(address), receipt

    def fund_dev(self, address: str, wei: int = DEV_FUNDS_WEI) -> None:
        """Give ``address`` funds on a dev chain (in-process: from a dev account; anvil: set)."""
        if self.rpc is None:
            with _rpc("cannot fund the key on the in-process EVM"):
                tx = self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0],
                                                   "to": checksum(address), "value": Wei(wei)})
                self.w3.eth.wait_for_transaction_receipt(tx)
            return
        self.call("anvil_setBalance", [checksum(address), hex(wei)])

    def call(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (anvil's evm_snapshot, evm_revert, evm_mine, ...)."""
        with _rpc(f"{method} failed on {self.where}"):
            response = cast(dict[str, Any], self.w3.provider.make_request(
                cast(Any, method), params))
        if response.get("error"):
            raise ChainUnavailableError(f"{method} failed on {self.where}: {response['error']}")
        return response.get("result")

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks on a dev chain (to reach a confirmation depth)."""
        if self.rpc is None:
            with _rpc("cannot mine on the in-process EVM"):
                provider = cast(Any, self.w3.provider)
                provider.ethereum_tester.mine_blocks(blocks)
            return
        for _ in range(blocks):
            self.call("evm_mine", [])
