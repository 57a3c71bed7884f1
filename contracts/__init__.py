"""Solidity anchoring contract, its committed build output, the web3 client (issue 5)."""
