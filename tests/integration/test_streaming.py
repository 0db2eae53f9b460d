"""Every change reaches every device registered to the scene, over real UDP (docs/compat.md §3)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from aesel.app import Node
from tests.conftest import register

pytestmark = pytest.mark.integration

T = [float(i) for i in range(16)]


async def new_object(http: httpx.AsyncClient, scene: str, **fields: Any) -> str:
    r = await http.post(f"/v1/scene/{scene}/object", json={"objects": [{"name": "o", **fields}]})
    assert r.status_code == 200
    key: str = r.json()["objects"][0]["key"]
    return key


async def test_rest_changes_stream_with_their_msg_type(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    key = await new_object(http, "s", transform=T)
    created = await dev.recv()
    assert (created["msg_type"], created["key"], created["transform"]) == (0, key, T)  # 7.13
    await http.post(f"/v1/scene/s/object/{key}", json={"objects": [{"name": "moved"}]})
    upd = await dev.recv()
    assert (upd["msg_type"], upd["name"], upd["transform"]) == (1, "moved", T)
    await http.post(
        f"/v1/scene/s/object/{key}/action", json={"name": "a", "keyframes": [{"frame": 1}]}
    )
    assert (await dev.recv())["msg_type"] == 19
    await http.post(f"/v1/scene/s/object/{key}/action/a/keyframe/1", json={"transform": T})
    frame_event = await dev.recv()
    assert (
        frame_event["msg_type"] == 16
        and frame_event["actions"][0]["keyframes"][0]["transform"] == T
    )
    await http.delete(f"/v1/scene/s/object/{key}")
    assert (await dev.recv())["msg_type"] == 3


async def test_property_events_carry_their_real_msg_type(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    # docs/compat.md §7.12: every property event said msg_type 9
    dev = await make_device()
    await register(http, "s", dev, "d")
    r = await http.post(
        "/v1/scene/s/property", json={"properties": [{"name": "p", "values": [1.0]}]}
    )
    key = r.json()["properties"][0]["key"]
    assert (await dev.recv())["msg_type"] == 8
    dev.send({"msg_type": 9, "key": key, "scene": "s", "values": [2.5]})
    got = await dev.recv()
    assert (got["msg_type"], got["values"]) == (9, [2.5])
    await http.delete(f"/v1/scene/s/property/{key}")
    assert (await dev.recv())["msg_type"] == 11


async def test_udp_update_reaches_every_device_and_only_that_scene(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    a1, a2, other = await make_device(), await make_device(), await make_device()
    await register(http, "a", a1, "a1")
    await register(http, "a", a2, "a2")
    await register(http, "b", other, "b1")
    key = await new_object(http, "a")
    await a1.recv(), await a2.recv()
    a1.send({"msg_type": 1, "key": key, "scene": "a", "transform": T})
    for dev in (a1, a2):  # the sender too, as in Aesel
        got = await dev.recv()
        assert (got["msg_type"], got["key"], got["transform"]) == (1, key, T)
    await other.assert_silent()


async def test_registration_is_effective_for_the_very_next_event(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    # docs/compat.md §7.5: up to 5 s of cache lag, and no streaming for POSTed scenes
    r = await http.post("/v1/scene", json={"scenes": [{"name": "posted"}]})
    scene = r.json()["scenes"][0]["key"]
    key = await new_object(http, scene)
    dev = await make_device()
    await register(http, scene, dev, "late")
    dev.send({"msg_type": 1, "key": key, "scene": scene, "transform": T})
    assert (await dev.recv())["transform"] == T


async def test_deregistered_device_receives_nothing_more(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    stays, leaves = await make_device(), await make_device()
    await register(http, "s", stays, "stays")
    await register(http, "s", leaves, "leaves")
    await register(http, "t", leaves, "leaves")
    key = await new_object(http, "s")
    await stays.recv(), await leaves.recv()
    r = await http.post(
        "/v1/scene/s/deregister", json={"scenes": [{"key": "s", "devices": [{"key": "leaves"}]}]}
    )
    assert r.status_code == 200
    stays.send({"msg_type": 1, "key": key, "scene": "s", "transform": T})
    assert (await stays.recv())["key"] == key
    await leaves.assert_silent()
    # still registered to its other scene (docs/compat.md §7.3)
    other = await new_object(http, "t")
    assert (await leaves.recv())["key"] == other


async def test_body_scene_wins_and_url_scene_is_the_fallback(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    dev = await make_device()
    await register(http, "url-scene", dev, "d")
    key = await new_object(http, "url-scene")  # no scene in the body: the URL's is used
    assert (await dev.recv())["scene"] == "url-scene"
    await http.post(f"/v1/scene/whatever/object/{key}", json={"objects": [{"name": "x"}]})
    assert (await dev.recv())["scene"] == "url-scene"  # the stored scene routes the event


async def test_udp_action_and_keyframe_events(http: httpx.AsyncClient, make_device: Any) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    key = await new_object(http, "s")
    await dev.recv()
    dev.send(
        {
            "msg_type": 16,
            "key": key,
            "scene": "s",
            "actions": [{"name": "a", "keyframes": [{"frame": 0, "transform": T}]}],
        }
    )
    got = await dev.recv()
    assert got["msg_type"] == 16 and got["actions"][0]["keyframes"] == [
        {
            "frame": 0,
            "owner": "",
            "transform": T,
            "translation_handle": [],
            "rotation_handle": [],
            "scale_handle": [],
        }
    ]
    dev.send(
        {"msg_type": 20, "key": key, "scene": "s", "actions": [{"name": "a", "description": "new"}]}
    )
    assert (await dev.recv())["actions"][0]["description"] == "new"
    got = (await http.get(f"/v1/scene/s/object/{key}")).json()["objects"][0]
    assert (
        got["actions"][0]["description"] == "new"
        and got["actions"][0]["keyframes"][0]["transform"] == T
    )


async def test_locked_object_refuses_events_from_another_device(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    key = await new_object(http, "s")
    await dev.recv()
    await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "owner"})
    dev.send({"msg_type": 1, "key": key, "scene": "s", "device": "intruder", "transform": T})
    dev.send({"msg_type": 1, "key": key, "scene": "s", "device": "owner", "transform": T})
    got = await dev.recv()
    assert got["transform"] == T
    assert node.services.drops["locked"] == 1


async def test_update_of_an_uncached_object_is_loaded_then_applied(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    key = await new_object(http, "s", name="cold")
    await dev.recv()
    node.services.objects.table._cache.clear()  # as after a restart
    for i in range(3):
        dev.send({"msg_type": 1, "key": key, "scene": "s", "transform": [float(i)] * 16})
    got = [await dev.recv() for _ in range(3)]
    assert [g["transform"][0] for g in got] == [0.0, 1.0, 2.0]
    assert got[0]["name"] == "cold"


async def test_devices_that_opt_in_get_batched_or_binary_datagrams(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    from aesel.realtime import codec

    plain, batch, binary = await make_device(), await make_device(), await make_device()
    await register(http, "s", plain, "plain")
    r = await register(http, "s", batch, "batch", format="batch")
    assert r["scenes"][0]["devices"][0]["format"] == "batch"
    await register(http, "s", binary, "binary", format="binary")
    objs = [{"name": f"o{i}", "scene": "s"} for i in range(8)]
    r2 = await http.post("/v1/scene/s/object", json={"objects": objs})
    keys = [o["key"] for o in r2.json()["objects"]]
    # one REST call, one loop turn: 8 datagrams for the Aesel device, fewer for the others
    got_plain = [(await plain.recv())["key"] for _ in keys]
    assert got_plain == keys
    lines: list[bytes] = []
    while len(lines) < len(keys):
        data = await asyncio.wait_for(batch.peer.queue.get(), 2)
        assert len(data) < codec.MAX_DATAGRAM
        lines += data.split(b"\n")
    assert [orjson.loads(x)["key"] for x in lines] == keys
    records: list[dict[str, Any]] = []
    while len(records) < len(keys):
        data = await asyncio.wait_for(binary.peer.queue.get(), 2)
        assert len(data) <= codec.MAX_DATAGRAM
        records += codec.decode_binary(data)[3]
    assert [r["key"] for r in records] == keys
    bad = await http.post(
        "/v1/scene/s/register",
        json={"scenes": [{"key": "s", "devices": [{"key": "x", "format": "xml"}]}]},
    )
    assert (
        bad.status_code == 400 and "expected 'json', 'batch' or 'binary'" in bad.json()["err_msg"]
    )
