"""What Aesel's clients rely on (docs/compat.md): the scene-update default, trailing slashes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from aesel.app import Node
from aesel.config import Settings
from aesel.rest import catalog as catalog_api
from aesel.rest.app import create_app

pytestmark = pytest.mark.integration


def scenes(*scene: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"scenes": list(scene), **envelope}


async def lists(http: httpx.AsyncClient, key: str) -> tuple[list[str], list[str]]:
    got = (await http.get(f"/v1/scene/{key}")).json()["scenes"][0]
    return got["assets"], got["tags"]


# -- a scene update without operation appends (docs/compat.md §2.1) -------------------------


async def test_update_without_operation_appends_as_aesel_did(http: httpx.AsyncClient) -> None:
    # the original scene service's own flow: its default operation was APPEND
    await http.put("/v1/scene/s", json=scenes({"assets": ["basicAsset"], "tags": ["basicTag"]}))
    r = await http.post(
        "/v1/scene/s", json=scenes({"key": "s", "assets": ["updatedAsset"], "tags": ["updatedTag"]})
    )
    assert r.status_code == 200, r.text
    assert await lists(http, "s") == (["basicAsset", "updatedAsset"], ["basicTag", "updatedTag"])


async def test_operations_10_and_11_keep_their_meaning(http: httpx.AsyncClient) -> None:
    await http.put("/v1/scene/s", json=scenes({"assets": ["a"], "tags": ["t"]}))
    await http.post("/v1/scene/s", json=scenes({"assets": ["b"], "tags": ["u"]}, operation=10))
    assert await lists(http, "s") == (["a", "b"], ["t", "u"])
    await http.post("/v1/scene/s", json=scenes({"assets": ["a"], "tags": ["u"]}, operation=11))
    assert await lists(http, "s") == (["b"], ["t"])


async def test_appending_a_value_already_present_keeps_one_copy(http: httpx.AsyncClient) -> None:
    await http.put("/v1/scene/s", json=scenes({"assets": ["a", "b"], "tags": ["t"]}))
    await http.post("/v1/scene/s", json=scenes({"assets": ["b", "c", "c"], "tags": ["t"]}))
    assert await lists(http, "s") == (["a", "b", "c"], ["t"])
    await http.put("/v1/scene/s/asset/a")  # the asset route appends the same way
    assert (await lists(http, "s"))[0] == ["a", "b", "c"]
    await http.post("/v1/scene/s", json=scenes({"assets": ["a"]}, operation=11))
    assert (await lists(http, "s"))[0] == ["b", "c"]


async def test_an_update_without_lists_leaves_them_alone(http: httpx.AsyncClient) -> None:
    await http.put("/v1/scene/s", json=scenes({"assets": ["a"], "tags": ["t"]}))
    await http.post("/v1/scene/s", json=scenes({"region": "US-GA"}))
    assert await lists(http, "s") == (["a"], ["t"])


async def test_an_unknown_operation_is_refused_and_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    await http.put("/v1/scene/s", json=scenes({"name": "n", "tags": ["t"]}))
    r = await http.post("/v1/scene/s", json=scenes({"name": "m", "tags": ["u"]}, operation=12))
    assert r.status_code == 400
    doc = r.json()
    assert (doc["err_code"], doc["err_msg"]) == (
        110,
        "operation is 12, expected 10 (append) or 11 (remove)",
    )
    got = (await http.get("/v1/scene/s")).json()["scenes"][0]
    assert (got["name"], got["tags"]) == ("n", ["t"])


# -- trailing slashes answer directly (docs/compat.md §1.3) ----------------------------------


async def test_posts_to_trailing_slash_paths_reach_the_handler(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    await http.put("/v1/scene/k/", json=scenes({"name": "k"}), follow_redirects=False)
    r = await http.post("/v1/scene/query/", json=scenes({"name": "k"}), follow_redirects=False)
    assert r.status_code == 200, r.text
    assert [s["key"] for s in r.json()["scenes"]] == ["k"]

    r = await http.post(
        "/v1/scene/k/object/", json={"objects": [{"name": "o", "scene": "k"}]},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await http.post(
        "/v1/scene/k/object/query/", json={"objects": [{"name": "o"}]}, follow_redirects=False
    )
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["objects"]] == ["o"]

    device = await make_device()
    body = scenes(
        {"key": "k", "devices": [{"key": "d", "hostname": "127.0.0.1", "port": device.port}]}
    )
    r = await http.post("/v1/scene/k/register/", json=body, follow_redirects=False)
    assert r.status_code == 200, r.text
    assert r.json()["scenes"][0]["devices"][0]["key"] == "d"


async def test_a_wrong_method_on_a_trailing_slash_path_is_405(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/scene/k/register/", follow_redirects=False)
    assert r.status_code == 405


async def test_root_and_unknown_paths_are_not_rewritten(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/no/such/route/", follow_redirects=False)).status_code == 404
    assert (await http.get("/health//", follow_redirects=False)).status_code == 404


def _every_route(node: Node) -> list[tuple[str, str]]:
    """(method, path) of every route of the app ``aesel serve`` builds, parameters filled in."""
    app = create_app(node.services, max_body=node.settings.max_body)
    catalog_api.install(app, node.catalog)
    out = []
    for route in iter_route_contexts(app.routes):
        if route.path_format is None or route.methods is None:
            continue  # a mount
        path = re.sub(r"\{\w+\}", "1", route.path_format)  # "1" fits str and int parameters
        out += [(m, path) for m in sorted(route.methods) if m != "HEAD"]
    return out


async def test_every_route_answers_with_a_trailing_slash(
    node: Node, http: httpx.AsyncClient
) -> None:
    routes = _every_route(node)
    assert len(routes) > 80  # the whole API: scenes, objects, properties, catalog, users
    unrouted = await http.get("/no/such/route")
    assert unrouted.status_code == 404
    failures = []
    for method, path in routes:
        r = await http.request(method, path + "/", json={}, follow_redirects=False)
        routed = r.status_code not in (307, 308, 405) and not (
            r.status_code == 404 and r.content == unrouted.content
        )
        if not routed:
            failures.append(f"{method} {path}/: {r.status_code} {r.text}")
        if method == "GET":  # reads answer the same with and without the slash
            plain = await http.get(path)
            if plain.status_code != r.status_code:
                failures.append(f"GET {path}/: {r.status_code}, without the slash {plain}")
    assert not failures, "\n".join(failures)


@pytest.fixture
async def auth_http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "auth", auth=True,
        admin_user="root", admin_password="root-pw",
    )  # fmt: skip
    n = Node(settings)
    await n.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{n.http_port}") as c:
            yield c
    finally:
        await n.stop()


async def test_the_auth_gate_sees_the_routed_path(auth_http: httpx.AsyncClient) -> None:
    # open routes stay open with a slash, guarded ones stay guarded
    assert (await auth_http.get("/health/", follow_redirects=False)).status_code == 200
    assert (await auth_http.get("/v1/scene/x/", follow_redirects=False)).status_code == 401
    r = await auth_http.post(
        "/login/", json={"username": "root", "password": "root-pw"}, follow_redirects=False
    )
    assert r.status_code == 200 and r.headers["authorization"].startswith("Bearer ")
    r = await auth_http.put("/v1/scene/x/", json=scenes({"name": "x"}))  # the login cookie
    assert r.status_code == 200, r.text
