"""The embedded default backend: SQLite in the data directory. Single node only."""

from aesel.storage.embedded.sqlite import SqliteStore

__all__ = ["SqliteStore"]
