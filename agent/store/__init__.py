"""The result store: SQLAlchemy 2 over SQLite (WAL, embedded default) or PostgreSQL."""

from agent.store.store import Store, default_data_dir

__all__ = ["Store", "default_data_dir"]
