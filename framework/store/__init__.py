"""Persistence: the Store (SQLAlchemy Core on SQLite or PostgreSQL), its tables and migrations."""

from framework.store.database import Store, StoreUnavailable, open_store
from framework.store.tables import metadata

__all__ = ["Store", "StoreUnavailable", "metadata", "open_store"]
