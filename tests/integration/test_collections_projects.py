"""Asset collections and projects with scene groups over real HTTP (docs/compat.md §1.7, §1.8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog_helpers import running

pytestmark = pytest.mark.integration


async def test_collection_crud_query_tags_bulk(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        body = {"name": "trees", "description": "d", "category": "nature", "thumbnail": "t1",
                "tags": ["green"], "isPublic": True, "key": None, "user": None}  # fmt: skip
        r = await http.post("/v1/collection", json=body)
        assert r.status_code == 200, r.text
        trees = r.json()
        assert trees["name"] == "trees" and trees["tags"] == ["green"] and trees["id"]
        assert trees["isPublic"] is True and trees["public"] is True
        rocks = (await http.post("/v1/collection", json={"name": "rocks", "category": "nature",
                                                         "public": False})).json()  # fmt: skip
        assert rocks["isPublic"] is False
        cid = trees["id"]
        assert (await http.get(f"/v1/collection/{cid}")).json() == trees
        assert (await http.get("/v1/collection/nope")).status_code == 416

        async def names(**params: str | list[str]) -> list[str] | int:
            r = await http.get("/v1/collection", params=params)
            return [c["name"] for c in r.json()] if r.status_code == 200 else r.status_code

        assert await names() == ["trees", "rocks"]
        assert await names(name="rocks") == ["rocks"]
        assert await names(category="nature") == ["trees", "rocks"]
        assert await names(category="nature", tag="green") == ["trees"]
        assert await names(tag="green") == ["trees"]
        assert await names(tags=["green"]) == ["trees"]  # PyAesel sends tags=...
        assert await names(num_records="1", page="1") == ["rocks"]
        assert await names(name="none") == 416
        assert await names(num_records="-1") == 400

        r = await http.post(f"/v1/collection/{cid}", json={"description": "new", "name": ""})
        assert (r.status_code, r.text) == (200, "")
        got = (await http.get(f"/v1/collection/{cid}")).json()
        assert got["description"] == "new" and got["name"] == "trees"
        r = await http.post(f"/v1/collection/{cid}", json={"description": "new"})
        assert r.status_code == 416  # nothing changed
        assert (await http.post("/v1/collection/nope", json={"name": "x"})).status_code == 416

        r = await http.put(f"/v1/collection/{cid}/tags/tall")
        assert r.json()["tags"] == ["green", "tall"]
        r = await http.delete(f"/v1/collection/{cid}/tags/green")
        assert r.json()["tags"] == ["tall"]
        r = await http.post("/v1/bulk/collection", json={"ids": [rocks["id"], cid, "x"]})
        assert sorted(c["name"] for c in r.json()) == ["rocks", "trees"]

        r = await http.delete(f"/v1/collection/{cid}")
        assert (r.status_code, r.text) == (200, cid)
        assert (await http.get(f"/v1/collection/{cid}")).status_code == 416


async def test_collection_bad_bodies_are_400(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        for body in ({"name": 5}, {"tags": "notalist"}, {"isPublic": "yes"}, [1, 2]):
            r = await http.post("/v1/collection", json=body)
            assert r.status_code == 400, body
            assert set(r.json()) == {"err_code", "err_msg"}
        json_type = {"content-type": "application/json"}
        r = await http.post("/v1/collection", content=b"{not json", headers=json_type)
        assert r.status_code == 400
        assert "not valid json" in r.json()["err_msg"]


async def test_project_crud_groups_scenes_collections(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        body = {
            "name": "p1", "description": "d", "category": "c", "tags": ["a"], "isPublic": True,
            "sceneGroups": [{"name": "g1", "description": "", "category": "", "scenes": ["s1"]}],
            "assetCollectionIds": ["c1"],
        }  # fmt: skip
        r = await http.post("/v1/project", json=body)
        assert r.status_code == 200, r.text
        p = r.json()
        pid = p["id"]
        assert p["sceneGroups"] == [{"name": "g1", "description": "", "category": "",
                                     "scenes": ["s1"]}]  # fmt: skip
        assert p["assetCollectionIds"] == ["c1"]
        assert (await http.get(f"/v1/project/{pid}")).json() == p
        assert (await http.get("/v1/project/none")).status_code == 416

        r = await http.post(f"/v1/project/{pid}", json={"name": "p2"})
        assert (r.status_code, r.text) == (200, "")
        assert (await http.post(f"/v1/project/{pid}", json={"name": "p2"})).status_code == 416
        assert [
            x["name"] for x in (await http.get("/v1/project", params={"name": "p2"})).json()
        ] == ["p2"]
        assert (await http.get("/v1/project", params={"category": "zzz"})).status_code == 416

        assert (await http.put(f"/v1/project/{pid}/tags/b")).json()["tags"] == ["a", "b"]
        assert (await http.delete(f"/v1/project/{pid}/tags/a")).json()["tags"] == ["b"]
        r = await http.put(f"/v1/project/{pid}/collections/c2")
        assert r.json()["assetCollectionIds"] == ["c1", "c2"]
        r = await http.delete(f"/v1/project/{pid}/collections/c1")
        assert r.json()["assetCollectionIds"] == ["c2"]

        r = await http.post(f"/v1/project/{pid}/groups", json={"name": "g2", "category": "x"})
        assert [g["name"] for g in r.json()["sceneGroups"]] == ["g1", "g2"]
        r = await http.post(f"/v1/project/{pid}/groups", json={"category": "no name"})
        assert r.status_code == 400
        r = await http.post(f"/v1/project/{pid}/groups/g2", json={"description": "two"})
        assert r.json()["sceneGroups"][1]["description"] == "two"
        r = await http.put(f"/v1/project/{pid}/groups/g2/scenes/s7")
        assert r.json()["sceneGroups"][1]["scenes"] == ["s7"]
        r = await http.delete(f"/v1/project/{pid}/groups/g1/scenes/s1")
        assert r.json()["sceneGroups"][0]["scenes"] == []
        assert (await http.put(f"/v1/project/{pid}/groups/zz/scenes/s1")).status_code == 416
        r = await http.delete(f"/v1/project/{pid}/groups/g1")
        assert [g["name"] for g in r.json()["sceneGroups"]] == ["g2"]
        assert (await http.delete(f"/v1/project/{pid}/groups/g1")).status_code == 416

        r = await http.delete(f"/v1/project/{pid}")
        assert (r.status_code, r.text) == (200, pid)
        assert (await http.get(f"/v1/project/{pid}")).status_code == 416
