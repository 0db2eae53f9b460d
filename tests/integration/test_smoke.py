from __future__ import annotations

import httpx

from tests.conftest import register


async def test_udp_event_reaches_registered_device(http: httpx.AsyncClient, make_device) -> None:  # type: ignore[no-untyped-def]
    dev = await make_device()
    await register(http, "s1", dev, "d1")
    r = await http.post("/v1/scene/s1/object", json={"objects": [{"name": "cube"}]})
    assert r.status_code == 200
    created = await dev.recv()
    assert created["msg_type"] == 0
    key = created["key"]
    dev.send({"msg_type": 1, "key": key, "scene": "s1", "transform": list(range(16))})
    got = await dev.recv()
    assert got["msg_type"] == 1
    assert got["transform"] == [float(i) for i in range(16)]
