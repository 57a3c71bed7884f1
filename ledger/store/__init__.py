"""Storage of the ledger through SQLAlchemy: the only package that touches SQL.

SQLite (a file, WAL, durable commits) is the embedded default; PostgreSQL through psycopg 3 is
the path for several API workers and large ledgers.  Schema changes go through Alembic.
"""

from ledger.store.db import DatabaseError, open_engine
from ledger.store.ledger import AppendResult, Ledger

__all__ = ["AppendResult", "DatabaseError", "Ledger", "open_engine"]
