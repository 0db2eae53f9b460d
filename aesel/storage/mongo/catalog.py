"""``MongoCatalogStore`` and ``MongoBlobStore``: the catalog on MongoDB, asset bytes in GridFS.

Collections: ``assets``, ``relationships``, ``histories``, ``collections``, ``projects`` and
``users``, each document keyed by the entity's id, with the fields queries use beside the JSON
``doc``. Visibility is part of the query (``public`` or owned by the principal). Usernames are
unique by index; emails too, except the empty one, which is left out of the document (a sparse
index ignores it). ``add_version``, ``put_asset`` with a relationship, ``delete_asset`` and
``delete_relationships`` are transactions.

Blobs: an upload streams into a GridFS file named ``.tmp-<random>``; GridFS writes the file
document only when the upload is closed, so nothing is visible before :meth:`MongoUpload.commit`,
which closes it and then renames it to the asset key. An aborted upload deletes its chunks.
A crash between close and rename leaves a ``.tmp-`` file that no key names.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.asynchronous.grid_file import AsyncGridIn
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from aesel.errors import BackendUnavailable
from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    Group,
    Project,
    User,
    new_id,
)
from aesel.storage.catalog import AssetFilter, GroupFilter, RelationshipFilter, Visibility
from aesel.storage.mongo.db import Doc, MongoDb, dump, load, translated

ASSETS, RELS, HISTORIES = "assets", "relationships", "histories"
COLLECTIONS, PROJECTS, USERS = "collections", "projects", "users"


def _visible(v: Visibility) -> Doc:
    if v.see_all:
        return {}
    if v.principal is None:
        return {"public": True}
    return {"$or": [{"public": True}, {"user": v.principal}]}


def _all_of(*clauses: Doc) -> Doc:
    used = [c for c in clauses if c]
    return {} if not used else used[0] if len(used) == 1 else {"$and": used}


def _asset_doc(a: AssetMeta) -> Doc:
    return dump(a, _id=a.key, name=a.name, content_type=a.content_type, file_type=a.file_type,
                asset_type=a.asset_type, user=a.user, public=a.public)  # fmt: skip


def _asset_query(f: AssetFilter) -> Doc:
    exact = {
        k: getattr(f, k)
        for k in ("content_type", "file_type", "asset_type", "name")
        if getattr(f, k) is not None
    }
    if f.key is not None:
        exact["_id"] = f.key
    return _all_of(exact, _visible(f.visibility))


def _rel_doc(r: AssetRelationship) -> Doc:
    return dump(r, _id=r.id, asset=r.asset_id, related=r.related_id, type=r.type)


def _rel_query(f: RelationshipFilter) -> Doc:
    exact = {k: v for k, v in (("asset", f.asset), ("related", f.related), ("type", f.type))
             if v is not None}  # fmt: skip
    ins = {}
    if f.asset_ids is not None:
        ins["asset"] = {"$in": list(f.asset_ids)}
    if f.related_ids is not None:
        ins["related"] = {"$in": list(f.related_ids)}
    return _all_of(exact, ins)


def _history_doc(h: AssetHistory) -> Doc:
    return dump(h, _id=h.id, asset=h.asset)


def _group_doc(g: Group) -> Doc:
    return dump(g, _id=g.id, name=g.name, category=g.category, tags=list(g.tags), user=g.user,
                public=g.public)  # fmt: skip


def _group_query(f: GroupFilter) -> Doc:
    exact: Doc = {k: v for k, v in (("name", f.name), ("category", f.category), ("tags", f.tag))
                  if v is not None}  # fmt: skip
    return _all_of(exact, _visible(f.visibility))


def _user_doc(u: User) -> Doc:
    fields: dict[str, Any] = {"_id": u.id, "username": u.username}
    if u.email:
        fields["email"] = u.email
    return dump(u, **fields)


class MongoCatalogStore(MongoDb):
    """Every catalog store contract on MongoDB."""

    async def _prepare(self) -> None:
        await self.col(ASSETS).create_index([("name", ASCENDING)])
        await self.col(ASSETS).create_index([("user", ASCENDING)])
        await self.col(RELS).create_index([("asset", ASCENDING)])
        await self.col(RELS).create_index([("related", ASCENDING)])
        await self.col(HISTORIES).create_index([("asset", ASCENDING)])
        for col in (COLLECTIONS, PROJECTS):
            await self.col(col).create_index([("name", ASCENDING)])
            await self.col(col).create_index([("tags", ASCENDING)])
        await self.col(USERS).create_index([("username", ASCENDING)], unique=True)
        await self.col(USERS).create_index([("email", ASCENDING)], unique=True, sparse=True)

    # -- assets ---------------------------------------------------------------------------

    async def put_asset(self, meta: AssetMeta, relationship: AssetRelationship | None) -> None:
        async def run(s: AsyncClientSession) -> None:
            await self.col(ASSETS).insert_one(_asset_doc(meta), session=s)
            if relationship is not None:
                doc = _rel_doc(relationship)
                await self.col(RELS).replace_one({"_id": doc["_id"]}, doc, upsert=True, session=s)

        with translated("put asset"):
            await self._tx(run)

    async def add_version(self, old_key: str, meta: AssetMeta) -> AssetHistory:
        async def run(s: AsyncClientSession) -> AssetHistory:
            await self.col(ASSETS).insert_one(_asset_doc(meta), session=s)
            async for d in self.col(RELS).find({"asset": old_key}, session=s):
                r = AssetRelationship.model_validate_json(d["doc"])
                doc = _rel_doc(r.model_copy(update={"asset_id": meta.key}))
                await self.col(RELS).replace_one({"_id": doc["_id"]}, doc, session=s)
            found = await self.col(HISTORIES).find_one(
                {"asset": old_key}, sort=[("_id", ASCENDING)], session=s
            )
            old = load(AssetHistory, found)
            if old is not None:
                history = old.model_copy(
                    update={"asset": meta.key, "asset_ids": (meta.key, *old.asset_ids)}
                )
            else:
                history = AssetHistory(id=new_id(), asset=meta.key, asset_ids=(meta.key, old_key))
            doc = _history_doc(history)
            await self.col(HISTORIES).replace_one({"_id": doc["_id"]}, doc, upsert=True, session=s)
            return history

        with translated("add asset version"):
            return await self._tx(run)

    async def get_asset(self, key: str) -> AssetMeta | None:
        return await self._get(AssetMeta, ASSETS, key)

    async def delete_asset(self, key: str) -> bool:
        async def run(s: AsyncClientSession) -> bool:
            n = (await self.col(ASSETS).delete_one({"_id": key}, session=s)).deleted_count
            await self.col(RELS).delete_many({"asset": key}, session=s)
            return n > 0

        with translated("delete asset"):
            return await self._tx(run)

    async def query_assets(self, f: AssetFilter, offset: int, limit: int) -> list[AssetMeta]:
        return await self._find(AssetMeta, ASSETS, _asset_query(f), offset, limit)

    async def count_assets(self, f: AssetFilter) -> int:
        with translated("count assets"):
            return await self.col(ASSETS).count_documents(_asset_query(f))

    async def assets_by_ids(self, ids: Sequence[str]) -> list[AssetMeta]:
        if not ids:
            return []
        return await self._find(AssetMeta, ASSETS, {"_id": {"$in": list(ids)}})

    async def histories(self, asset: str) -> list[AssetHistory]:
        return await self._find(AssetHistory, HISTORIES, {"asset": asset})

    async def put_history(self, h: AssetHistory) -> None:
        await self._put(HISTORIES, _history_doc(h))

    # -- relationships --------------------------------------------------------------------

    async def put_relationships(self, rels: Sequence[AssetRelationship]) -> None:
        docs = [_rel_doc(r) for r in rels]

        async def run(s: AsyncClientSession) -> None:
            for doc in docs:
                await self.col(RELS).replace_one({"_id": doc["_id"]}, doc, upsert=True, session=s)

        if docs:
            with translated("put relationships"):
                await self._tx(run)

    async def query_relationships(
        self, f: RelationshipFilter, offset: int, limit: int
    ) -> list[AssetRelationship]:
        return await self._find(AssetRelationship, RELS, _rel_query(f), offset, limit)

    async def delete_relationships(self, f: RelationshipFilter) -> list[AssetRelationship]:
        async def run(s: AsyncClientSession) -> list[AssetRelationship]:
            cursor = self.col(RELS).find(_rel_query(f), session=s).sort("_id", ASCENDING)
            gone = [AssetRelationship.model_validate_json(d["doc"]) async for d in cursor]
            await self.col(RELS).delete_many({"_id": {"$in": [r.id for r in gone]}}, session=s)
            return gone

        with translated("delete relationships"):
            return await self._tx(run)

    # -- collections and projects ---------------------------------------------------------

    async def put_collection(self, c: AssetCollection) -> None:
        await self._put(COLLECTIONS, _group_doc(c))

    async def get_collection(self, id: str) -> AssetCollection | None:
        return await self._get(AssetCollection, COLLECTIONS, id)

    async def delete_collection(self, id: str) -> bool:
        return await self._delete(COLLECTIONS, id)

    async def query_collections(
        self, f: GroupFilter, offset: int, limit: int
    ) -> list[AssetCollection]:
        return await self._find(AssetCollection, COLLECTIONS, _group_query(f), offset, limit)

    async def collections_by_ids(self, ids: Sequence[str]) -> list[AssetCollection]:
        if not ids:
            return []
        return await self._find(AssetCollection, COLLECTIONS, {"_id": {"$in": list(ids)}})

    async def put_project(self, p: Project) -> None:
        await self._put(PROJECTS, _group_doc(p))

    async def get_project(self, id: str) -> Project | None:
        return await self._get(Project, PROJECTS, id)

    async def delete_project(self, id: str) -> bool:
        return await self._delete(PROJECTS, id)

    async def query_projects(self, f: GroupFilter, offset: int, limit: int) -> list[Project]:
        return await self._find(Project, PROJECTS, _group_query(f), offset, limit)

    # -- users ----------------------------------------------------------------------------

    async def create_user(self, u: User) -> None:
        with translated("create user"):
            await self.col(USERS).insert_one(_user_doc(u))

    async def put_user(self, u: User) -> None:
        await self._put(USERS, _user_doc(u))

    async def get_user(self, id: str) -> User | None:
        return await self._get(User, USERS, id)

    async def user_by_name(self, username: str) -> User | None:
        with translated("get user"):
            return load(User, await self.col(USERS).find_one({"username": username}))

    async def query_users(
        self, username: str | None, email: str | None, offset: int, limit: int
    ) -> list[User]:
        q: Doc = {}
        if username is not None:
            q["username"] = username
        if email is not None:
            q["email"] = email if email else {"$exists": False}
        return await self._find(User, USERS, q, offset, limit)

    async def delete_user(self, id: str) -> bool:
        return await self._delete(USERS, id)

    async def count_users(self) -> int:
        with translated("count users"):
            return await self.col(USERS).count_documents({})


# -- blobs ----------------------------------------------------------------------------------


class MongoUpload:
    """An upload into a temporary GridFS file, renamed to its key on :meth:`commit`."""

    def __init__(self, blobs: MongoBlobStore) -> None:
        self._blobs = blobs
        self._file: AsyncGridIn | None = None
        self.size = 0

    def _open(self) -> AsyncGridIn:
        if self._file is None:
            self._file = self._blobs.bucket.open_upload_stream_with_id(
                ObjectId(), f".tmp-{secrets.token_hex(8)}"
            )
        return self._file

    async def write(self, chunk: bytes) -> None:
        with translated("write asset"):
            await self._open().write(chunk)
        self.size += len(chunk)

    async def commit(self, key: str) -> None:
        f = self._open()
        try:
            with translated("store asset"):
                await f.close()
                await self._blobs.bucket.rename(f._id, key)
        except BackendUnavailable:
            await self.abort()
            raise

    async def abort(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        with contextlib.suppress(PyMongoError, NoFile):
            if f.closed:
                await self._blobs.bucket.delete(f._id)
            else:
                await f.abort()


class MongoBlobStore(MongoDb):
    """Asset bytes in the GridFS bucket ``assets`` (files named by asset key)."""

    _bucket: AsyncGridFSBucket | None = None

    @property
    def bucket(self) -> AsyncGridFSBucket:
        if self._bucket is None:
            self._bucket = AsyncGridFSBucket(self.db, bucket_name="assets")
        return self._bucket

    async def _prepare(self) -> None:
        files = self.col("assets.files")
        await files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
        await self.col("assets.chunks").create_index(
            [("files_id", ASCENDING), ("n", ASCENDING)], unique=True
        )

    async def close(self) -> None:
        self._bucket = None
        await super().close()

    def begin(self) -> MongoUpload:
        return MongoUpload(self)

    async def _file(self, key: str) -> Doc | None:
        if not key or key.startswith("."):
            return None
        with translated("find asset"):
            return await self.col("assets.files").find_one({"filename": key})

    async def size(self, key: str) -> int | None:
        found = await self._file(key)
        return None if found is None else int(found["length"])

    async def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        found = await self._file(key)
        if found is None:
            return
        with translated("read asset"):
            out = await self.bucket.open_download_stream(found["_id"])
            try:
                while chunk := await out.read(chunk_size):
                    yield chunk
            finally:
                await out.close()

    async def delete(self, key: str) -> None:
        found = await self._file(key)
        if found is not None:
            with translated("delete asset"), contextlib.suppress(NoFile):
                await self.bucket.delete(found["_id"])
