"""``MongoObjectStore``: objects, properties and GCM replay floors on MongoDB.

Filters are pushed into one ``find`` (an ``$or`` of the filters, each an AND of exact
matches), sorted by key with the limit applied by the server; ``(scene, name)``, ``name``,
``(scene, _id)``, ``parent`` and ``asset_sub_id`` are indexed for each collection. A batch is
one ordered ``bulk_write`` of upserts, inside a transaction when it has more than one document,
so it lands whole or not at all. A versioned write is a replace conditional on a lower stored
version (``v``, absent = 0), upserted: when the stored version is not lower the upsert collides
with the existing key, and that duplicate-key refusal is how a stale write is recognised. A
replay floor only rises: it is written with ``$max``, so concurrent nodes keep the highest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from aesel.model.entities import Object3D, Property
from aesel.storage.base import ObjectFilter, PropertyFilter
from aesel.storage.mongo.db import DUPLICATE_KEY, Doc, MongoDb, dump, translated

OBJECTS, PROPERTIES, REPLAY_FLOORS = "objects", "properties", "replay_floors"
OBJECT_FIELDS = ("scene", "name", "type", "subtype", "owner", "parent", "asset_sub_id")
PROPERTY_FIELDS = ("scene", "name", "parent", "asset_sub_id")


def _object_doc(o: Object3D) -> Doc:
    return dump(o, _id=o.key, assets=list(o.assets), **{f: getattr(o, f) for f in OBJECT_FIELDS})


def _property_doc(p: Property) -> Doc:
    return dump(p, _id=p.key, **{f: getattr(p, f) for f in PROPERTY_FIELDS})


def _any_of(clauses: list[Doc]) -> Doc:
    if not all(clauses):  # an empty clause matches everything
        return {}
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _object_query(filters: Sequence[ObjectFilter]) -> Doc:
    clauses = []
    for f in filters:
        q: Doc = {k: getattr(f, k) for k in OBJECT_FIELDS if getattr(f, k) is not None}
        if f.assets:  # one id: contains; several: the exact list
            q["assets"] = f.assets[0] if len(f.assets) == 1 else {"$eq": list(f.assets)}
        clauses.append(q)
    return _any_of(clauses)


def _property_query(filters: Sequence[PropertyFilter]) -> Doc:
    return _any_of(
        [{k: getattr(f, k) for k in PROPERTY_FIELDS if getattr(f, k) is not None} for f in filters]
    )


class MongoObjectStore(MongoDb):
    """The object, property and replay-floor store contracts on MongoDB."""

    async def _prepare(self) -> None:
        for col in (OBJECTS, PROPERTIES):
            await self.col(col).create_index([("scene", ASCENDING), ("name", ASCENDING)])
            await self.col(col).create_index([("name", ASCENDING)])
            # a scene's documents in key order (a query stops at its limit), children, sub-assets
            await self.col(col).create_index([("scene", ASCENDING), ("_id", ASCENDING)])
            await self.col(col).create_index([("parent", ASCENDING)])
            await self.col(col).create_index([("asset_sub_id", ASCENDING)])

    async def _put_many(self, col: str, docs: list[Doc]) -> None:
        if not docs:
            return
        ops: list[Any] = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
        with translated(f"put {col}"):
            if len(ops) == 1:
                await self.col(col).bulk_write(ops)
            else:
                await self._tx(lambda s: self.col(col).bulk_write(ops, ordered=True, session=s))

    async def _put_versioned(self, col: str, docs: list[tuple[Doc, int]]) -> list[str]:
        if not docs:
            return []
        ops: list[Any] = [
            ReplaceOne({"_id": d["_id"], "$or": [{"v": {"$exists": False}}, {"v": {"$lt": v}}]},
                       {**d, "v": v}, upsert=True)
            for d, v in docs
        ]  # fmt: skip
        with translated(f"put {col}"):
            try:
                await self.col(col).bulk_write(ops, ordered=False)
            except BulkWriteError as e:
                errors = e.details.get("writeErrors", [])
                if any(err.get("code") != DUPLICATE_KEY for err in errors):
                    raise
                return [docs[err["index"]][0]["_id"] for err in errors]  # stale ones
        return []

    # -- objects --------------------------------------------------------------------------

    async def get_object(self, key: str) -> Object3D | None:
        return await self._get(Object3D, OBJECTS, key)

    async def put_objects(self, objects: Sequence[Object3D]) -> None:
        await self._put_many(OBJECTS, [_object_doc(o) for o in objects])

    async def put_objects_versioned(self, objects: Sequence[tuple[Object3D, int]]) -> list[str]:
        return await self._put_versioned(OBJECTS, [(_object_doc(o), v) for o, v in objects])

    async def delete_object(self, key: str) -> bool:
        return await self._delete(OBJECTS, key)

    async def get_objects(self, keys: Sequence[str]) -> list[Object3D]:
        if not keys:
            return []
        return await self._find(Object3D, OBJECTS, {"_id": {"$in": list(keys)}})

    async def swap_object_owner(self, key: str, expected: str, owner: str) -> Object3D | None:
        # a replace conditional on the stored owner: the compare and the set are one write
        with translated("swap object owner"):
            found = await self.col(OBJECTS).find_one({"_id": key, "owner": expected})
            if found is None:
                return None
            o = Object3D.model_validate_json(found["doc"]).model_copy(update={"owner": owner})
            new = _object_doc(o) | ({"v": found["v"]} if "v" in found else {})
            done = await self.col(OBJECTS).replace_one(
                {"_id": key, "owner": expected, "doc": found["doc"]}, new
            )
        return o if done.matched_count == 1 else None

    async def query_objects(self, filters: Sequence[ObjectFilter], limit: int) -> list[Object3D]:
        if not filters:
            return []
        return await self._find(Object3D, OBJECTS, _object_query(filters), limit=limit)

    # -- properties -----------------------------------------------------------------------

    async def get_property(self, key: str) -> Property | None:
        return await self._get(Property, PROPERTIES, key)

    async def put_properties(self, properties: Sequence[Property]) -> None:
        await self._put_many(PROPERTIES, [_property_doc(p) for p in properties])

    async def put_properties_versioned(
        self, properties: Sequence[tuple[Property, int]]
    ) -> list[str]:
        return await self._put_versioned(PROPERTIES, [(_property_doc(p), v) for p, v in properties])

    async def delete_property(self, key: str) -> bool:
        return await self._delete(PROPERTIES, key)

    async def get_properties(self, keys: Sequence[str]) -> list[Property]:
        if not keys:
            return []
        return await self._find(Property, PROPERTIES, {"_id": {"$in": list(keys)}})

    async def query_properties(
        self, filters: Sequence[PropertyFilter], limit: int
    ) -> list[Property]:
        if not filters:
            return []
        return await self._find(Property, PROPERTIES, _property_query(filters), limit=limit)

    # -- GCM replay floors ----------------------------------------------------------------

    async def replay_floors(self) -> dict[str, int]:
        with translated("get replay floors"):
            return {d["_id"]: int(d["floor"]) async for d in self.col(REPLAY_FLOORS).find({})}

    async def advance_replay_floors(self, marks: Mapping[str, int]) -> None:
        if not marks:
            return
        ops: list[Any] = [
            UpdateOne({"_id": k}, {"$max": {"floor": int(v)}}, upsert=True)
            for k, v in marks.items()
        ]
        with translated("advance replay floors"):
            await self.col(REPLAY_FLOORS).bulk_write(ops, ordered=False)
