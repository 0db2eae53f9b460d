"""A binary WebSocket subscriber's snapshot is a binary frame (type 2), then binary events."""

from __future__ import annotations

import httpx
import orjson
from websockets.asyncio.client import connect

from aesel.app import Node
from aesel.realtime import codec, snapframe

T = [1.0, 0.0, 0.0, 2.5, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 1.0, -4.0, 0.0, 0.0, 0.0, 1.0]


async def test_binary_subscribers_get_a_binary_snapshot(
    node: Node, http: httpx.AsyncClient
) -> None:
    await http.put("/v1/scene/bs", json={"scenes": [{"name": "bs"}]})
    r = await http.post("/v1/scene/bs/object", json={"objects": [{"name": "cube", "transform": T}]})
    key = r.json()["objects"][0]["key"]
    prop = {"name": "temp", "parent": key, "values": [2.0]}
    await http.post("/v1/scene/bs/property", json={"properties": [prop]})
    async with connect(f"ws://127.0.0.1:{node.ws_port}/?format=binary") as ws:
        assert orjson.loads(await ws.recv())["type"] == "welcome"
        await ws.send(orjson.dumps({"type": "subscribe", "scene": "bs"}).decode())
        data = await ws.recv()
        assert isinstance(data, bytes)
        snap = snapframe.decode(data)
        assert snap["scene"] == "bs" and snap["epoch"] == node.hub.epoch and not snap["more"]
        [obj] = snap["objects"]
        assert obj["key"] == key and obj["name"] == "cube" and obj["transform"] == T
        [p] = snap["properties"]
        assert p["parent"] == key and p["values"] == [2.0]
        t2 = [*T[:3], 9.0, *T[4:]]
        await http.post(f"/v1/scene/bs/object/{key}", json={"objects": [{"transform": t2}]})
        frame_type, _, _, [rec] = codec.decode_binary(await ws.recv())  # type: ignore[arg-type]
        assert frame_type == codec.FRAME_EVENTS
        assert rec["seq"] == snap["seq"] + 1 and rec["transform"] == t2
