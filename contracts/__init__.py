"""Solidity anchoring contract, its committed build output, the web3 client (issue 5)."""

import sys

# The interpreter's recursion limit before web3 loads: py_ecc (which web3 imports) raises it to
# 100,000, deep enough for a nested request body to overflow the C stack and kill the process.
# ``contracts.chain`` puts it back right after importing web3.
RECURSION_LIMIT = min(sys.getrecursionlimit(), 1000)
