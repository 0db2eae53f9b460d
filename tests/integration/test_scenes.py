"""Scenes over real HTTP (docs/compat.md §1.3)."""

from __future__ import annotations

from typing import Any

import httpx

pytestmark = __import__("pytest").mark.integration


def scene_body(**fields: Any) -> dict[str, Any]:
    return {"scenes": [fields]}


async def test_create_get_update_delete(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/scene", json=scene_body(name="a", region="US-MD", latitude=39, tags=["x"])
    )
    assert r.status_code == 200
    doc = r.json()
    assert (doc["msg_type"], doc["err_code"], doc["num_records"]) == (0, 100, 1)
    key = doc["scenes"][0]["key"]
    assert len(key) == 36  # a generated UUID

    r = await http.put("/v1/scene/fixed", json=scene_body(name="b"))
    assert r.status_code == 200 and r.json()["scenes"][0]["key"] == "fixed"

    got = (await http.get(f"/v1/scene/{key}")).json()["scenes"][0]
    assert (got["name"], got["region"], got["latitude"], got["tags"]) == ("a", "US-MD", 39.0, ["x"])
    assert got["active"] is True and got["public"] is True

    r = await http.post(f"/v1/scene/{key}", json=scene_body(region="US-GA"))
    assert r.status_code == 200 and r.json()["msg_type"] == 1
    got = (await http.get(f"/v1/scene/{key}")).json()["scenes"][0]
    assert (got["name"], got["region"]) == ("a", "US-GA")

    r = await http.delete(f"/v1/scene/{key}")
    assert r.status_code == 200 and r.json()["msg_type"] == 3
    r = await http.get(f"/v1/scene/{key}")
    assert r.status_code == 404 and r.json()["err_code"] == 102


async def test_update_keeps_active_and_public(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.16: every update reset active/public to the request's defaults
    await http.put("/v1/scene/p", json=scene_body(name="p", public=False, active=False))
    await http.post("/v1/scene/p", json=scene_body(name="q"))
    await http.put("/v1/scene/p/asset/as1")
    got = (await http.get("/v1/scene/p")).json()["scenes"][0]
    assert (got["name"], got["public"], got["active"]) == ("q", False, False)


async def test_append_and_remove_operations(http: httpx.AsyncClient) -> None:
    await http.put("/v1/scene/t", json=scene_body(tags=["a"], assets=["x"]))
    await http.post(
        "/v1/scene/t", json={"operation": 10, "scenes": [{"tags": ["b", "a"], "assets": ["y"]}]}
    )
    got = (await http.get("/v1/scene/t")).json()["scenes"][0]
    assert got["tags"] == ["a", "b"] and got["assets"] == ["x", "y"]
    await http.post("/v1/scene/t", json={"operation": 11, "scenes": [{"tags": ["a"]}]})
    assert (await http.get("/v1/scene/t")).json()["scenes"][0]["tags"] == ["b"]
    await http.post("/v1/scene/t", json={"scenes": [{"tags": ["z"]}]})  # no operation: append
    assert (await http.get("/v1/scene/t")).json()["scenes"][0]["tags"] == ["b", "z"]


async def test_scene_assets(http: httpx.AsyncClient) -> None:
    await http.put("/v1/scene/sa", json=scene_body(name="sa"))
    r = await http.put("/v1/scene/sa/asset/a1")
    assert r.status_code == 200 and r.json()["scenes"][0]["assets"] == ["a1"]
    await http.put("/v1/scene/sa/asset/a2")
    r = await http.delete("/v1/scene/sa/asset/a1")
    assert r.json()["scenes"][0]["assets"] == ["a2"]


async def test_query_filters_and_limits(http: httpx.AsyncClient) -> None:
    for i in range(15):
        await http.put(
            f"/v1/scene/q{i:02}", json=scene_body(name="q", region="R" if i % 2 else "S")
        )
    r = await http.post("/v1/scene/query", json=scene_body(name="q"))
    doc = r.json()
    assert doc["num_records"] == 10 and len(doc["scenes"]) == 10  # default limit, exactly
    assert [s["key"] for s in doc["scenes"]] == [f"q{i:02}" for i in range(10)]
    r = await http.post(
        "/v1/scene/query", json={"num_records": 3, "start_record": 2, "scenes": [{"region": "R"}]}
    )
    assert [s["key"] for s in r.json()["scenes"]] == ["q05", "q07", "q09"]


async def test_query_by_tags_and_distance_in_metres(http: httpx.AsyncClient) -> None:
    await http.put(
        "/v1/scene/dc", json=scene_body(latitude=38.9072, longitude=-77.0369, tags=["city", "us"])
    )
    await http.put(
        "/v1/scene/ny", json=scene_body(latitude=40.7128, longitude=-74.0060, tags=["city"])
    )
    near_baltimore = {"latitude": 39.2904, "longitude": -76.6122}
    r = await http.post("/v1/scene/query", json=scene_body(**near_baltimore, distance=60_000))
    assert [s["key"] for s in r.json()["scenes"]] == ["dc"]
    r = await http.post("/v1/scene/query", json=scene_body(**near_baltimore, distance=300_000))
    assert [s["key"] for s in r.json()["scenes"]] == ["dc", "ny"]
    r = await http.post("/v1/scene/query", json=scene_body(tags=["city", "us"]))
    assert [s["key"] for s in r.json()["scenes"]] == ["dc"]


async def test_private_scene_is_found_by_key_with_auth_off(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.16: GET by key only matched public scenes
    await http.put("/v1/scene/priv", json=scene_body(public=False))
    assert (await http.get("/v1/scene/priv")).status_code == 200


async def test_cache_endpoints_answer_as_the_original(http: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE"):
        r = await http.request(method, "/v1/scene/cache/anything")
        assert r.status_code == 200
        doc = r.json()
        assert (doc["msg_type"], doc["err_code"], doc["scenes"]) == (9, 100, [{"key": "anything"}])


async def test_unknown_scene_update_is_404(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/scene/missing", json=scene_body(name="x"))
    assert r.status_code == 404 and r.json()["err_code"] == 102
