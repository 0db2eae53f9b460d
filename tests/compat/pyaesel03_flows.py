"""PyAesel 0.3's own flows (the version the Blender clients pin), run unchanged.

Runs in a separate interpreter (``python -S`` with only the PyAesel 0.3 install on the path),
because PyAesel's package is also named ``aesel``. Usage: ``pyaesel03_flows.py URL UDP_PORT
WORK_DIR``. The flows follow ``test/test_transaction.py`` and ``test/test_event.py`` at PyAesel's
0.3 commit (6bdf1c9): scenes, registration, objects (legacy ``translation`` and ``frame``),
properties (values as ``AeselPropertyValue`` objects), assets and relationships, and UDP
events, with ``time.sleep(1)`` replaced by polling. Prints ``pyaesel 0.3 flows ok`` on success.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aesel.AeselEventClient import AeselEventClient  # type: ignore[import-not-found]
from aesel.AeselTransactionClient import AeselTransactionClient  # type: ignore[import-not-found]
from aesel.model.AeselAssetMetadata import AeselAssetMetadata  # type: ignore[import-not-found]
from aesel.model.AeselAssetRelationship import (  # type: ignore[import-not-found]
    AeselAssetRelationship,
)
from aesel.model.AeselGraphHandle import AeselGraphHandle  # type: ignore[import-not-found]
from aesel.model.AeselObject import AeselObject  # type: ignore[import-not-found]
from aesel.model.AeselProperty import AeselProperty  # type: ignore[import-not-found]
from aesel.model.AeselPropertyValue import AeselPropertyValue  # type: ignore[import-not-found]
from aesel.model.AeselScene import AeselScene  # type: ignore[import-not-found]
from aesel.model.AeselSceneTransform import AeselSceneTransform  # type: ignore[import-not-found]
from aesel.model.AeselUserDevice import AeselUserDevice  # type: ignore[import-not-found]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def base_scene(name: str = "test") -> Any:
    scn = AeselScene()
    scn.name = name
    scn.region = "US-MD"
    scn.latitude = 100.0
    scn.longitude = 100.0
    scn.tags = []
    scn.devices = []
    return scn


def value(v: float) -> Any:
    val = AeselPropertyValue()
    val.value = v
    return val


def handle(x: float) -> Any:
    h = AeselGraphHandle()  # right_y defaults to [] in 0.3
    h.left_type, h.left_x, h.left_y, h.right_type, h.right_x = "BEZIER", x, x, "BEZIER", x
    return h


def with_handles(obj: Any) -> Any:
    """0.3's object-level animation handles: one ``AeselGraphHandle`` each, all three set."""
    obj.translation_handle, obj.rotation_handle, obj.scale_handle = handle(1), handle(2), handle(3)
    return obj


def scene_flow(client: Any) -> None:
    assert client.create_scene("123", base_scene())["scenes"][0]["key"] == "123"
    assert len(client.get_scene("123")["scenes"]) > 0
    upd = AeselScene()
    upd.region = "US-GA"
    client.update_scene("123", upd)
    query = AeselScene()
    query.region = "US-GA"
    assert [s["key"] for s in client.scene_query(query)["scenes"]] == ["123"]
    ud = AeselUserDevice()
    ud.key = "testDevice"
    ud.hostname = "localhost"
    ud.port = 8080
    ud.connection_string = "http://localhost:8080"
    assert len(client.register("123", ud)["scenes"]) > 0
    transform = AeselSceneTransform()
    transform.rotation = [0.0, 0.0, 0.0]
    transform.translation = [1.0, 1.0, 1.0]
    assert len(client.synchronize("123", "testDevice", transform)["scenes"]) > 0
    client.deregister("123", "testDevice")
    client.delete_scene("123")

    # the Blender clients' "update scene": name and tags, no operation (appends, as Aesel did)
    tagged = base_scene()
    tagged.tags = ["basicTag"]
    client.create_scene("tagged", tagged)
    upd = AeselScene()
    upd.tags = ["updatedTag"]
    client.update_scene("tagged", upd)
    assert client.get_scene("tagged")["scenes"][0]["tags"] == ["basicTag", "updatedTag"]
    # and their "find scenes": by key, name and tags
    query = AeselScene()
    query.key, query.tags = "tagged", ["updatedTag"]
    assert [s["key"] for s in client.scene_query(query)["scenes"]] == ["tagged"]


def property_flow(client: Any) -> None:
    client.create_scene("propTestScene", base_scene("testPropScene"))
    prop = AeselProperty()
    prop.name = "testProperty"
    prop.scene = "propTestScene"
    prop.frame = 0
    prop.values.append(value(100.0))
    created = client.create_property("propTestScene", prop)["properties"]
    assert len(created) > 0 and len(created[0]["key"]) > 0
    key = created[0]["key"]
    assert client.get_property("propTestScene", key)["properties"][0]["values"] == [100.0]
    upd = AeselProperty()
    upd.name = "testProperty2"
    client.update_property("propTestScene", key, upd)
    query = AeselProperty()
    query.name = "testProperty2"
    assert len(client.property_query("propTestScene", query)["properties"]) > 0
    client.delete_property("propTestScene", key)


def object_flow(client: Any) -> None:
    client.create_scene("objTestScene", base_scene())
    obj = AeselObject()
    obj.name = "testObject"
    obj.scene = "objTestScene"
    obj.type = "mesh"
    obj.subtype = "cube"
    obj.frame = 0
    obj.translation = [1, 1, 1]
    created = client.create_object("objTestScene", obj)["objects"]
    assert len(created) > 0 and len(created[0]["key"]) > 0
    key = created[0]["key"]
    got = client.get_object("objTestScene", key)["objects"][0]
    assert got["name"] == "testObject" and [got["transform"][i] for i in (3, 7, 11)] == [1, 1, 1]
    upd = AeselObject()
    upd.name = "testObject2"
    upd.type = "curve"
    upd.subtype = "circle"
    assert len(client.update_object("objTestScene", key, with_handles(upd))["objects"]) > 0
    query = AeselObject()
    query.name = "testObject2"
    query.frame = 0
    assert len(client.object_query("objTestScene", query)["objects"]) > 0
    client.lock_object("objTestScene", key, "testDevice")
    client.unlock_object("objTestScene", key, "testDevice")
    client.delete_object("objTestScene", key)


def asset_flow(client: Any, work: Path) -> None:
    first, second = work / "testupload.txt", work / "testupload2.txt"
    first.write_bytes(b'{"test": 1}\n')
    second.write_bytes(b'{"test": 2}\n')
    metadata = AeselAssetMetadata()
    metadata.file_type = "json"
    metadata.asset_type = "test"
    relationship = AeselAssetRelationship()
    relationship.type = "scene"
    relationship.related = "12345"
    key = client.create_asset(str(first), metadata, relationship)
    assert len(key) > 0
    assert client.get_asset(key) == b'{"test": 1}\n'
    query = AeselAssetMetadata()
    query.file_type = "json"
    assert client.query_asset_metadata(query)[0]["key"] == key

    metadata2 = AeselAssetMetadata()
    metadata2.content_type = "application/json"
    metadata2.file_type = "json"
    metadata2.asset_type = "second"
    updated = client.update_asset(key, str(second), metadata2)
    assert len(updated) > 0 and updated != key
    assert client.get_asset_history(updated)[0]["assetIds"] == [updated, key]

    new_relationship = AeselAssetRelationship()
    new_relationship.asset = updated
    new_relationship.type = "object"
    new_relationship.related = "23456"
    rel_id = client.save_asset_relationship(new_relationship)[0]["id"]
    rel_query = AeselAssetRelationship()
    rel_query.related = "23456"
    assert [r["id"] for r in client.query_asset_relationships(rel_query)] == [rel_id]
    # an overwrite: 0.3 selects the existing relationship by asset, related and type at once
    moved = AeselAssetRelationship()
    moved.asset, moved.type, moved.related = updated, "object", "34567"
    saved = client.save_asset_relationship(moved, new_relationship)
    assert [(r["id"], r["relatedId"]) for r in saved] == [(rel_id, "34567")]
    deleted = client.delete_asset_relationship(updated, "object", "34567")
    assert [r["relatedId"] for r in deleted] == ["34567"]
    client.delete_asset(updated)


def event_flow(client: Any, events: Any) -> None:
    client.create_scene("propEventScene", base_scene())
    prop = AeselProperty()
    prop.name = "testProperty"
    prop.scene = "propEventScene"
    prop.frame = 0
    prop.values.append(value(100.0))
    pkey = client.create_property("propTestScene", prop)["properties"][0]["key"]
    evt = AeselProperty()
    evt.key = pkey
    evt.scene = "propEventScene"
    evt.frame = 0
    evt.values.append(value(110.0))
    events.send_property_update(evt)
    # 0.3's test reads values[0]["value"], an older CLyman's output; Aesel v2 answers numbers
    eventually(
        lambda: client.get_property("propEventScene", pkey)["properties"][0]["values"] == [110.0],
        "the property event",
    )
    client.delete_property("propTestScene", pkey)

    client.create_scene("objEventScene", base_scene())
    obj = AeselObject()
    obj.name = "testObject"
    obj.scene = "objEventScene"
    obj.type = "mesh"
    obj.subtype = "cube"
    obj.frame = 0
    obj.translation = [1, 1, 1]
    okey = client.create_object("objEventScene", obj)["objects"][0]["key"]
    evt_obj = AeselObject()
    evt_obj.key = okey
    evt_obj.scene = "objEventScene"
    evt_obj.transform = [2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0]
    events.send_object_update(with_handles(evt_obj))
    eventually(
        lambda: client.get_object("objEventScene", okey)["objects"][0]["transform"][0] == 2.0,
        "the object event",
    )
    client.delete_object("objTestScene", okey)


def main() -> None:
    url, udp_port, work = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    client = AeselTransactionClient(url)
    scene_flow(client)
    property_flow(client)
    object_flow(client)
    asset_flow(client, work)
    event_flow(client, AeselEventClient("localhost", udp_port))
    print("pyaesel 0.3 flows ok")


if __name__ == "__main__":
    main()
