"""The member's wallet: keys, key store, sealing, grants, sync with a node (issue 4)."""
