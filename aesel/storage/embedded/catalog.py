"""The embedded catalog: metadata in ``<data_dir>/catalog.db`` (SQLite), asset bytes as files
under ``<data_dir>/assets/``. Single node only.

Theory of operation: as :class:`aesel.storage.embedded.sqlite.SqliteStore`, one connection
owned by one worker thread serves every call in order (WAL, ``synchronous=FULL``). The catalog
has its own file, so asset and user traffic never queues behind streamed object writes.

Blobs: an upload writes to ``assets/.tmp-<random>`` in 1 MiB batches from a worker thread,
``fsync``\\ s it, then renames it to ``assets/<key>`` (atomic on POSIX). The metadata row is
inserted only after that rename succeeds, and an aborted upload unlinks its temporary file, so
neither a partial file nor orphan metadata is ever visible. Temporary files left by a crash are
removed at :meth:`FileBlobs.open`, and a blob renamed into place whose metadata a crash kept
from committing is removed at start by :meth:`FileBlobs.collect` (the node passes the keys the
catalog knows). A write that fails (a full disk) is a ``BackendUnavailable`` (503), whatever
closing the partial file raises after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from aesel.errors import BackendUnavailable
from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    Project,
    User,
    new_id,
)
from aesel.storage.catalog import AssetFilter, GroupFilter, RelationshipFilter
from aesel.storage.embedded.db import E, SqliteDb, dump

SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS relationships (
    id TEXT PRIMARY KEY, asset TEXT NOT NULL, related TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS relationships_asset ON relationships(asset);
CREATE INDEX IF NOT EXISTS relationships_related ON relationships(related);
CREATE TABLE IF NOT EXISTS histories (id TEXT PRIMARY KEY, asset TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS histories_asset ON histories(asset);
CREATE TABLE IF NOT EXISTS collections (id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT UNIQUE, doc BLOB NOT NULL);
"""

WRITE_BATCH = 1 << 20


class SqliteCatalog(SqliteDb):
    """Every catalog store contract on ``<data_dir>/catalog.db``."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir) / "catalog.db", SCHEMA)

    async def _by_ids(self, cls: type[E], table: str, col: str, ids: Sequence[str]) -> list[E]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        sql = f"SELECT doc FROM {table} WHERE {col} IN ({marks}) ORDER BY {col}"
        return await self._all(cls, sql, *ids)

    # -- assets ---------------------------------------------------------------------------

    async def put_asset(self, meta: AssetMeta, relationship: AssetRelationship | None) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO assets(key, doc) VALUES (?,?)", (meta.key, dump(meta)))
            if relationship is not None:
                _put_rel(db, relationship)

        await self._tx(run)

    async def add_version(self, old_key: str, meta: AssetMeta) -> AssetHistory:
        def run(db: sqlite3.Connection) -> AssetHistory:
            db.execute("INSERT INTO assets(key, doc) VALUES (?,?)", (meta.key, dump(meta)))
            rows = db.execute("SELECT doc FROM relationships WHERE asset=?", (old_key,))
            for (doc,) in rows.fetchall():
                rel = AssetRelationship.model_validate_json(doc)
                _put_rel(db, rel.model_copy(update={"asset_id": meta.key}))
            row = db.execute(
                "SELECT doc FROM histories WHERE asset=? ORDER BY id LIMIT 1", (old_key,)
            ).fetchone()
            if row:
                old = AssetHistory.model_validate_json(row[0])
                history = old.model_copy(
                    update={"asset": meta.key, "asset_ids": (meta.key, *old.asset_ids)}
                )
            else:
                history = AssetHistory(id=new_id(), asset=meta.key, asset_ids=(meta.key, old_key))
            db.execute(
                "INSERT OR REPLACE INTO histories(id, asset, doc) VALUES (?,?,?)",
                (history.id, history.asset, dump(history)),
            )
            return history

        return await self._tx(run)

    async def asset_keys(self) -> set[str]:
        """The key of every asset (every blob that should exist)."""
        rows = await self._run(lambda db: db.execute("SELECT key FROM assets").fetchall())
        return {r[0] for r in rows}

    async def get_asset(self, key: str) -> AssetMeta | None:
        return await self._get(AssetMeta, "SELECT doc FROM assets WHERE key=?", key)

    async def delete_asset(self, key: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            n = db.execute("DELETE FROM assets WHERE key=?", (key,)).rowcount
            db.execute("DELETE FROM relationships WHERE asset=?", (key,))
            return n > 0

        return await self._tx(run)

    async def _assets(self, f: AssetFilter) -> list[AssetMeta]:
        if f.key is not None:
            found = await self._by_ids(AssetMeta, "assets", "key", [f.key])
        else:
            found = await self._all(AssetMeta, "SELECT doc FROM assets ORDER BY key")
        return [a for a in found if f.matches(a)]

    async def query_assets(self, f: AssetFilter, offset: int, limit: int) -> list[AssetMeta]:
        return (await self._assets(f))[offset : offset + limit]

    async def count_assets(self, f: AssetFilter) -> int:
        return len(await self._assets(f))

    async def assets_by_ids(self, ids: Sequence[str]) -> list[AssetMeta]:
        return await self._by_ids(AssetMeta, "assets", "key", ids)

    async def histories(self, asset: str) -> list[AssetHistory]:
        sql = "SELECT doc FROM histories WHERE asset=? ORDER BY id"
        return await self._all(AssetHistory, sql, asset)

    async def put_history(self, h: AssetHistory) -> None:
        sql = "INSERT OR REPLACE INTO histories(id, asset, doc) VALUES (?,?,?)"
        await self._write(sql, [(h.id, h.asset, dump(h))])

    # -- relationships --------------------------------------------------------------------

    async def put_relationships(self, rels: Sequence[AssetRelationship]) -> None:
        def run(db: sqlite3.Connection) -> None:
            for r in rels:
                _put_rel(db, r)

        await self._tx(run)

    async def _relationships(self, f: RelationshipFilter) -> list[AssetRelationship]:
        sql, args = "SELECT doc FROM relationships WHERE 1=1", list[Any]()
        if f.asset is not None:
            sql, args = sql + " AND asset=?", [*args, f.asset]
        if f.related is not None:
            sql, args = sql + " AND related=?", [*args, f.related]
        found = await self._all(AssetRelationship, sql + " ORDER BY id", *args)
        return [r for r in found if f.matches(r)]

    async def query_relationships(
        self, f: RelationshipFilter, offset: int, limit: int
    ) -> list[AssetRelationship]:
        return (await self._relationships(f))[offset : offset + limit]

    async def delete_relationships(self, f: RelationshipFilter) -> list[AssetRelationship]:
        def run(db: sqlite3.Connection) -> list[AssetRelationship]:
            rows = db.execute("SELECT doc FROM relationships ORDER BY id").fetchall()
            gone = [
                r
                for r in (AssetRelationship.model_validate_json(d) for (d,) in rows)
                if f.matches(r)
            ]
            for r in gone:  # not executemany: see SqliteDb._write
                db.execute("DELETE FROM relationships WHERE id=?", (r.id,))
            return gone

        return await self._tx(run)

    # -- collections and projects ---------------------------------------------------------

    async def put_collection(self, c: AssetCollection) -> None:
        sql = "INSERT OR REPLACE INTO collections(id, doc) VALUES (?,?)"
        await self._tx(lambda db: db.execute(sql, (c.id, dump(c))))

    async def get_collection(self, id: str) -> AssetCollection | None:
        return await self._get(AssetCollection, "SELECT doc FROM collections WHERE id=?", id)

    async def delete_collection(self, id: str) -> bool:
        return await self._delete("DELETE FROM collections WHERE id=?", id)

    async def query_collections(
        self, f: GroupFilter, offset: int, limit: int
    ) -> list[AssetCollection]:
        found = await self._all(AssetCollection, "SELECT doc FROM collections ORDER BY id")
        return [c for c in found if f.matches(c)][offset : offset + limit]

    async def collections_by_ids(self, ids: Sequence[str]) -> list[AssetCollection]:
        return await self._by_ids(AssetCollection, "collections", "id", ids)

    async def put_project(self, p: Project) -> None:
        sql = "INSERT OR REPLACE INTO projects(id, doc) VALUES (?,?)"
        await self._tx(lambda db: db.execute(sql, (p.id, dump(p))))

    async def get_project(self, id: str) -> Project | None:
        return await self._get(Project, "SELECT doc FROM projects WHERE id=?", id)

    async def delete_project(self, id: str) -> bool:
        return await self._delete("DELETE FROM projects WHERE id=?", id)

    async def query_projects(self, f: GroupFilter, offset: int, limit: int) -> list[Project]:
        found = await self._all(Project, "SELECT doc FROM projects ORDER BY id")
        return [p for p in found if f.matches(p)][offset : offset + limit]

    # -- users ----------------------------------------------------------------------------

    @staticmethod
    def _user_row(u: User) -> tuple[str, str, str | None, bytes]:
        return (u.id, u.username, u.email or None, dump(u))

    async def create_user(self, u: User) -> None:
        sql = "INSERT INTO users(id, username, email, doc) VALUES (?,?,?,?)"
        await self._tx(lambda db: db.execute(sql, self._user_row(u)))

    async def put_user(self, u: User) -> None:
        sql = "INSERT OR ABORT INTO users(id, username, email, doc) VALUES (?,?,?,?)"

        def run(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM users WHERE id=?", (u.id,))
            db.execute(sql, self._user_row(u))

        await self._tx(run)

    async def get_user(self, id: str) -> User | None:
        return await self._get(User, "SELECT doc FROM users WHERE id=?", id)

    async def user_by_name(self, username: str) -> User | None:
        return await self._get(User, "SELECT doc FROM users WHERE username=?", username)

    async def query_users(
        self, username: str | None, email: str | None, offset: int, limit: int
    ) -> list[User]:
        sql, args = "SELECT doc FROM users WHERE 1=1", list[Any]()
        if username is not None:
            sql, args = sql + " AND username=?", [*args, username]
        if email is not None:
            sql, args = sql + " AND email=?", [*args, email]
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        return await self._all(User, sql, *args, limit, offset)

    async def delete_user(self, id: str) -> bool:
        return await self._delete("DELETE FROM users WHERE id=?", id)

    async def count_users(self) -> int:
        row = await self._run(lambda db: db.execute("SELECT count(*) FROM users").fetchone())
        return int(row[0])


def _put_rel(db: sqlite3.Connection, r: AssetRelationship) -> None:
    db.execute(
        "INSERT OR REPLACE INTO relationships(id, asset, related, doc) VALUES (?,?,?,?)",
        (r.id, r.asset_id, r.related_id, dump(r)),
    )


# -- blobs ----------------------------------------------------------------------------------


class FileUpload:
    """An upload to a temporary file, renamed into place on :meth:`commit`."""

    def __init__(self, blobs: FileBlobs) -> None:
        self._blobs = blobs
        self._tmp = blobs.root / f".tmp-{secrets.token_hex(8)}"
        self._file: BinaryIO | None = None
        self._buffer = bytearray()
        self.size = 0

    async def _flush(self) -> None:
        if not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()

        def write() -> None:
            if self._file is None:
                self._file = open(self._tmp, "xb")  # noqa: SIM115 - closed in commit/abort
            self._file.write(data)

        await asyncio.to_thread(write)

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.size += len(chunk)
        if len(self._buffer) >= WRITE_BATCH:
            try:
                await self._flush()
            except OSError as e:
                await self.abort()
                raise BackendUnavailable(f"cannot store asset: {e.strerror}") from e

    async def commit(self, key: str) -> None:
        try:
            if self._file is None and not self._buffer:
                self._buffer = bytearray()
                await asyncio.to_thread(lambda: open(self._tmp, "xb").close())
            await self._flush()

            def finish() -> None:
                if self._file is not None:
                    self._file.flush()
                    os.fsync(self._file.fileno())
                    self._file.close()
                    self._file = None
                os.replace(self._tmp, self._blobs.root / key)
                self._blobs.sync_dir()

            await asyncio.to_thread(finish)
        except OSError as e:
            await self.abort()
            raise BackendUnavailable(f"cannot store asset: {e.strerror}") from e

    async def abort(self) -> None:
        def drop() -> None:
            if self._file is not None:
                file, self._file = self._file, None
                with contextlib.suppress(OSError):  # flushing the rest fails on a full disk
                    file.close()
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()

        self._buffer = bytearray()
        await asyncio.to_thread(drop)


class FileBlobs:
    """Asset bytes as files named by key under ``<data_dir>/assets``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "assets"

    async def open(self) -> None:
        def prepare() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            for stale in self.root.glob(".tmp-*"):
                stale.unlink(missing_ok=True)

        await asyncio.to_thread(prepare)

    async def collect(self, known: set[str]) -> int:
        """Remove blobs whose key the catalog does not know (a crash between the rename and
        the metadata commit left them); returns how many. Run at start, before any upload."""

        def sweep() -> int:
            orphans = [
                p for p in self.root.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.name not in known
            ]  # fmt: skip
            for p in orphans:
                p.unlink(missing_ok=True)
            return len(orphans)

        return await asyncio.to_thread(sweep)

    def sync_dir(self) -> None:
        """fsync the directory, so a rename survives a machine crash."""
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _path(self, key: str) -> Path | None:
        # keys are ours (hex), but a URL can carry anything: never leave the directory
        if not key or "/" in key or "\\" in key or key.startswith("."):
            return None
        return self.root / key

    def begin(self) -> FileUpload:
        return FileUpload(self)

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except OSError:
            return None

    async def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self._path(key)
        if path is None:
            return
        f = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, chunk_size):
                yield chunk
        finally:
            await asyncio.to_thread(f.close)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            await asyncio.to_thread(path.unlink, True)
