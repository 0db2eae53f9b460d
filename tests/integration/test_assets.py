"""Assets, histories and relationships over real HTTP (Kelona, docs/compat.md §1.7), auth off."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.catalog_helpers import running, upload

pytestmark = pytest.mark.integration

HEX24 = re.compile(r"^[0-9a-f]{24}$")


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "data" / "assets").iterdir())


async def test_upload_download_delete(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        r = await upload(http, b"v 0 0 0\n", **{"content-type": "model/obj", "file-type": "obj"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        key = r.text
        assert HEX24.match(key)
        for path in (f"/v1/asset/{key}", f"/v1/asset/{key}/model.obj"):
            got = await http.get(path)
            assert got.status_code == 200
            assert got.content == b"v 0 0 0\n"
            assert got.headers["content-type"].startswith("model/obj")
            assert got.headers["content-disposition"] == f'attachment; filename="{key}"'
        meta = (await http.get("/v1/asset", params={"key": key})).json()
        assert meta == [
            {
                "key": key,
                "name": "",
                "description": "",
                "contentType": "model/obj",
                "fileType": "obj",
                "assetType": "standard",
                "createdTimestamp": meta[0]["createdTimestamp"],
                "user": "",
                "isPublic": True,
                "public": True,
            }
        ]
        assert re.match(r"^\d{4}\.\d\d\.\d\d\.\d\d\.\d\d\.\d\d$", meta[0]["createdTimestamp"])
        r = await http.delete(f"/v1/asset/{key}")
        assert (r.status_code, r.text) == (200, "Success")
        assert (await http.get(f"/v1/asset/{key}")).status_code == 204
        assert leftovers(tmp_path) == []


async def test_unknown_asset_is_204(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        for key in ("000000000000000000000000", ".tmp-x", "a%5Cb"):
            r = await http.get(f"/v1/asset/{key}")
            assert r.status_code == 204, key
            assert r.content == b""


async def test_metadata_query_count_and_bulk(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        a = (await upload(http, b"a", **{"file-type": "obj", "asset-type": "thumbnail"})).text
        b = (await upload(http, b"b", **{"file-type": "obj", "name": "bee"})).text
        c = (await upload(http, b"c", **{"file-type": "png", "content-type": "image/png"})).text

        async def keys(**params: str | int) -> list[str]:
            r = await http.get("/v1/asset", params=params)
            assert r.status_code == 200, r.text
            return [m["key"] for m in r.json()]

        assert await keys() == [a, b, c]
        assert await keys(**{"file-type": "obj"}) == [a, b]
        assert await keys(**{"content-type": "image/png"}) == [c]
        # only the first non-empty filter applies (Kelona's rule): content-type wins
        assert await keys(**{"content-type": "image/png", "file-type": "obj"}) == [c]
        assert await keys(name="bee") == [b]
        assert await keys(key=a, name="bee") == [a]
        assert await keys(limit=1, offset=1) == [b]
        r = await http.get("/v1/asset/count", params={"file-type": "obj"})
        assert r.json() == {"count": 2}
        r = await http.post("/v1/bulk/asset", json={"ids": [c, a, "nope"]})
        assert sorted(m["key"] for m in r.json()) == sorted([a, c])
        r = await http.get("/v1/asset", params={"limit": -1})
        assert r.status_code == 400 and "err_msg" in r.json()


async def test_update_makes_new_version_history_and_moves_relationships(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        v1 = (await upload(http, b"one", **{"related-id": "obj1", "related-type": "object"})).text
        assert (await http.get("/v1/history/" + v1)).status_code == 416
        v2 = (await upload(http, b"two", path=f"/v1/asset/{v1}")).text
        v3 = (await upload(http, b"three", path=f"/v1/asset/{v2}")).text
        assert len({v1, v2, v3}) == 3
        assert (await http.get(f"/v1/asset/{v1}")).content == b"one"
        assert (await http.get(f"/v1/asset/{v3}")).content == b"three"
        r = await http.get(f"/v1/history/{v3}")
        assert r.status_code == 200
        [history] = r.json()
        assert history["asset"] == v3
        assert history["assetIds"] == [v3, v2, v1]
        assert (await http.get(f"/v1/history/{v1}")).status_code == 416
        rels = (await http.get("/v1/relationship", params={"related": "obj1"})).json()
        assert [(x["assetId"], x["relationshipType"]) for x in rels] == [(v3, "object")]
        # delete keeps the history, drops the relationships
        await http.delete(f"/v1/asset/{v3}")
        assert (await http.get(f"/v1/history/{v3}")).status_code == 200
        assert (await http.get("/v1/relationship", params={"related": "obj1"})).status_code == 416


async def test_related_id_without_type_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        r = await upload(http, b"x", **{"related-id": "obj1"})
        assert r.status_code == 400
        assert r.json()["err_code"] == 122
        assert leftovers(tmp_path) == []
        assert (await http.get("/v1/asset/count")).json() == {"count": 0}


async def test_relationships(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        body = {"assetId": "a1", "relatedId": "s1", "relationshipType": "scene"}
        r = await http.put("/v1/relationship", json={**body, "relationshipSubtype": "mesh"})
        assert r.status_code == 200
        [created] = r.json()
        assert created["assetId"] == "a1" and created["relationshipSubtype"] == "mesh"
        await http.put("/v1/relationship", json={"assetId": "a2", "relatedId": "s1",
                                                  "relationshipType": "thumbnail"})  # fmt: skip
        await http.put("/v1/relationship", json={"assetId": "a3", "relatedId": "o9",
                                                  "relationshipType": "object"})  # fmt: skip

        async def assets(**params: str) -> list[str]:
            r = await http.get("/v1/relationship", params=params)
            return (
                [x["assetId"] for x in r.json()] if r.status_code == 200 else [str(r.status_code)]
            )

        assert await assets(related="s1") == ["a1", "a2"]
        assert await assets(asset="a3") == ["a3"]
        assert await assets(type="scene") == ["a1"]
        assert await assets(type="scene", related="s1") == ["a1"]
        assert await assets(type="object", asset="a3") == ["a3"]
        assert await assets() == ["a1", "a2", "a3"]
        assert await assets(num_records="2", page="1") == ["a3"]
        assert await assets(related="none") == ["416"]
        # overwrite the selected ones (type + asset) with the body's fields
        r = await http.put("/v1/relationship", params={"type": "scene", "asset": "a1"},
                           json={"relationshipSubtype": "texture"})  # fmt: skip
        assert [(x["id"], x["relationshipSubtype"]) for x in r.json()] == [
            (created["id"], "texture")
        ]
        r = await http.post("/v1/bulk/relationship", json={"assetIds": ["a1", "a3"]})
        assert sorted(x["assetId"] for x in r.json()) == ["a1", "a3"]
        r = await http.post("/v1/bulk/relationship", json={"relatedIds": ["o9"]})
        assert [x["assetId"] for x in r.json()] == ["a3"]
        r = await http.delete("/v1/relationship", params={"asset": "a1", "related": "s1"})
        assert r.status_code == 400 and r.json()["err_code"] == 122
        r = await http.delete("/v1/relationship",
                              params={"asset": "a1", "related": "s1", "type": "scene"})  # fmt: skip
        assert [x["assetId"] for x in r.json()] == ["a1"]
        assert await assets(related="s1") == ["a2"]
        r = await http.put("/v1/relationship", json={"assetId": "a1"})
        assert r.status_code == 400


async def test_too_large_upload_is_413_and_leaves_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, max_asset_size=100_000) as (_, http):
        ok = await upload(http, b"x" * 100_000)
        assert ok.status_code == 200
        r = await upload(http, b"x" * 150_000)  # under the Content-Length slack: caught streaming
        assert r.status_code == 413
        assert r.json()["err_msg"] == "asset is larger than 100000 bytes"
        r = await upload(http, b"x" * 1_000_000)  # refused on Content-Length alone
        assert r.status_code == 413
        assert leftovers(tmp_path) == [ok.text]
        assert (await http.get("/v1/asset/count")).json() == {"count": 1}


async def test_broken_multipart_is_400_and_leaves_nothing(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        cases = [
            ({"content-type": "application/json"}, b'{"file": 1}'),
            ({"content-type": "multipart/form-data"}, b"no boundary"),
            ({"content-type": "multipart/form-data; boundary=XyZ"}, b"garbage without framing"),
            (
                {"content-type": "multipart/form-data; boundary=XyZ"},
                b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
                b"cut off before the closing boundary",
            ),
            (
                {"content-type": "multipart/form-data; boundary=XyZ"},
                b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nhi\r\n--XyZ--\r\n',
            ),
        ]
        for headers, body in cases:
            r = await http.post("/v1/asset", content=body, headers=headers)
            assert r.status_code == 400, (headers, body, r.text)
            assert set(r.json()) == {"err_code", "err_msg"}
        assert leftovers(tmp_path) == []
        assert (await http.get("/v1/asset/count")).json() == {"count": 0}


async def test_large_upload_and_download_stream(tmp_path: Path) -> None:
    size = 48 << 20
    data = os.urandom(1 << 20) * (size >> 20)
    async with running(tmp_path) as (_, http):
        r = await upload(http, data, **{"content-type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        digest = hashlib.sha256()
        total = 0
        async with http.stream("GET", f"/v1/asset/{r.text}") as got:
            assert got.status_code == 200
            assert got.headers["content-length"] == str(size)
            async for chunk in got.aiter_bytes():
                digest.update(chunk)
                total += len(chunk)
        assert total == size
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_client_gone_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    async with running(tmp_path) as (node, http):
        _, writer = await asyncio.open_connection("127.0.0.1", node.http_port)
        head = (
            "POST /v1/asset HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\n"
            "Content-Length: 5000000\r\n\r\n"
            '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        )
        writer.write(head.encode() + b"x" * (3 << 20))  # over one write batch: a temp file exists
        await writer.drain()
        tmp_dir = tmp_path / "data" / "assets"
        await until(lambda: any(tmp_dir.iterdir()))
        writer.close()
        await writer.wait_closed()
        await until(lambda: not any(tmp_dir.iterdir()))
        assert (await http.get("/v1/asset/count")).json() == {"count": 0}


async def until(cond: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``cond`` until it holds, failing after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
