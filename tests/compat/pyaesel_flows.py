"""The PyAesel client's own scene, object, property and UDP-event flows, run unchanged.

Runs in a separate interpreter (``python -S`` with only the PyAesel install on the path),
because PyAesel's package is also named ``aesel``. Usage: ``pyaesel_flows.py URL UDP_PORT``.
The flows follow PyAesel's ``test/test_transaction.py`` and ``test/test_event.py``, with
``time.sleep(1)`` replaced by polling, minus the steps where PyAesel itself is broken (noted).
Prints ``pyaesel flows ok`` on success.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from aesel.AeselEventClient import AeselEventClient  # type: ignore[import-not-found]
from aesel.AeselTransactionClient import AeselTransactionClient  # type: ignore[import-not-found]
from aesel.model.AeselAction import AeselAction  # type: ignore[import-not-found]
from aesel.model.AeselGraphHandle import AeselGraphHandle  # type: ignore[import-not-found]
from aesel.model.AeselObject import AeselObject  # type: ignore[import-not-found]
from aesel.model.AeselObjectFrame import AeselObjectFrame  # type: ignore[import-not-found]
from aesel.model.AeselProperty import AeselProperty  # type: ignore[import-not-found]
from aesel.model.AeselScene import AeselScene  # type: ignore[import-not-found]
from aesel.model.AeselSceneTransform import AeselSceneTransform  # type: ignore[import-not-found]
from aesel.model.AeselUserDevice import AeselUserDevice  # type: ignore[import-not-found]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def base_scene() -> Any:
    scn = AeselScene()
    scn.name = "test"
    scn.region = "US-MD"
    scn.latitude = 100.0
    scn.longitude = 100.0
    scn.tags = []
    scn.devices = []
    return scn


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


def object_flow(client: Any) -> None:
    client.create_scene("objTestScene", base_scene())
    obj = AeselObject()
    obj.name = "testObject"
    obj.scene = "objTestScene"
    obj.type = "mesh"
    obj.subtype = "cube"
    obj.frame = 0
    obj.translation = [1, 1, 1]
    key = client.create_object("objTestScene", obj)["objects"][0]["key"]
    got = client.get_object("objTestScene", key)["objects"][0]
    assert got["name"] == "testObject" and got["transform"][3] == 1.0
    upd = AeselObject()
    upd.name = "testObject2"
    upd.type = "curve"
    upd.subtype = "circle"
    assert len(client.update_object("objTestScene", key, upd)["objects"]) > 0
    query = AeselObject()
    query.name = "testObject2"
    query.frame = 0
    assert len(client.object_query("objTestScene", query)["objects"]) > 0
    client.lock_object("objTestScene", key, "testDevice")
    client.unlock_object("objTestScene", key, "testDevice")
    client.delete_object("objTestScene", key)


def property_flow(client: Any) -> None:
    client.create_scene("propTestScene", base_scene())
    prop = AeselProperty()
    prop.name = "testProperty"
    prop.scene = "propTestScene"
    prop.frame = 0
    # PyAesel's own test appends an AeselPropertyValue here, which its to_dict cannot
    # serialise (json raises TypeError before any request); raw numbers are what works.
    prop.values.append(100.0)
    key = client.create_property("propTestScene", prop)["properties"][0]["key"]
    assert client.get_property("propTestScene", key)["properties"][0]["values"] == [100.0]
    upd = AeselProperty()
    upd.name = "testProperty2"
    client.update_property("propTestScene", key, upd)
    query = AeselProperty()
    query.name = "testProperty2"
    assert len(client.property_query("propTestScene", query)["properties"]) > 0
    client.delete_property("propTestScene", key)


def handles(n: int) -> list[Any]:
    out = []
    for i in range(n):
        h = AeselGraphHandle()
        h.left_type, h.left_x, h.left_y = "test", 10.0 + i, 10.2 + i
        h.right_type, h.right_x, h.right_y = "test2", 10.1 + i, 10.3 + i
        out.append(h)
    return out


def event_flow(client: Any, events: Any) -> None:
    client.create_scene("propEventScene", base_scene())
    prop = AeselProperty()
    prop.name = "testProperty"
    prop.scene = "propEventScene"
    prop.values.append(100.0)
    pkey = client.create_property("propTestScene", prop)["properties"][0]["key"]
    evt = AeselProperty()
    evt.key = pkey
    evt.name = "testPropAction"
    evt.scene = "propEventScene"
    evt.values.append(110.0)
    events.send_property_update(evt)
    eventually(
        lambda: client.get_property("propEventScene", pkey)["properties"][0]["values"] == [110.0],
        "the property event",
    )

    client.create_scene("objEventScene", base_scene())
    obj = AeselObject()
    obj.name = "testObject"
    obj.scene = "objEventScene"
    obj.type = "mesh"
    obj.subtype = "cube"
    action = AeselAction()
    action.name = "testObjAction"
    action.description = "this is an Object Action"
    frame = AeselObjectFrame()
    frame.frame = 1
    frame.transform = [1.0] * 16
    frame.translation_handle, frame.rotation_handle, frame.scale_handle = (
        handles(3),
        handles(4),
        handles(3),
    )
    action.keyframes = [frame]
    obj.actions = [action]
    okey = client.create_object("objEventScene", obj)["objects"][0]["key"]

    evt_obj = AeselObject()
    evt_obj.key = okey
    evt_obj.scene = "objEventScene"
    evt_obj.transform = [2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0]
    events.send_object_update(evt_obj)
    eventually(
        lambda: client.get_object("objEventScene", okey)["objects"][0]["transform"][0] == 2.0,
        "the object event",
    )

    evt_obj = AeselObject()
    evt_obj.key = okey
    evt_action = AeselAction()
    evt_action.name = "testObjAction"
    evt_frame = AeselObjectFrame()
    evt_frame.frame = 1
    evt_frame.transform = [3.0] * 16
    evt_frame.translation_handle = handles(3)
    evt_frame.rotation_handle = handles(4)
    evt_frame.scale_handle = handles(3)
    evt_action.keyframes = [evt_frame]
    evt_obj.actions = [evt_action]
    events.send_object_frame_update(evt_obj)

    def frame_updated() -> bool:
        o = client.get_object("objEventScene", okey)["objects"][0]
        return bool(o["actions"][0]["keyframes"][0]["transform"][0] == 3.0)

    eventually(frame_updated, "the object frame event")
    client.delete_object("objTestScene", okey)


def main() -> None:
    url, udp_port = sys.argv[1], int(sys.argv[2])
    client = AeselTransactionClient(url)
    scene_flow(client)
    object_flow(client)
    property_flow(client)
    event_flow(client, AeselEventClient("localhost", udp_port))
    print("pyaesel flows ok")


if __name__ == "__main__":
    main()
