"""``ClusterStore``: the core server's :class:`aesel.storage.base.Store` on the distributed
backends, for several aesel nodes sharing one deployment.

Objects, properties and GCM replay floors go to MongoDB (:class:`MongoObjectStore`); scenes,
devices, registrations and links to Neo4j (:class:`Neo4jSceneStore`). The catalog has its own
stores on MongoDB (:class:`aesel.storage.mongo.MongoCatalogStore`, and
:class:`aesel.storage.mongo.MongoBlobStore` for asset bytes). Each call goes to one backend:
nothing here spans both, so there is no cross-store transaction to promise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aesel.model import transform as tf
from aesel.model.entities import (
    Device,
    DeviceTransform,
    Object3D,
    Property,
    Registration,
    Scene,
)
from aesel.storage.base import ObjectFilter, PropertyFilter, SceneFilter, Store
from aesel.storage.catalog import BlobStore, CatalogStore
from aesel.storage.mongo import MongoBlobStore, MongoCatalogStore, MongoObjectStore
from aesel.storage.neo4j import Neo4jSceneStore


class ClusterStore:
    """MongoDB for objects, properties and replay floors; Neo4j for the scene graph."""

    def __init__(self, mongo_url: str, neo4j_url: str, *, timeout: float = 5.0) -> None:
        self.objects = MongoObjectStore(mongo_url, timeout=timeout)
        self.scenes = Neo4jSceneStore(neo4j_url, timeout=timeout)

    async def open(self) -> None:
        await self.objects.open()
        try:
            await self.scenes.open()
        except BaseException:
            await self.objects.close()
            raise

    async def close(self) -> None:
        try:
            await self.scenes.close()
        finally:
            await self.objects.close()

    async def ping(self) -> None:
        await self.objects.ping()
        await self.scenes.ping()

    # -- MongoDB --------------------------------------------------------------------------

    async def get_object(self, key: str) -> Object3D | None:
        return await self.objects.get_object(key)

    async def get_objects(self, keys: Sequence[str]) -> list[Object3D]:
        return await self.objects.get_objects(keys)

    async def put_objects(self, objects: Sequence[Object3D]) -> None:
        await self.objects.put_objects(objects)

    async def put_objects_versioned(self, objects: Sequence[tuple[Object3D, int]]) -> list[str]:
        return await self.objects.put_objects_versioned(objects)

    async def delete_object(self, key: str) -> bool:
        return await self.objects.delete_object(key)

    async def query_objects(self, filters: Sequence[ObjectFilter], limit: int) -> list[Object3D]:
        return await self.objects.query_objects(filters, limit)

    async def swap_object_owner(self, key: str, expected: str, owner: str) -> Object3D | None:
        return await self.objects.swap_object_owner(key, expected, owner)

    async def get_property(self, key: str) -> Property | None:
        return await self.objects.get_property(key)

    async def get_properties(self, keys: Sequence[str]) -> list[Property]:
        return await self.objects.get_properties(keys)

    async def put_properties(self, properties: Sequence[Property]) -> None:
        await self.objects.put_properties(properties)

    async def put_properties_versioned(
        self, properties: Sequence[tuple[Property, int]]
    ) -> list[str]:
        return await self.objects.put_properties_versioned(properties)

    async def delete_property(self, key: str) -> bool:
        return await self.objects.delete_property(key)

    async def query_properties(
        self, filters: Sequence[PropertyFilter], limit: int
    ) -> list[Property]:
        return await self.objects.query_properties(filters, limit)

    async def replay_floors(self) -> dict[str, int]:
        return await self.objects.replay_floors()

    async def advance_replay_floors(self, marks: Mapping[str, int]) -> None:
        await self.objects.advance_replay_floors(marks)

    # -- Neo4j ----------------------------------------------------------------------------

    async def get_scene(self, key: str) -> Scene | None:
        return await self.scenes.get_scene(key)

    async def put_scene(self, scene: Scene) -> None:
        await self.scenes.put_scene(scene)

    async def insert_scene(self, scene: Scene) -> None:
        await self.scenes.insert_scene(scene)

    async def delete_scene(self, key: str) -> bool:
        return await self.scenes.delete_scene(key)

    async def query_scenes(self, f: SceneFilter, start: int, limit: int) -> list[Scene]:
        return await self.scenes.query_scenes(f, start, limit)

    async def get_device(self, key: str) -> Device | None:
        return await self.scenes.get_device(key)

    async def put_device(self, device: Device) -> None:
        await self.scenes.put_device(device)

    async def put_registration(self, reg: Registration) -> None:
        await self.scenes.put_registration(reg)

    async def delete_registration(self, scene: str, device: str) -> bool:
        return await self.scenes.delete_registration(scene, device)

    async def registrations(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[Registration]:
        return await self.scenes.registrations(scene=scene, device=device)

    async def registrations_with_devices(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[tuple[Registration, Device]]:
        return await self.scenes.registrations_with_devices(scene=scene, device=device)

    async def put_link(self, a: str, b: str, t: DeviceTransform) -> None:
        await self.scenes.put_link(a, b, t)

    async def links(self) -> list[tuple[str, str, DeviceTransform]]:
        return await self.scenes.links()

    async def path_transform(self, a: str, b: str) -> tf.Matrix | None:
        return await self.scenes.path_transform(a, b)


def _conforms(
    cluster: ClusterStore, catalog: MongoCatalogStore, blobs: MongoBlobStore
) -> tuple[Store, CatalogStore, BlobStore]:
    """Never called: mypy checks here that the distributed backends keep the whole contract."""
    return cluster, catalog, blobs
