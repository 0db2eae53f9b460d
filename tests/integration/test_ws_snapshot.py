"""The subscribe fence: every event with seq <= the snapshot's seq is in the snapshot, every
later one arrives live, even when changes land while the snapshot's queries run."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from aesel.app import Node


async def test_an_object_created_while_the_snapshot_loads_is_not_lost(
    node: Node, http: httpx.AsyncClient
) -> None:
    props = node.services.properties
    query = props.query
    entered, release = asyncio.Event(), asyncio.Event()

    async def gated(*args: Any, **kwargs: Any) -> Any:
        found = await query(*args, **kwargs)
        entered.set()
        await release.wait()  # the object query has run; hold the snapshot here
        return found

    props.query = gated  # type: ignore[method-assign]
    await http.post("/v1/scene/s/object", json={"objects": [{"name": "early"}]})
    async with connect(f"ws://127.0.0.1:{node.ws_port}/") as ws:
        await ws.recv()  # welcome
        await ws.send(orjson.dumps({"type": "subscribe", "scene": "s"}).decode())
        await asyncio.wait_for(entered.wait(), 3)
        r = await http.post("/v1/scene/s/object", json={"objects": [{"name": "late"}]})
        late = r.json()["objects"][0]["key"]
        release.set()
        snap = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
        assert snap["type"] == "snapshot"
        names = sorted(o["name"] for o in snap["objects"])
        assert names == ["early", "late"], names  # in the snapshot...
        r = await http.post(f"/v1/scene/s/object/{late}", json={"objects": [{"name": "later"}]})
        live = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
        assert live["type"] == "events"  # ...and what follows arrives live, after its seq
        assert [e["seq"] for e in live["events"]] == [snap["seq"] + 1]
