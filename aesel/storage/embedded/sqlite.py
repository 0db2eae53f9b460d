"""``SqliteStore``: every store contract on one SQLite file. Single node only.

Theory of operation: one connection, owned by one worker thread, serves every call in the
order issued (a single-thread executor). The event loop never blocks on disk. The database
runs in WAL mode with ``synchronous=FULL``, so a committed write survives a crash of the
process and of the machine. Entities are stored as JSON documents beside the columns that
queries filter on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from aesel.errors import BackendUnavailable
from aesel.model.entities import (
    Device,
    DeviceTransform,
    Entity,
    Object3D,
    Property,
    Registration,
    Scene,
)
from aesel.storage.base import ObjectFilter, PropertyFilter, SceneFilter

T = TypeVar("T")
E = TypeVar("E", bound=Entity)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, scene TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS objects_scene ON objects(scene, name);
CREATE TABLE IF NOT EXISTS properties (
    key TEXT PRIMARY KEY, scene TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS properties_scene ON properties(scene, name);
CREATE TABLE IF NOT EXISTS scenes (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS devices (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    scene TEXT NOT NULL, device TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (scene, device));
CREATE INDEX IF NOT EXISTS registrations_device ON registrations(device);
CREATE TABLE IF NOT EXISTS links (
    a TEXT NOT NULL, b TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (a, b));
"""


def _prefilter(filters: Sequence[ObjectFilter | PropertyFilter]) -> tuple[str, list[str]]:
    """A WHERE clause on the indexed columns (scene, name) that every match satisfies.

    One scan serves all the filters of a query; the exact match happens in Python.
    """
    clauses, args = [], list[str]()
    for f in filters:
        parts = []
        for column in ("scene", "name"):
            value = getattr(f, column)
            if value is not None:
                parts.append(f"{column}=?")
                args.append(value)
        if not parts:
            return "", []  # an unrestricted filter: every row is a candidate
        clauses.append("(" + " AND ".join(parts) + ")")
    return (" WHERE " + " OR ".join(clauses), args) if clauses else ("", [])


def _dump(e: Entity) -> bytes:
    return orjson.dumps(e.model_dump(mode="json"))


class SqliteStore:
    """All store contracts on ``<data_dir>/aesel.db``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "aesel.db"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aesel-sqlite")
        self._db: sqlite3.Connection | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, "store is not open"
            try:
                return fn(self._db)
            except sqlite3.Error as e:
                raise BackendUnavailable(f"sqlite: {e}") from e

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
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

    @staticmethod
    def _write(db: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(sql, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def _get(self, cls: type[E], sql: str, *args: Any) -> E | None:
        row = await self._run(lambda db: db.execute(sql, args).fetchone())
        return cls.model_validate_json(row[0]) if row else None

    async def _all(self, cls: type[E], sql: str, *args: Any) -> list[E]:
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [cls.model_validate_json(r[0]) for r in rows]

    async def _delete(self, sql: str, *args: Any) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            return db.execute(sql, args).rowcount > 0

        return await self._run(run)

    # -- objects --------------------------------------------------------------------------

    async def get_object(self, key: str) -> Object3D | None:
        return await self._get(Object3D, "SELECT doc FROM objects WHERE key=?", key)

    async def put_objects(self, objects: Sequence[Object3D]) -> None:
        rows = [(o.key, o.scene, o.name, _dump(o)) for o in objects]
        sql = "INSERT OR REPLACE INTO objects(key, scene, name, doc) VALUES (?,?,?,?)"
        await self._run(lambda db: self._write(db, sql, rows))

    async def delete_object(self, key: str) -> bool:
        return await self._delete("DELETE FROM objects WHERE key=?", key)

    async def query_objects(self, filters: Sequence[ObjectFilter], limit: int) -> list[Object3D]:
        where, args = _prefilter(filters)
        candidates = await self._all(
            Object3D, f"SELECT doc FROM objects{where} ORDER BY key", *args
        )
        return [o for o in candidates if any(f.matches(o) for f in filters)][:limit]

    # -- properties -----------------------------------------------------------------------

    async def get_property(self, key: str) -> Property | None:
        return await self._get(Property, "SELECT doc FROM properties WHERE key=?", key)

    async def put_properties(self, properties: Sequence[Property]) -> None:
        rows = [(p.key, p.scene, p.name, _dump(p)) for p in properties]
        sql = "INSERT OR REPLACE INTO properties(key, scene, name, doc) VALUES (?,?,?,?)"
        await self._run(lambda db: self._write(db, sql, rows))

    async def delete_property(self, key: str) -> bool:
        return await self._delete("DELETE FROM properties WHERE key=?", key)

    async def query_properties(
        self, filters: Sequence[PropertyFilter], limit: int
    ) -> list[Property]:
        where, args = _prefilter(filters)
        candidates = await self._all(
            Property, f"SELECT doc FROM properties{where} ORDER BY key", *args
        )
        return [p for p in candidates if any(f.matches(p) for f in filters)][:limit]

    # -- scenes ---------------------------------------------------------------------------

    async def get_scene(self, key: str) -> Scene | None:
        return await self._get(Scene, "SELECT doc FROM scenes WHERE key=?", key)

    async def put_scene(self, scene: Scene) -> None:
        sql = "INSERT OR REPLACE INTO scenes(key, doc) VALUES (?,?)"
        await self._run(lambda db: self._write(db, sql, [(scene.key, _dump(scene))]))

    async def delete_scene(self, key: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")
            try:
                n = db.execute("DELETE FROM scenes WHERE key=?", (key,)).rowcount
                db.execute("DELETE FROM registrations WHERE scene=?", (key,))
                db.execute("DELETE FROM links WHERE a=? OR b=?", (key, key))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return n > 0

        return await self._run(run)

    async def query_scenes(self, f: SceneFilter, start: int, limit: int) -> list[Scene]:
        scenes = await self._all(Scene, "SELECT doc FROM scenes ORDER BY key")
        return [s for s in scenes if f.matches(s)][start : start + limit]

    # -- devices and registrations --------------------------------------------------------

    async def get_device(self, key: str) -> Device | None:
        return await self._get(Device, "SELECT doc FROM devices WHERE key=?", key)

    async def put_device(self, device: Device) -> None:
        sql = "INSERT OR REPLACE INTO devices(key, doc) VALUES (?,?)"
        await self._run(lambda db: self._write(db, sql, [(device.key, _dump(device))]))

    async def put_registration(self, reg: Registration) -> None:
        sql = "INSERT OR REPLACE INTO registrations(scene, device, doc) VALUES (?,?,?)"
        await self._run(lambda db: self._write(db, sql, [(reg.scene, reg.device, _dump(reg))]))

    async def delete_registration(self, scene: str, device: str) -> bool:
        return await self._delete(
            "DELETE FROM registrations WHERE scene=? AND device=?", scene, device
        )

    async def registrations(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[Registration]:
        sql, args = "SELECT doc FROM registrations WHERE 1=1", list[str]()
        if scene is not None:
            sql, args = sql + " AND scene=?", [*args, scene]
        if device is not None:
            sql, args = sql + " AND device=?", [*args, device]
        return await self._all(Registration, sql + " ORDER BY scene, device", *args)

    async def put_link(self, a: str, b: str, t: DeviceTransform) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM links WHERE a=? AND b=?", (b, a))
                db.execute(
                    "INSERT OR REPLACE INTO links(a, b, doc) VALUES (?,?,?)", (a, b, _dump(t))
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(run)

    async def links(self) -> list[tuple[str, str, DeviceTransform]]:
        rows = await self._run(lambda db: db.execute("SELECT a, b, doc FROM links").fetchall())
        return [(a, b, DeviceTransform.model_validate_json(doc)) for a, b, doc in rows]
