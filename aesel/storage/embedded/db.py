"""``SqliteDb``: the plumbing every embedded SQLite store shares.

Theory of operation: one connection, owned by one worker thread, serves every call in the
order issued (a single-thread executor), so the event loop never blocks on disk and writes
from one caller apply in order. WAL mode with ``synchronous=FULL``: a committed write survives
a crash of the process and of the machine. Entities are JSON documents beside the columns that
queries filter on. SQLite errors are translated here, once: a constraint violation is a
``Conflict``, anything else ``BackendUnavailable``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from aesel.errors import BackendUnavailable, Conflict
from aesel.model.entities import Entity

T = TypeVar("T")
E = TypeVar("E", bound=Entity)


def dump(e: Entity) -> bytes:
    """An entity as the JSON document stored in a ``doc`` column."""
    return orjson.dumps(e.model_dump(mode="json"))


class SqliteDb:
    """One SQLite file with ``schema``, served by one thread. Single node only."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aesel-{path.stem}")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, f"{self.path.name} is not open"
            try:
                return fn(self._db)
            except sqlite3.IntegrityError as e:
                raise Conflict(f"already taken: {e}") from e
            except sqlite3.Error as e:
                raise BackendUnavailable(f"sqlite: {e}") from e

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction: all of it commits, or none."""

        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return out

        return await self._run(run)

    async def _write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``executemany`` in one transaction."""
        await self._tx(lambda db: db.executemany(sql, rows))

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(self._schema)
            self._db = db

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as e:
            raise BackendUnavailable(f"cannot open {self.path}: {e}") from e

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def _get(self, cls: type[E], sql: str, *args: Any) -> E | None:
        row = await self._run(lambda db: db.execute(sql, args).fetchone())
        return cls.model_validate_json(row[0]) if row else None

    async def _all(self, cls: type[E], sql: str, *args: Any) -> list[E]:
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [cls.model_validate_json(r[0]) for r in rows]

    async def _delete(self, sql: str, *args: Any) -> bool:
        """Run a DELETE; ``True`` when it removed a row."""
        return await self._run(lambda db: db.execute(sql, args).rowcount > 0)
