"""Properties over real HTTP (docs/compat.md §1.6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


async def create(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    r = await http.post("/v1/scene/s/property", json={"properties": [fields]})
    assert r.status_code == 200, r.text
    assert r.json()["msg_type"] == 8
    prop: dict[str, Any] = r.json()["properties"][0]
    return prop


async def get(http: httpx.AsyncClient, key: str) -> dict[str, Any]:
    r = await http.get(f"/v1/scene/s/property/{key}")
    assert r.status_code == 200, r.text
    prop: dict[str, Any] = r.json()["properties"][0]
    return prop


async def test_crud(http: httpx.AsyncClient) -> None:
    p = await create(http, name="p", parent="obj", asset_sub_id="x", values=[100, 1.5])
    assert p["values"] == [100.0, 1.5] and p["scene"] == "s"  # ints accepted (docs/compat.md §7.12)
    r = await http.post(f"/v1/scene/s/property/{p['key']}", json={"properties": [{"name": "q"}]})
    assert r.status_code == 200 and r.json()["msg_type"] == 9
    got = await get(http, p["key"])
    # a partial update keeps the fields it does not name (docs/compat.md §2.2)
    assert (got["name"], got["parent"], got["asset_sub_id"], got["values"]) == (
        "q",
        "obj",
        "x",
        [100.0, 1.5],
    )
    assert (await http.delete(f"/v1/scene/s/property/{p['key']}")).status_code == 200
    assert (await http.get(f"/v1/scene/s/property/{p['key']}")).status_code == 404


async def test_value_objects_are_accepted(http: httpx.AsyncClient) -> None:
    p = await create(http, name="v", values=[{"value": 100.0, "left_type": None}])
    assert p["values"] == [100.0]


async def test_query(http: httpx.AsyncClient) -> None:
    for i in range(4):
        await create(http, name="n", parent=f"o{i % 2}")
    r = await http.post(
        "/v1/scene/s/property/query", json={"properties": [{"name": "n", "parent": "o1"}]}
    )
    assert len(r.json()["properties"]) == 2 and r.json()["msg_type"] == 12
    r = await http.post(
        "/v1/scene/s/property/query", json={"num_records": 3, "properties": [{"name": "n"}]}
    )
    assert len(r.json()["properties"]) == 3


async def test_actions_and_keyframes(http: httpx.AsyncClient) -> None:
    key = (await create(http, name="a", values=[1.0]))["key"]
    base = f"/v1/scene/s/property/{key}/action"
    value = {
        "value": 2.0,
        "left_type": "AUTO",
        "left_x": 1,
        "left_y": 2,
        "right_type": "AUTO",
        "right_x": 3,
        "right_y": 4,
    }
    r = await http.post(base, json={"name": "fade", "keyframes": [{"frame": 0, "values": [value]}]})
    assert r.status_code == 200 and r.json()["msg_type"] == 27
    assert (await http.post(f"{base}/fade", json={"description": "d"})).json()["msg_type"] == 28
    assert (await http.post(f"{base}/fade/keyframe", json={"frame": 3, "values": [value]})).json()[
        "msg_type"
    ] == 23
    r = await http.post(f"{base}/fade/keyframe/3", json={"values": [{"value": 9}]})
    assert r.json()["msg_type"] == 24
    action = (await get(http, key))["actions"][0]
    assert action["description"] == "d"
    assert [(f["frame"], f["values"][0]["value"]) for f in action["keyframes"]] == [
        (0, 2.0),
        (3, 9.0),
    ]
    assert (await http.delete(f"{base}/fade/keyframe/0")).json()["msg_type"] == 26
    assert (await http.delete(f"{base}/fade")).json()["msg_type"] == 30
    assert (await get(http, key))["actions"] == []
