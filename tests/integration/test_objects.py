"""Objects over real HTTP (docs/compat.md §1.5, §7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

T = [float(i) for i in range(16)]


async def create(http: httpx.AsyncClient, scene: str = "s", **fields: Any) -> dict[str, Any]:
    r = await http.post(f"/v1/scene/{scene}/object", json={"objects": [fields]})
    assert r.status_code == 200, r.text
    obj: dict[str, Any] = r.json()["objects"][0]
    return obj


async def get(http: httpx.AsyncClient, key: str, scene: str = "s") -> dict[str, Any]:
    r = await http.get(f"/v1/scene/{scene}/object/{key}")
    assert r.status_code == 200, r.text
    obj: dict[str, Any] = r.json()["objects"][0]
    return obj


async def test_create_several_and_get(http: httpx.AsyncClient) -> None:
    body = {
        "objects": [{"name": "a", "type": "mesh", "transform": T}, {"name": "b", "scene": "other"}]
    }
    r = await http.post("/v1/scene/s/object", json=body)
    doc = r.json()
    assert (doc["msg_type"], doc["err_code"], doc["num_records"]) == (0, 100, 2)
    a, b = doc["objects"]
    assert len(a["key"]) == 24 and int(a["key"], 16) >= 0 and a["key"] != b["key"]
    assert a["scene"] == "s" and b["scene"] == "other"  # the body's scene wins
    got = await get(http, a["key"])
    assert (got["name"], got["type"], got["transform"]) == ("a", "mesh", T)


async def test_keys_are_global_whatever_scene_the_url_names(http: httpx.AsyncClient) -> None:
    obj = await create(http, "s", name="g")
    assert (await get(http, obj["key"], scene="elsewhere"))["name"] == "g"
    assert (await http.delete(f"/v1/scene/elsewhere/object/{obj['key']}")).status_code == 200


async def test_parent_and_asset_sub_id_are_returned(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.15
    obj = await create(http, parent="root", asset_sub_id="Cube.001")
    got = await get(http, obj["key"])
    assert (got["parent"], got["asset_sub_id"]) == ("root", "Cube.001")


async def test_transform_persists_through_updates_locks_and_assets(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.10: updates, locks and asset changes reset the transform to identity
    key = (await create(http, transform=T))["key"]
    r = await http.post(f"/v1/scene/s/object/{key}", json={"objects": [{"name": "renamed"}]})
    assert r.status_code == 200 and r.json()["objects"][0]["transform"] == T
    await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "d"})
    await http.delete(f"/v1/scene/s/object/{key}/lock", params={"device": "d"})
    await http.put(f"/v1/scene/s/object/{key}/asset/x")
    await http.delete(f"/v1/scene/s/object/{key}/asset/x")
    got = await get(http, key)
    assert got["transform"] == T and got["name"] == "renamed"
    r = await http.post("/v1/scene/s/object/query", json={"objects": [{"name": "renamed"}]})
    assert r.json()["objects"][0]["transform"] == T


async def test_legacy_fields_compose(http: httpx.AsyncClient) -> None:
    obj = await create(http, translation=[1, 2, 3])
    assert obj["transform"][3::4][:3] == [1.0, 2.0, 3.0]


async def test_update_and_delete_unknown_are_404(http: httpx.AsyncClient) -> None:
    missing = "0" * 24
    r = await http.post(f"/v1/scene/s/object/{missing}", json={"objects": [{"name": "x"}]})
    assert r.status_code == 404 and r.json()["err_code"] == 102
    assert (await http.delete(f"/v1/scene/s/object/{missing}")).status_code == 404
    assert (await http.get(f"/v1/scene/s/object/{missing}")).status_code == 404


async def test_query_returns_exactly_num_records(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.12: N+1 records
    for i in range(7):
        await create(http, "qs", name="q", type="t" if i < 5 else "u")
    r = await http.post(
        "/v1/scene/qs/object/query", json={"num_records": 3, "objects": [{"name": "q"}]}
    )
    assert r.json()["num_records"] == 3 and len(r.json()["objects"]) == 3
    r = await http.post("/v1/scene/qs/object/query", json={"objects": [{"type": "u"}]})
    assert len(r.json()["objects"]) == 2
    # the URL scene applies when the body names none
    r = await http.post("/v1/scene/elsewhere/object/query", json={"objects": [{"name": "q"}]})
    assert r.json()["objects"] == []
    r = await http.post(
        "/v1/scene/elsewhere/object/query", json={"objects": [{"name": "q", "scene": "qs"}]}
    )
    assert len(r.json()["objects"]) == 7


async def test_query_by_assets(http: httpx.AsyncClient) -> None:
    await create(http, "qa", name="one", assets=["a"])
    await create(http, "qa", name="two", assets=["a", "b"])
    r = await http.post("/v1/scene/qa/object/query", json={"objects": [{"assets": ["a"]}]})
    assert sorted(o["name"] for o in r.json()["objects"]) == ["one", "two"]
    r = await http.post("/v1/scene/qa/object/query", json={"objects": [{"assets": ["a", "b"]}]})
    assert [o["name"] for o in r.json()["objects"]] == ["two"]


async def test_lock_conflicts_answer_423(http: httpx.AsyncClient) -> None:
    key = (await create(http))["key"]
    r = await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "d1"})
    assert r.status_code == 200 and r.json()["objects"][0]["owner"] == "d1"
    assert (
        await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "d1"})
    ).status_code == 200
    r = await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "d2"})
    assert r.status_code == 423 and r.json()["err_code"] == 123
    # updates naming another device are refused; anonymous updates are accepted
    r = await http.post(
        f"/v1/scene/s/object/{key}", params={"device": "d2"}, json={"objects": [{"name": "x"}]}
    )
    assert r.status_code == 423
    assert (
        await http.post(
            f"/v1/scene/s/object/{key}", params={"device": "d1"}, json={"objects": [{"name": "y"}]}
        )
    ).status_code == 200
    assert (
        await http.post(f"/v1/scene/s/object/{key}", json={"objects": [{"name": "z"}]})
    ).status_code == 200
    assert (
        await http.delete(f"/v1/scene/s/object/{key}/lock", params={"device": "d2"})
    ).status_code == 423
    assert (
        await http.delete(f"/v1/scene/s/object/{key}/lock", params={"device": "d1"})
    ).status_code == 200
    assert (
        await http.get(f"/v1/scene/s/object/{key}/lock", params={"device": "d2"})
    ).status_code == 200


async def test_lock_needs_a_device(http: httpx.AsyncClient) -> None:
    key = (await create(http))["key"]
    r = await http.get(f"/v1/scene/s/object/{key}/lock")
    assert r.status_code == 400 and r.json()["err_code"] == 122


async def test_assets(http: httpx.AsyncClient) -> None:
    key = (await create(http))["key"]
    await http.put(f"/v1/scene/s/object/{key}/asset/a1")
    await http.put(f"/v1/scene/s/object/{key}/asset/a1")
    await http.put(f"/v1/scene/s/object/{key}/asset/a2")
    assert (await get(http, key))["assets"] == ["a1", "a2"]
    assert (await http.delete(f"/v1/scene/s/object/{key}/asset/a1")).status_code == 200
    assert (await http.delete(f"/v1/scene/s/object/{key}/asset/a1")).status_code == 404
    assert (await get(http, key))["assets"] == ["a2"]


async def test_actions_and_keyframes(http: httpx.AsyncClient) -> None:
    key = (await create(http))["key"]
    base = f"/v1/scene/s/object/{key}/action"
    handle = {
        "left_type": "VECTOR",
        "left_x": 1,
        "left_y": 2,
        "right_type": "FREE",
        "right_x": 3,
        "right_y": 4,
    }
    frame = {
        "frame": 1,
        "transform": T,
        "translation_handle": [handle] * 3,
        "rotation_handle": [handle] * 4,
    }
    r = await http.post(base, json={"name": "walk", "description": "d", "keyframes": [frame]})
    assert r.status_code == 200 and r.json()["msg_type"] == 19
    walk = (await get(http, key))["actions"][0]
    assert walk["name"] == "walk" and walk["keyframes"][0]["transform"] == T
    assert walk["keyframes"][0]["translation_handle"][0]["right_x"] == 3.0  # not written into y

    r = await http.post(f"{base}/walk", json={"description": "new"})
    assert r.status_code == 200 and (await get(http, key))["actions"][0]["description"] == "new"
    assert (await http.post(f"{base}/run", json={"description": "x"})).status_code == 404

    r = await http.post(f"{base}/walk/keyframe", json={"frame": 5})
    assert r.status_code == 200 and r.json()["msg_type"] == 15
    r = await http.post(f"{base}/walk/keyframe/5", json={"transform": T})
    assert r.status_code == 200 and r.json()["msg_type"] == 16
    assert (await http.post(f"{base}/walk/keyframe/9", json={"transform": T})).status_code == 404
    assert (await http.post(f"{base}/walk/keyframe/nine", json={})).status_code == 400
    frames = (await get(http, key))["actions"][0]["keyframes"]
    assert [f["frame"] for f in frames] == [1, 5] and frames[1]["transform"] == T

    assert (await http.delete(f"{base}/walk/keyframe/1")).status_code == 200
    assert [f["frame"] for f in (await get(http, key))["actions"][0]["keyframes"]] == [5]
    assert (await http.delete(f"{base}/walk/keyframe/1")).status_code == 404
    assert (await http.delete(f"{base}/walk")).status_code == 200
    assert (await get(http, key))["actions"] == []
    assert (await http.delete(f"{base}/walk")).status_code == 404
