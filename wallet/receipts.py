"""Receipts left at the nodes that follow the member's node (issue 17, "receipts across nodes").

A follower serves the member's values to services too, and keeps the receipt of each such read
at home, signed with its own log key.  A node lets only its peers replicate its values, so the
member's node's peer list (``GET /v1/federation/peers``, with each peer's pinned log key) names
every node that can serve them.  The wallet asks each for the member's receipts with a signed
request, as it asks its own node, and checks every receipt under the log key its node pinned
for that peer, not one the peer announces.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from passport_api.client import NodeClient, verify_receipt
from wallet.errors import UnreachableNodeError

if TYPE_CHECKING:
    from wallet.wallet import Wallet

log = logging.getLogger(__name__)


def at_peers(wallet: Wallet) -> list[dict[str, Any]]:
    """Every receipt of the member at the peers of its node, each tagged with the node."""
    from wallet.keeper import talking_to  # noqa: PLC0415 (wallet.wallet imports this module)

    with talking_to(wallet.node):
        peers = wallet.client.peers()
    found: list[dict[str, Any]] = []
    for peer in peers:
        if not peer.get("log_key"):
            continue  # never reached: nothing of the member's can have been served there
        url, key = str(peer["url"]), bytes.fromhex(peer["log_key"])
        try:
            with NodeClient(url, wallet.author.signing_key, did=wallet.did) as client, \
                    talking_to(url):
                listed = client.receipts(wallet.did)
        except UnreachableNodeError as e:
            log.warning("receipts at %s not listed: %s", url, e)
            continue
        found += [{**verify_receipt(r, key), "node": url} for r in listed]
    return found
