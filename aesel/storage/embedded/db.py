"""``SqliteDb``: the plumbing every embedded SQLite store shares.

Theory of operation: one connection, owned by one worker thread, serves every call in the
order issued (a single-thread executor), so the event loop never blocks on disk and writes
from one caller apply in order. WAL mode with ``synchronous=FULL``: a committed write survives
a crash of the process and of the machine. Entities are JSON documents beside the columns that
queries filter on. SQLite errors are translated here, once: a constraint violation is a
``Conflict``, anything else ``BackendUnavailable``.

Faults. The connection holds an exclusive lock (``locking_mode=EXCLUSIVE``), so the WAL
index lives in heap memory instead of a shared mmap of ``<db>-shm``: a store file that turns
unwritable under us gives an I/O error (answered 503 and logged), not a SIGBUS that kills the
process; it also means one aesel process per data directory. ``open`` refuses, with one line
naming the file, an empty file where a store was expected, a file that fails
``PRAGMA quick_check``, and a store it cannot write. :meth:`problem` says whether the last
call failed (the last write, once any write succeeded again), for ``/health``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from aesel.errors import BackendUnavailable, Conflict
from aesel.model.entities import Entity, Object3D, Property

T = TypeVar("T")
E = TypeVar("E", bound=Entity)


def _parse(cls: type[E], doc: bytes | str) -> E:
    """A stored document as an entity; one that no longer parses (written by an older version,
    or damaged) is a ``BackendUnavailable`` naming what is wrong, never an internal error."""
    try:
        return cls.model_validate_json(doc)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise BackendUnavailable(
            f"a stored {cls.__name__.lower()} does not parse: {where}: {err['msg'].lower()}"
        ) from None


def dump(e: Entity) -> bytes:
    """An entity as the JSON document stored in a ``doc`` column."""
    return orjson.dumps(e.model_dump(mode="json"))


def dump_state(e: Object3D | Property) -> bytes:
    """As :func:`dump` (the same bytes), for the values written behind at streaming rates: the
    fields straight from the model by orjson, nested models through ``model_dump`` (a moved
    object has none), 1.2 against 5 us. ``tests/unit/test_entities.py`` holds the two equal."""
    return orjson.dumps(e.__dict__, default=_nested, option=orjson.OPT_NON_STR_KEYS)


def _nested(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not stored")


class SqliteDb:
    """One SQLite file with ``schema``, served by one thread. Single node only."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aesel-{path.stem}")
        self._db: sqlite3.Connection | None = None
        self._error: str | None = None  # the last failure, until a write succeeds
        self._closed = False

    def problem(self) -> str | None:
        """Why the store cannot serve (closed, or its last call failed); ``None`` when healthy."""
        if self._db is None:
            return f"{self.path.name} is closed"
        return f"{self.path.name}: {self._error}" if self._error is not None else None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, f"{self.path.name} is not open"
            try:
                return fn(self._db)
            except sqlite3.IntegrityError as e:
                raise Conflict(f"already taken: {e}") from e
            except sqlite3.Error as e:
                self._error = str(e)
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
            self._error = None
            return out

        return await self._run(run)

    async def _write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``sql`` once per row, in one transaction.

        Not ``executemany``: under load it failed now and then with SQLITE_MISUSE ("bad
        parameter or other API misuse") on rows that ``execute`` then wrote fine.
        """

        def run(db: sqlite3.Connection) -> None:
            for row in rows:
                db.execute(sql, row)

        await self._tx(run)

    async def open(self) -> None:
        """Open (or create) the store; refuses an empty, damaged or unwritable one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> None:
            if self.path.is_file() and self.path.stat().st_size == 0:
                raise BackendUnavailable(
                    f"cannot open {self.path}: the file is empty, expected an aesel store "
                    "(remove it to start afresh)"
                )
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                # the WAL index in heap memory, not a mmap of <db>-shm: a store file that turns
                # unwritable is then an I/O error (503), not a SIGBUS that kills the process
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA busy_timeout=5000")
                rows = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
                if rows != ["ok"]:
                    raise BackendUnavailable(
                        f"cannot open {self.path}: integrity check failed: {'; '.join(rows)}"
                    )
                db.executescript(self._schema)
                # a real write: a read-only file or directory is refused now, not at first use
                (version,) = db.execute("PRAGMA user_version").fetchone()
                db.execute(f"PRAGMA user_version={int(version)}")
            except BaseException:
                db.close()
                raise
            self._db = db

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as e:
            raise BackendUnavailable(f"cannot open {self.path}: {e}") from e

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def _get(self, cls: type[E], sql: str, *args: Any) -> E | None:
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        row = rows[0] if rows else None
        return _parse(cls, row[0]) if row else None

    async def _all(self, cls: type[E], sql: str, *args: Any) -> list[E]:
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [_parse(cls, r[0]) for r in rows]

    async def _delete(self, sql: str, *args: Any) -> bool:
        """Run a DELETE; ``True`` when it removed a row."""
        return await self._run(lambda db: db.execute(sql, args).rowcount > 0)
