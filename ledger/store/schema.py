"""Tables of the ledger.  Queries use these; migrations hold frozen copies of each version."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only uses a table's rowid (fast appends, no extra index) for "INTEGER PRIMARY KEY".
BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

log_state = sa.Table(
    "log_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: the row appenders lock
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)

records = sa.Table(
    "records", metadata,
    sa.Column("idx", BigKey, primary_key=True, autoincrement=False),
    sa.Column("rid", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("author", "seq", name="uq_records_author_seq"),
)

merkle_tiles = sa.Table(
    "merkle_tiles", metadata,  # the Merkle tree as C2SP tlog-tiles (migration 0006)
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    # the hashes of nodes (8 * level, 256 * idx + i), 32 bytes each; up to 256, the rightmost
    # tile of each level grows as the log does; every other node is computed from these
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

chains = sa.Table(
    "chains", metadata,
    sa.Column("author", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("head", sa.LargeBinary(32), nullable=False),  # id of the record at seq
    # ChainState.keys_json(); NULL while the chain's genesis key is its only key
    sa.Column("key_history", sa.Text, nullable=True),
)

tree_heads = sa.Table(
    "tree_heads", metadata,
    sa.Column("size", BigKey, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("note", sa.LargeBinary, nullable=False),  # C2SP checkpoint, signed
)

blobs = sa.Table(
    "blobs", metadata,
    sa.Column("digest", sa.LargeBinary(32), primary_key=True),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=True),  # NULL once erased
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("erased_ms", sa.BigInteger, nullable=True),
)

equivocations = sa.Table(
    "equivocations", metadata,
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("existing_rid", sa.LargeBinary(32), nullable=False),
    sa.Column("conflicting_rid", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("conflicting_raw", sa.LargeBinary, nullable=False),
    sa.Column("detected_ms", sa.BigInteger, nullable=False),
)

# --- the node's access state (migration 0002) ----------------------------------------------

request_nonces = sa.Table(
    "request_nonces", metadata,  # signed-request replay guard, shared by every worker
    sa.Column("keyid", sa.Text, primary_key=True),
    sa.Column("nonce", sa.Text, primary_key=True),
    sa.Column("expires_ms", sa.BigInteger, nullable=False, index=True),
)

challenges = sa.Table(
    "challenges", metadata,  # check-in challenges; the nonce itself is never stored
    sa.Column("nonce_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("space", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("used_rid", sa.LargeBinary(32), nullable=True),
)

receipts = sa.Table(
    "receipts", metadata,  # one per served scoped read; listed only to the member
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("member", sa.Text, nullable=False, index=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("served_ms", sa.BigInteger, nullable=False),
    sa.Column("receipt", sa.LargeBinary, nullable=False),  # canonical JSON, as signed
    sa.Column("node_sig", sa.LargeBinary(64), nullable=False),
)

# --- anchoring on Ethereum (migration 0003) -------------------------------------------------

anchor_contracts = sa.Table(
    "anchor_contracts", metadata,  # the Anchor contract the node deployed or was given, per chain
    sa.Column("chain_id", sa.BigInteger, primary_key=True),
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("retired_ms", sa.BigInteger, nullable=True),  # its code vanished: the chain was reset
)

anchors = sa.Table(
    "anchors", metadata,  # written before the transaction is sent, so none is lost or sent twice
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("chain_id", sa.BigInteger, nullable=False),
    sa.Column("contract", sa.Text, nullable=False),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("log_id", sa.LargeBinary(32), nullable=False),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    # pending (sent or about to be), confirmed, reverted, replaced, orphaned (chain reset)
    sa.Column("status", sa.Text, nullable=False, index=True),
    sa.Column("nonce", sa.BigInteger, nullable=False),
    sa.Column("tx_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("raw_tx", sa.LargeBinary, nullable=False),  # the signed transaction, resent as is
    sa.Column("block_number", sa.BigInteger, nullable=True),
    sa.Column("block_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
)

leases = sa.Table(
    "leases", metadata,  # one holder at a time across worker processes (the anchoring loop)
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)

# --- federation (migration 0004) -----------------------------------------------------------

peers = sa.Table(
    "peers", metadata,  # nodes this node follows (pulls from) and lets replicate its blobs
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("log_key", sa.LargeBinary(32), nullable=True),  # pinned on first contact
    sa.Column("origin", sa.Text, nullable=True),
    sa.Column("pulled", sa.BigInteger, nullable=False),  # entries of its log processed
    sa.Column("frontier", sa.Text, nullable=False),  # its Merkle frontier at ``pulled`` (JSON)
    sa.Column("head_note", sa.LargeBinary, nullable=True),  # its last head checked against it
    sa.Column("erasures_ms", sa.BigInteger, nullable=False),  # erasures applied up to
    sa.Column("refused", sa.BigInteger, nullable=False),  # its records this node refused
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

fork_evidence = sa.Table(
    "fork_evidence", metadata,  # two heads signed by one log key that cannot both be true
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("log_key", sa.LargeBinary(32), nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("note_a", sa.LargeBinary, nullable=False),
    sa.Column("note_b", sa.LargeBinary, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reported_by", sa.Text, nullable=False),
    sa.Column("detected_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("note_a", "note_b", name="uq_fork_evidence_notes"),
)

# --- evidence (migration 0005) -------------------------------------------------------------

erasures = sa.Table(
    "erasures", metadata,  # the member-signed order behind each erased value
    sa.Column("digest", sa.LargeBinary(32), primary_key=True),  # the blob erased
    sa.Column("author", sa.Text, nullable=False),
    # the signed DELETE /v1/blobs/<name> request (JSON: method, path, query, content-digest,
    # signature-input, signature); NULL only for values erased before migration 0005
    sa.Column("request", sa.LargeBinary, nullable=True),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
)

evidence = sa.Table(
    "evidence", metadata,  # a hash chain over node-made evidence: receipts, equivocations,
    sa.Column("n", BigKey, primary_key=True, autoincrement=False),  # erasures, forks
    sa.Column("kind", sa.Text, nullable=False),  # the table of the row
    sa.Column("ref", sa.Text, nullable=False),  # the row's key, as text
    sa.Column("digest", sa.LargeBinary(32), nullable=False),  # sha256 of the row's columns
    sa.Column("link", sa.LargeBinary(32), nullable=False),  # sha256(previous link, this entry)
    sa.UniqueConstraint("kind", "ref", name="uq_evidence_kind_ref"),
)

evidence_head = sa.Table(
    "evidence_head", metadata,  # the node's signature on the chain's last link
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: the row evidence writers lock
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("link", sa.LargeBinary(32), nullable=False),
    sa.Column("sig", sa.LargeBinary(64), nullable=False),
)

# --- consent views kept for cold reads (migration 0007) -------------------------------------

consent_views = sa.Table(
    "consent_views", metadata,  # a member's consent records as last folded, MAC'd by the node
    sa.Column("author", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the chain seq they were read at
    sa.Column("head", sa.Text, nullable=False),  # the id of the chain's record at seq
    sa.Column("records", sa.LargeBinary, nullable=False),  # view_states.encode
    sa.Column("mac", sa.LargeBinary(32), nullable=False),
)
