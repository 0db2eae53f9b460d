"""``ClusterStore`` sends each call to its backend: objects to MongoDB, scenes to Neo4j."""

from __future__ import annotations

import pytest

from aesel.errors import BackendUnavailable
from aesel.model.entities import Device, Object3D, Registration, Scene
from aesel.storage.cluster import ClusterStore
from tests.contract.conftest import Engines, drop_database, mongo_url
from tests.contract.test_unavailable import closed_port

pytestmark = pytest.mark.integration


async def test_cluster_store_splits_by_entity(engines: Engines) -> None:
    url = mongo_url(engines)
    store = ClusterStore(url, engines.urls["AESEL_NEO4J_URL"])
    await store.open()
    try:
        await store.scenes.clear()
        await store.ping()
        await store.put_objects([Object3D(key="o1", scene="s1")])
        await store.insert_scene(Scene(key="s1"))
        await store.put_device(Device(key="d1"))
        await store.put_registration(Registration(scene="s1", device="d1"))
        assert await store.objects.get_object("o1") == Object3D(key="o1", scene="s1")
        assert await store.scenes.get_scene("s1") == Scene(key="s1")
        assert [d.key for _, d in await store.registrations_with_devices(scene="s1")] == ["d1"]
    finally:
        await store.close()
        await drop_database(url)


async def test_cluster_store_open_fails_whole(engines: Engines) -> None:
    store = ClusterStore(mongo_url(engines), f"bolt://127.0.0.1:{closed_port()}", timeout=1)
    with pytest.raises(BackendUnavailable):
        await store.open()
    assert store.objects._client is None  # the Mongo side was closed again
