"""Bad input gets a clear 4xx or is dropped and counted; the server keeps serving."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import httpx
import pytest

from aesel.app import Node
from tests.conftest import register

pytestmark = pytest.mark.integration


async def test_malformed_json(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/scene/s/object", content=b'{"objects": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["err_code"] == 110 and "not valid json" in r.json()["err_msg"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/scene/s/object", {"objects": [{"transform": "identity"}]}, "objects.0.transform"),
        ("/v1/scene/s/object", {"objects": [{"name": 3}]}, "objects.0.name"),
        (
            "/v1/scene/s/object",
            {"objects": [{"wat": 1}]},
            "objects.0.wat: extra inputs are not permitted",
        ),
        ("/v1/scene/s/object", {"objects": {"name": "x"}}, "objects"),
        (
            "/v1/scene/s/property",
            {"properties": [{"values": [1, 2, 3, 4, 5]}]},
            "values has 5 entries",
        ),
        ("/v1/scene", {"scenes": [{"latitude": "north"}]}, "scenes.0.latitude"),
        ("/v1/scene/query", {"num_records": -1, "scenes": []}, "num_records"),
        ("/v1/scene/s/register", {"scenes": [{"devices": [{"port": "80"}]}]}, "port"),
    ],
)
async def test_wrong_types_name_the_field(
    http: httpx.AsyncClient, path: str, body: Any, message: str
) -> None:
    r = await http.post(path, json=body)
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["err_code"] == 110 and message in doc["err_msg"]


async def test_missing_fields(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/scene/s/object", json={"objects": []})
    assert r.status_code == 400 and r.json()["err_code"] == 122
    r = await http.post("/v1/scene/s/object/0/action/a/keyframe", json={"transform": None})
    assert r.status_code in (400, 404)
    r = await http.post("/v1/scene/s/object/x/action/a/keyframe")
    assert r.status_code == 400 and r.json()["err_code"] == 122


async def test_ten_megabyte_body_is_413(http: httpx.AsyncClient) -> None:
    big = b'{"objects": [{"name": "' + b"x" * (10 << 20) + b'"}]}'
    r = await http.post(
        "/v1/scene/s/object", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["err_code"] == 110

    async def chunks() -> Any:  # no Content-Length: the limit applies while streaming
        for _ in range(20):
            yield b"x" * (1 << 20)

    r = await http.post(
        "/v1/scene/s/object", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert (await http.get("/health")).json() == {"status": "up"}


async def test_unknown_route_and_method(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["err_code"] == 102
    r = await http.patch("/v1/scene/s")
    assert r.status_code == 405 and "err_msg" in r.json()


async def test_udp_garbage_is_counted_and_dropped(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    r = await http.post("/v1/scene/s/object", json={"objects": [{"name": "o"}]})
    key = r.json()["objects"][0]["key"]
    await dev.recv()
    rng = random.Random(5)
    sent = 0
    for i in range(300):
        dev.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        sent += 1
        if i % 20 == 0:
            await asyncio.sleep(0)  # the test shares the server's loop: let it read
    short_transform = b'{"msg_type": 1, "key": "' + key.encode() + b'", "transform": [1]}'
    unknown_key = b'{"msg_type": 1, "key": "000000000000000000000000"}'
    for bad in (b"[]", b'{"msg_type": 2}', short_transform, unknown_key, os.urandom(9000)):
        dev.send(bad)
        sent += 1
    dev.send({"msg_type": 1, "key": key, "scene": "s", "transform": [2.0] * 16})
    assert (await dev.recv())["transform"] == [2.0] * 16  # still serving, in order
    assert node.udp is not None and node.udp.received == sent + 1
    drops = node.services.drops
    assert drops["too_large"] == 1 and drops["unknown_type"] >= 1 and drops["invalid"] >= 1
    # the unknown key is loaded asynchronously, then dropped as not_found
    assert sum(drops.values()) >= sent - 1
    assert (await http.get("/health")).status_code == 200
