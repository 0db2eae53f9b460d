"""``MongoDb``: the plumbing every MongoDB store shares.

Theory of operation: one ``AsyncMongoClient`` per store (its own connection pool), on the
database named in the URL (``aesel`` when it names none). Every operation is bounded by the
client-side timeout (``timeoutMS``, covering server selection, connection and the command), so
no call waits longer than ``timeout`` seconds. Entities are stored as their JSON document in a
``doc`` string beside the top-level fields that queries filter and sort on (``_id`` is the key),
so every field round-trips, whatever characters action names hold. Multi-document writes run
in one transaction (the server must be a replica set; SecantusDB is a one-member one).

Driver errors are translated here, once, by :func:`translated`: a duplicate key is a
``Conflict``, anything else ``BackendUnavailable``. :meth:`MongoDb.open` creates the indexes
(idempotent) and checks the schema version recorded in ``aesel_meta``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import orjson
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from aesel.errors import BackendUnavailable, Conflict
from aesel.model.entities import Entity

T = TypeVar("T")
E = TypeVar("E", bound=Entity)
Doc = dict[str, Any]

SCHEMA_VERSION = 1
DUPLICATE_KEY = 11000


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Driver errors inside as ``Conflict`` (a duplicate key) or ``BackendUnavailable``."""
    try:
        yield
    except BulkWriteError as e:
        errors = e.details.get("writeErrors", ())
        if errors and all(err.get("code") == DUPLICATE_KEY for err in errors):
            raise Conflict(f"{what}: already taken") from e
        raise BackendUnavailable(f"mongodb {what}: {e}") from e
    except PyMongoError as e:
        if getattr(e, "code", None) == DUPLICATE_KEY:
            raise Conflict(f"{what}: already taken") from e
        raise BackendUnavailable(f"mongodb {what}: {e}") from e


def dump(e: Entity, **fields: Any) -> Doc:
    """A stored document: ``fields`` (``_id`` and what queries use) plus the entity as JSON."""
    return {**fields, "doc": orjson.dumps(e.model_dump(mode="json")).decode()}


def load(cls: type[E], d: Doc | None) -> E | None:
    return None if d is None else cls.model_validate_json(d["doc"])


class MongoDb:
    """One database on a MongoDB server; subclasses add collections and :meth:`_prepare`."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._client: AsyncMongoClient[Doc] | None = None

    @property
    def db(self) -> AsyncDatabase[Doc]:
        assert self._client is not None, "the store is not open"
        return self._client.get_default_database(default="aesel")

    def col(self, name: str) -> AsyncCollection[Doc]:
        return self.db[name]

    async def open(self) -> None:
        ms = int(self.timeout * 1000)
        self._client = AsyncMongoClient(
            self.url, timeoutMS=ms, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
            appname="aesel",
        )  # fmt: skip
        try:
            with translated(f"open {self.url}"):
                await self.db.command("ping")
                await self._check_schema()
                await self._prepare()
        except BaseException:
            await self.close()
            raise

    async def _check_schema(self) -> None:
        meta = self.col("aesel_meta")
        await meta.update_one(
            {"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True
        )
        found = await meta.find_one({"_id": "schema"})
        version = int((found or {}).get("version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise BackendUnavailable(
                f"mongodb schema version is {version}, this aesel knows up to {SCHEMA_VERSION}"
            )

    async def _prepare(self) -> None:
        """Create collections' indexes (idempotent)."""

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(PyMongoError):
                await client.close()

    async def ping(self) -> None:
        """``BackendUnavailable`` unless the server answers within the timeout."""
        with translated("ping"):
            await self.db.command("ping")

    async def _tx(self, fn: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction: all of it commits, or none."""
        assert self._client is not None, "the store is not open"
        async with self._client.start_session() as session:
            return await session.with_transaction(fn)

    async def _get(self, cls: type[E], col: str, key: str) -> E | None:
        with translated(f"get {col}"):
            return load(cls, await self.col(col).find_one({"_id": key}))

    async def _find(
        self, cls: type[E], col: str, q: Doc, offset: int = 0, limit: int | None = None
    ) -> list[E]:
        """Documents matching ``q``, by ``_id``, paged."""
        if limit is not None and limit <= 0:
            return []
        with translated(f"find {col}"):
            cursor = self.col(col).find(q, {"doc": 1}).sort("_id", 1).skip(max(0, offset))
            if limit is not None:
                cursor = cursor.limit(limit)
            return [cls.model_validate_json(d["doc"]) async for d in cursor]

    async def _put(self, col: str, doc: Doc) -> None:
        with translated(f"put {col}"):
            await self.col(col).replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def _delete(self, col: str, key: str) -> bool:
        with translated(f"delete {col}"):
            return (await self.col(col).delete_one({"_id": key})).deleted_count > 0
