"""The pure core of Passport: records, canonical encoding, signatures, chains, Merkle proofs.

No module here performs I/O; storage lives in ``ledger.store``.
"""
