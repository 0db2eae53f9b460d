# ruff: noqa: E501 - the case tables read best one operation per line
"""The access model, checked route by route and message by message, generated from one table.

Every operation of the OpenAPI must have an entry in ``CASES`` (a new route without one fails
``test_every_route_has_a_decision``). Each entry says what the operation does to which kind of
resource (read, write, administer; a scene's content takes its rights from the scene). The
expected answer of every (role x private/public x operation) cell comes from
``aesel.services.policy.decide``, the same table the server enforces and the README prints; the
test only maps an outcome to what each transport does with it (REST: 2xx, 404 or 403; UDP: the
datagram applies or is dropped and counted; WebSocket: an error reply).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from aesel.app import Node
from aesel.services.policy import Action, Kind, Outcome, Role, decide
from tests.catalog_helpers import ADMIN, login, running, upload

T = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]
ROLES = (Role.OWNER, Role.ADMIN, Role.USER)
counter = itertools.count()


@dataclass
class World:
    """Resources owned by alice, all private or all public."""

    public: bool
    scene: str
    obj: str
    prop: str
    device: str
    asset: str
    collection: str
    project: str
    alice: str  # user ids
    bob: str
    own: dict[str, str] | None = None  # with "user": a fresh user's headers, its id in alice
    recording: str = ""  # a stopped recording of the scene


ALL = frozenset({"scene", "asset", "collection", "project", "device"})


def needs(path: str) -> frozenset[str]:
    """The resources an operation on ``path`` touches (the others need not be made)."""
    if path.startswith("/v1/scene"):
        if "/recordings" in path or "/replays" in path:
            return frozenset({"scene", "recording"})
        if path.endswith(("register", "deregister", "align")):
            return frozenset({"scene", "device"})
        return frozenset({"scene"})
    for part in ("asset", "relationship", "history"):
        if part in path:
            return frozenset({"asset"})
    if "collection" in path:
        return frozenset({"collection"})
    if "project" in path:
        return frozenset({"project"})
    if path.startswith("/users"):
        return frozenset({"user"})
    return frozenset()


async def make_world(
    http: httpx.AsyncClient,
    h: dict[str, str],
    public: bool,
    ids: Any,
    need: frozenset[str] = ALL,
) -> World:
    n = next(counter)
    scene = f"s{n}"
    obj = prop = device = asset = collection = project = ""
    if "scene" in need:
        obj, prop = await make_scene(http, h, public, scene)
    if "device" in need:
        device = f"d{n}"
        r = await http.post(
            f"/v1/scene/{scene}/register",
            json={"scenes": [{"key": scene, "devices": [{"key": device}]}]},
            headers=h,
        )
        assert r.status_code == 200, r.text
    if "asset" in need:
        flag = "true" if public else "false"
        asset = (await upload(http, b"secret-bytes", headers=h, isPublic=flag)).text
    if "collection" in need:
        c = await http.post("/v1/collection", json={"name": f"c{n}", "isPublic": public}, headers=h)
        collection = c.json()["id"]
    if "project" in need:
        p = await http.post(
            "/v1/project",
            json={"name": f"p{n}", "isPublic": public, "sceneGroups": [{"name": "g"}]},
            headers=h,
        )
        project = p.json()["id"]
    w = World(public, scene, obj, prop, device, asset, collection, project, *ids)
    if "recording" in need:
        w.recording = (await http.post(f"/v1/scene/{scene}/recordings", headers=h)).json()["id"]
        await http.post(f"/v1/scene/{scene}/recordings/{w.recording}/stop", headers=h)
    if "user" in need:  # user routes act on a fresh user, so deleting it harms no other case
        name = f"user{n}"
        r = await http.post("/users/sign-up", json={"username": name, "password": "pw-pw-pw"},
                            headers=admin_headers[0])  # fmt: skip
        w.alice = r.json()["id"]
        w.own = await login(http, name, "pw-pw-pw")
    return w


admin_headers: list[dict[str, str]] = []


async def make_scene(
    http: httpx.AsyncClient, h: dict[str, str], public: bool, scene: str
) -> tuple[str, str]:
    r = await http.put(f"/v1/scene/{scene}", json={"scenes": [{"name": "n", "public": public}]},
                       headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    action = {"name": "a", "keyframes": [{"frame": 1, "transform": T}]}
    r = await http.post(
        f"/v1/scene/{scene}/object",
        json={"objects": [{"name": "o", "transform": T, "actions": [action]}]},
        headers=h,
    )
    obj = r.json()["objects"][0]["key"]
    paction = {"name": "pa", "keyframes": [{"frame": 1, "values": [{"value": 1.0}]}]}
    r = await http.post(
        f"/v1/scene/{scene}/property",
        json={"properties": [{"name": "p", "values": [1.0], "actions": [paction]}]},
        headers=h,
    )
    prop = r.json()["properties"][0]["key"]
    return obj, prop


Request = tuple[str, str, dict[str, Any]]  # method, url, httpx kwargs
Build = Callable[[World], Request]


@dataclass(frozen=True)
class Case:
    kind: str  # "scene", "catalog", "users", "create", "query", "conflict", "admin-only"
    action: Action
    build: Build


def body(**kw: Any) -> dict[str, Any]:
    return {"json": kw}


def objs(**o: Any) -> dict[str, Any]:
    return body(objects=[o])


def props(**p: Any) -> dict[str, Any]:
    return body(properties=[p])


OB = "/v1/scene/{w.scene}/object/{w.obj}"
PR = "/v1/scene/{w.scene}/property/{w.prop}"


def req(method: str, template: str, kw: dict[str, Any] | None = None) -> Build:
    return lambda w: (method, template.format(w=w), kw or {})


def reg(extra: dict[str, Any] | None = None) -> Callable[[World], dict[str, Any]]:
    return lambda w: body(
        scenes=[{"key": w.scene, "devices": [{"key": w.device, **(extra or {})}]}]
    )


def req_w(method: str, template: str, kw: Callable[[World], dict[str, Any]]) -> Build:
    return lambda w: (method, template.format(w=w), kw(w))


R, W, A = Action.READ, Action.WRITE, Action.ADMIN
CASES: dict[tuple[str, str], Case] = {
    # scenes and registration
    ("POST", "/v1/scene/query"): Case("query", R, req("POST", "/v1/scene/query", body(scenes=[{"name": "n"}], num_records=1000))),
    ("PUT", "/v1/scene/cache/{key}"): Case("admin-only", A, req("PUT", "/v1/scene/cache/{w.scene}")),
    ("DELETE", "/v1/scene/cache/{key}"): Case("admin-only", A, req("DELETE", "/v1/scene/cache/{w.scene}")),
    ("POST", "/v1/scene"): Case("create", W, req("POST", "/v1/scene", body(scenes=[{"name": "new"}]))),
    ("PUT", "/v1/scene/{key}"): Case("conflict", A, req("PUT", "/v1/scene/{w.scene}", body(scenes=[{"name": "takeover"}]))),
    ("GET", "/v1/scene/{key}"): Case("scene", R, req("GET", "/v1/scene/{w.scene}")),
    ("POST", "/v1/scene/{key}"): Case("scene", A, req("POST", "/v1/scene/{w.scene}", body(scenes=[{"name": "renamed"}]))),
    ("DELETE", "/v1/scene/{key}"): Case("scene", A, req("DELETE", "/v1/scene/{w.scene}")),
    ("PUT", "/v1/scene/{key}/asset/{asset}"): Case("scene", A, req("PUT", "/v1/scene/{w.scene}/asset/x")),
    ("DELETE", "/v1/scene/{key}/asset/{asset}"): Case("scene", A, req("DELETE", "/v1/scene/{w.scene}/asset/x")),
    ("POST", "/v1/scene/{key}/register"): Case("scene", R, lambda w: ("POST", f"/v1/scene/{w.scene}/register", body(scenes=[{"key": w.scene, "devices": [{"key": f"new{next(counter)}"}]}]))),
    ("POST", "/v1/scene/{key}/deregister"): Case("scene", A, req_w("POST", "/v1/scene/{w.scene}/deregister", reg())),
    ("POST", "/v1/scene/{key}/align"): Case("scene", A, req_w("POST", "/v1/scene/{w.scene}/align", reg({"transform": {"translation": [1, 2, 3], "rotation": [0, 0, 0]}}))),
    # recordings and replays
    ("POST", "/v1/scene/{key}/recordings"): Case("scene", A, req("POST", "/v1/scene/{w.scene}/recordings")),
    ("GET", "/v1/scene/{key}/recordings"): Case("scene", R, req("GET", "/v1/scene/{w.scene}/recordings")),
    ("POST", "/v1/scene/{key}/recordings/{id}/stop"): Case("scene", A, req("POST", "/v1/scene/{w.scene}/recordings/{w.recording}/stop")),
    ("GET", "/v1/scene/{key}/recordings/{id}"): Case("scene", R, req("GET", "/v1/scene/{w.scene}/recordings/{w.recording}")),
    ("DELETE", "/v1/scene/{key}/recordings/{id}"): Case("scene", A, req("DELETE", "/v1/scene/{w.scene}/recordings/{w.recording}")),
    ("POST", "/v1/scene/{key}/replays"): Case("scene", W, req_w("POST", "/v1/scene/{w.scene}/replays", lambda w: body(recording=w.recording, speed=10))),
    ("GET", "/v1/scene/{key}/replays"): Case("scene", R, req("GET", "/v1/scene/{w.scene}/replays")),
    ("POST", "/v1/scene/{key}/replays/{id}/pause"): Case("scene", W, req("POST", "/v1/scene/{w.scene}/replays/none/pause")),
    ("POST", "/v1/scene/{key}/replays/{id}/resume"): Case("scene", W, req("POST", "/v1/scene/{w.scene}/replays/none/resume")),
    ("DELETE", "/v1/scene/{key}/replays/{id}"): Case("scene", W, req("DELETE", "/v1/scene/{w.scene}/replays/none")),
    # objects
    ("POST", "/v1/scene/{scene}/object/query"): Case("query", R, req("POST", "/v1/scene/{w.scene}/object/query", objs(name="o"))),
    ("POST", "/v1/scene/{scene}/object"): Case("scene", W, req("POST", "/v1/scene/{w.scene}/object", objs(name="new"))),
    ("GET", "/v1/scene/{scene}/object/{key}"): Case("scene", R, req("GET", OB)),
    ("POST", "/v1/scene/{scene}/object/{key}"): Case("scene", W, req("POST", OB, objs(name="pwned"))),
    ("DELETE", "/v1/scene/{scene}/object/{key}"): Case("scene", W, req("DELETE", OB)),
    ("GET", "/v1/scene/{scene}/object/{key}/lock"): Case("scene", W, req("GET", OB + "/lock", {"params": {"device": "dev"}})),
    ("DELETE", "/v1/scene/{scene}/object/{key}/lock"): Case("scene", W, req("DELETE", OB + "/lock", {"params": {"device": "dev"}})),
    ("PUT", "/v1/scene/{scene}/object/{key}/asset/{asset}"): Case("scene", W, req("PUT", OB + "/asset/x")),
    ("DELETE", "/v1/scene/{scene}/object/{key}/asset/{asset}"): Case("scene", W, lambda w: ("DELETE", OB.format(w=w) + "/asset/missing", {})),
    ("POST", "/v1/scene/{scene}/object/{key}/action"): Case("scene", W, req("POST", OB + "/action", body(name="b"))),
    ("POST", "/v1/scene/{scene}/object/{key}/action/{name}"): Case("scene", W, req("POST", OB + "/action/a", body(description="d"))),
    ("DELETE", "/v1/scene/{scene}/object/{key}/action/{name}"): Case("scene", W, req("DELETE", OB + "/action/a")),
    ("POST", "/v1/scene/{scene}/object/{key}/action/{name}/keyframe"): Case("scene", W, req("POST", OB + "/action/a/keyframe", body(frame=2, transform=T))),
    ("POST", "/v1/scene/{scene}/object/{key}/action/{name}/keyframe/{frame}"): Case("scene", W, req("POST", OB + "/action/a/keyframe/1", body(transform=T))),
    ("DELETE", "/v1/scene/{scene}/object/{key}/action/{name}/keyframe/{frame}"): Case("scene", W, req("DELETE", OB + "/action/a/keyframe/1")),
    # properties
    ("POST", "/v1/scene/{scene}/property/query"): Case("query", R, req("POST", "/v1/scene/{w.scene}/property/query", props(name="p"))),
    ("POST", "/v1/scene/{scene}/property"): Case("scene", W, req("POST", "/v1/scene/{w.scene}/property", props(name="new", values=[2.0]))),
    ("GET", "/v1/scene/{scene}/property/{key}"): Case("scene", R, req("GET", PR)),
    ("POST", "/v1/scene/{scene}/property/{key}"): Case("scene", W, req("POST", PR, props(values=[9.0]))),
    ("DELETE", "/v1/scene/{scene}/property/{key}"): Case("scene", W, req("DELETE", PR)),
    ("POST", "/v1/scene/{scene}/property/{key}/action"): Case("scene", W, req("POST", PR + "/action", body(name="pb"))),
    ("POST", "/v1/scene/{scene}/property/{key}/action/{name}"): Case("scene", W, req("POST", PR + "/action/pa", body(description="d"))),
    ("DELETE", "/v1/scene/{scene}/property/{key}/action/{name}"): Case("scene", W, req("DELETE", PR + "/action/pa")),
    ("POST", "/v1/scene/{scene}/property/{key}/action/{name}/keyframe"): Case("scene", W, req("POST", PR + "/action/pa/keyframe", body(frame=2, values=[{"value": 3.0}]))),
    ("POST", "/v1/scene/{scene}/property/{key}/action/{name}/keyframe/{frame}"): Case("scene", W, req("POST", PR + "/action/pa/keyframe/1", body(values=[{"value": 4.0}]))),
    ("DELETE", "/v1/scene/{scene}/property/{key}/action/{name}/keyframe/{frame}"): Case("scene", W, req("DELETE", PR + "/action/pa/keyframe/1")),
    # the cluster's nodes: any signed-in user (anonymous when auth is off)
    ("GET", "/v1/cluster"): Case("create", R, req("GET", "/v1/cluster")),
    # assets, histories, relationships
    ("GET", "/v1/asset"): Case("query", R, lambda w: ("GET", "/v1/asset", {"params": {"key": w.asset}})),
    ("POST", "/v1/asset"): Case("create", W, lambda w: ("POST", "/v1/asset", {"files": {"file": ("f", b"x")}})),
    ("GET", "/v1/asset/{key}"): Case("catalog", R, req("GET", "/v1/asset/{w.asset}")),
    ("POST", "/v1/asset/{key}"): Case("catalog", A, lambda w: ("POST", f"/v1/asset/{w.asset}", {"files": {"file": ("f", b"v2")}})),
    ("DELETE", "/v1/asset/{key}"): Case("catalog", A, req("DELETE", "/v1/asset/{w.asset}")),
    ("GET", "/v1/asset/count"): Case("create", R, req("GET", "/v1/asset/count")),
    ("GET", "/v1/asset/{key}/{filename}"): Case("catalog", R, req("GET", "/v1/asset/{w.asset}/f.obj")),
    ("POST", "/v1/bulk/asset"): Case("query", R, lambda w: ("POST", "/v1/bulk/asset", body(ids=[w.asset]))),
    ("GET", "/v1/history/{key}"): Case("catalog", R, req("GET", "/v1/history/{w.asset}")),
    ("PUT", "/v1/relationship"): Case("catalog", A, lambda w: ("PUT", "/v1/relationship", body(assetId=w.asset, relatedId="r", relationshipType="t"))),
    ("DELETE", "/v1/relationship"): Case("catalog", A, lambda w: ("DELETE", "/v1/relationship", {"params": {"asset": w.asset, "related": "r", "type": "t"}})),
    ("GET", "/v1/relationship"): Case("query", R, lambda w: ("GET", "/v1/relationship", {"params": {"asset": w.asset}})),
    ("POST", "/v1/bulk/relationship"): Case("query", R, lambda w: ("POST", "/v1/bulk/relationship", body(assetIds=[w.asset]))),
    # collections
    ("GET", "/v1/collection"): Case("query", R, lambda w: ("GET", "/v1/collection", {"params": {"name": "c"}})),
    ("POST", "/v1/collection"): Case("create", W, req("POST", "/v1/collection", body(name="new"))),
    ("POST", "/v1/bulk/collection"): Case("query", R, lambda w: ("POST", "/v1/bulk/collection", body(ids=[w.collection]))),
    ("GET", "/v1/collection/{id}"): Case("catalog", R, req("GET", "/v1/collection/{w.collection}")),
    ("POST", "/v1/collection/{id}"): Case("catalog", A, lambda w: ("POST", f"/v1/collection/{w.collection}", body(name=f"x{next(counter)}"))),
    ("DELETE", "/v1/collection/{id}"): Case("catalog", A, req("DELETE", "/v1/collection/{w.collection}")),
    ("PUT", "/v1/collection/{id}/tags/{tag}"): Case("catalog", A, req("PUT", "/v1/collection/{w.collection}/tags/t")),
    ("DELETE", "/v1/collection/{id}/tags/{tag}"): Case("catalog", A, req("DELETE", "/v1/collection/{w.collection}/tags/t")),
    # projects
    ("GET", "/v1/project"): Case("query", R, lambda w: ("GET", "/v1/project", {"params": {"name": "p"}})),
    ("POST", "/v1/project"): Case("create", W, req("POST", "/v1/project", body(name="new"))),
    ("GET", "/v1/project/{id}"): Case("catalog", R, req("GET", "/v1/project/{w.project}")),
    ("POST", "/v1/project/{id}"): Case("catalog", A, lambda w: ("POST", f"/v1/project/{w.project}", body(name=f"x{next(counter)}"))),
    ("DELETE", "/v1/project/{id}"): Case("catalog", A, req("DELETE", "/v1/project/{w.project}")),
    ("PUT", "/v1/project/{id}/tags/{tag}"): Case("catalog", A, req("PUT", "/v1/project/{w.project}/tags/t")),
    ("DELETE", "/v1/project/{id}/tags/{tag}"): Case("catalog", A, req("DELETE", "/v1/project/{w.project}/tags/t")),
    ("PUT", "/v1/project/{id}/collections/{collection}"): Case("catalog", A, req("PUT", "/v1/project/{w.project}/collections/c")),
    ("DELETE", "/v1/project/{id}/collections/{collection}"): Case("catalog", A, req("DELETE", "/v1/project/{w.project}/collections/c")),
    ("POST", "/v1/project/{id}/groups"): Case("catalog", A, req("POST", "/v1/project/{w.project}/groups", body(name="g2"))),
    ("POST", "/v1/project/{id}/groups/{group}"): Case("catalog", A, lambda w: ("POST", f"/v1/project/{w.project}/groups/g", body(description=f"d{next(counter)}"))),
    ("DELETE", "/v1/project/{id}/groups/{group}"): Case("catalog", A, req("DELETE", "/v1/project/{w.project}/groups/g")),
    ("PUT", "/v1/project/{id}/groups/{group}/scenes/{scene}"): Case("catalog", A, req("PUT", "/v1/project/{w.project}/groups/g/scenes/{w.scene}")),
    ("DELETE", "/v1/project/{id}/groups/{group}/scenes/{scene}"): Case("catalog", A, req("DELETE", "/v1/project/{w.project}/groups/g/scenes/x")),
    # users: the "owner" of a user is that user
    ("POST", "/users/sign-up"): Case("admin-only", A, lambda w: ("POST", "/users/sign-up", body(username=f"u{next(counter)}", password="pw-pw-pw"))),
    ("GET", "/users"): Case("users", R, lambda w: ("GET", "/users", {"params": {"username": f"user{w.scene[1:]}"}})),
    ("GET", "/users/{id}"): Case("users", R, req("GET", "/users/{w.alice}")),
    ("PUT", "/users/{id}"): Case("users", A, lambda w: ("PUT", f"/users/{w.alice}", body(email=f"a{next(counter)}@x.org"))),
    ("DELETE", "/users/{id}"): Case("users", A, req("DELETE", "/users/{w.alice}")),
    ("PUT", "/users/{id}/admin"): Case("admin-only", A, req("PUT", "/users/{w.alice}/admin")),
    ("DELETE", "/users/{id}/admin"): Case("admin-only", A, req("DELETE", "/users/{w.alice}/admin")),
    ("PUT", "/users/{id}/active"): Case("admin-only", A, req("PUT", "/users/{w.alice}/active")),
    ("DELETE", "/users/{id}/active"): Case("admin-only", A, req("DELETE", "/users/{w.alice}/active")),
    ("PUT", "/users/{id}/projects/{item}"): Case("users", A, lambda w: ("PUT", f"/users/{w.alice}/projects/p{next(counter)}", {})),
    ("DELETE", "/users/{id}/projects/{item}"): Case("users", A, lambda w: ("DELETE", f"/users/{w.alice}/projects/none", {})),
    ("PUT", "/users/{id}/scenes/{item}"): Case("users", A, lambda w: ("PUT", f"/users/{w.alice}/scenes/s{next(counter)}", {})),
    ("DELETE", "/users/{id}/scenes/{item}"): Case("users", A, lambda w: ("DELETE", f"/users/{w.alice}/scenes/none", {})),
}  # fmt: skip

OPEN_ROUTES = {("GET", "/health"), ("GET", "/metrics"), ("POST", "/login")}
# answers a well-formed request may give when the action is allowed but finds nothing to do
NOTHING = {404, 416}


def expected(case: Case, role: Role, public: bool) -> Outcome:
    if case.kind in ("create", "conflict"):
        return Outcome.ALLOW
    if case.kind == "admin-only":
        return Outcome.ALLOW if role is Role.ADMIN else Outcome.FORBIDDEN
    if case.kind == "users":
        return Outcome.ALLOW if role in (Role.ADMIN, Role.OWNER) else Outcome.FORBIDDEN
    kind = Kind.SCENE if case.kind == "scene" else Kind.CATALOG
    if case.kind == "query":
        kind = Kind.SCENE
    return decide(role, public, case.action, kind)


def check(case: Case, outcome: Outcome, r: httpx.Response, w: World, what: str) -> None:
    status = r.status_code
    if case.kind == "conflict":
        assert status == 409, what  # an existing key is never overwritten, whoever asks
        return
    if case.kind == "query":  # a query answers; what it finds depends on the rights
        assert status < 500, what
        secret = (w.scene, w.obj, w.prop, w.asset, w.collection)
        found = any(s in r.text for s in secret if s)
        if outcome is not Outcome.ALLOW:
            assert not found, f"{what}: a query disclosed a hidden resource"
        return
    if outcome is Outcome.ALLOW:
        assert status < 400 or status in NOTHING, f"{what}: {r.text}"
        if status in NOTHING:
            assert case.kind != "scene" or case.action is not Action.READ, what
    elif case.kind == "scene":
        want = 404 if outcome is Outcome.HIDDEN else 403
        assert status == want, f"{what}: {r.text}"
    elif case.kind == "catalog":  # Kelona's codes: 204 for a hidden download, 416 for groups
        assert status in {204, 403, 404, 416}, f"{what}: {r.text}"
        assert b"secret-bytes" not in r.content, what
    else:
        assert status == 403, f"{what}: {r.text}"


@pytest.fixture
async def auth_node(tmp_path: Path) -> Any:
    async with running(tmp_path, auth=True, max_devices_per_user=1_000_000) as (node, http):
        admin = await login(http, *ADMIN)
        admin_headers[:] = [admin]
        ids = []
        for name in ("alice", "bob"):
            r = await http.post("/users/sign-up", json={"username": name, "password": f"{name}-pw"},
                                headers=admin)  # fmt: skip
            ids.append(r.json()["id"])
        heads = {
            Role.ADMIN: admin,
            Role.OWNER: await login(http, "alice", "alice-pw"),
            Role.USER: await login(http, "bob", "bob-pw"),
        }
        yield node, http, heads, tuple(ids)


def test_every_route_has_a_decision(tmp_path: Path) -> None:
    from aesel.config import Settings
    from aesel.rest import catalog
    from aesel.rest.app import create_app

    n = Node(Settings(data_dir=tmp_path))
    app = create_app(n.services, max_body=1 << 20)
    catalog.install(app, n.catalog)
    ops = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    missing = ops - set(CASES) - OPEN_ROUTES
    assert not missing, f"routes without an access decision: {sorted(missing)}"
    assert not set(CASES) - ops, f"cases for routes that no longer exist: {set(CASES) - ops}"


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_rest_matrix(auth_node: Any, public: bool) -> None:
    _, http, heads, ids = auth_node
    for (method, path), case in CASES.items():
        if public and path.startswith("/users"):
            continue  # users have no visibility: their routes run once
        for role in ROLES:
            w = await make_world(http, heads[Role.OWNER], public, ids, needs(path))
            m, url, kw = case.build(w)
            actor = w.own if role is Role.OWNER and w.own is not None else heads[role]
            r = await http.request(m, url, headers=actor, **kw)
            what = f"{role} {'public' if public else 'private'} {method} {path} -> {r.status_code}"
            check(case, expected(case, role, public), r, w, what)
        # anonymous REST does not exist with auth on: the gate refuses before any service
        m, url, kw = case.build(w)
        r = await http.request(m, url, **kw)
        assert r.status_code == 401, f"anonymous {method} {path} -> {r.status_code}"


# -- streaming: UDP and WebSocket inbound, WebSocket subscribe --------------------------------

INBOUND = {
    1: lambda w: {"msg_type": 1, "key": w.obj, "scene": w.scene, "transform": [*T[:3], 7.0, *T[4:]]},
    16: lambda w: {"msg_type": 16, "key": w.obj, "actions": [{"name": "a", "keyframes": [{"frame": 1, "transform": T}]}]},
    20: lambda w: {"msg_type": 20, "key": w.obj, "actions": [{"name": "a", "description": "x"}]},
    9: lambda w: {"msg_type": 9, "key": w.prop, "values": [7.0]},
    24: lambda w: {"msg_type": 24, "key": w.prop, "actions": [{"name": "pa", "keyframes": [{"frame": 1, "values": [{"value": 7.0}]}]}]},
    28: lambda w: {"msg_type": 28, "key": w.prop, "actions": [{"name": "pa", "description": "x"}]},
}  # fmt: skip


def test_every_inbound_event_type_is_in_the_matrix() -> None:
    from aesel.model.inbound import OBJECT_EVENTS, PROPERTY_EVENTS

    assert set(INBOUND) == {int(t) for t in OBJECT_EVENTS | PROPERTY_EVENTS}


async def until(cond: Callable[[], Awaitable[bool]], within: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await cond():
            return True
        await asyncio.sleep(0.02)
    return False


async def changed(http: httpx.AsyncClient, h: dict[str, str], w: World, msg_type: int) -> bool:
    if msg_type in (1, 16, 20):
        o = (await http.get(f"/v1/scene/{w.scene}/object/{w.obj}", headers=h)).json()["objects"][0]
        if msg_type == 1:
            return bool(o["transform"][3] == 7.0)
        a = o["actions"][0]
        return bool(a.get("description") == "x") if msg_type == 20 else True
    p = (await http.get(f"/v1/scene/{w.scene}/property/{w.prop}", headers=h)).json()
    p = p["properties"][0]
    if msg_type == 9:
        return bool(p["values"][0] == 7.0)
    a = p["actions"][0]
    return bool(a.get("description") == "x") if msg_type == 28 else True


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_anonymous_udp_matrix(auth_node: Any, public: bool) -> None:
    """With auth on, a plaintext datagram is anonymous: by default it may write what a
    signed-in stranger may (public scenes), never a private scene."""
    node, http, heads, ids = auth_node
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        for msg_type, make in INBOUND.items():
            w = await make_world(http, heads[Role.OWNER], public, ids, frozenset({"scene"}))
            before = node.services.drops["not_found"]
            transport.sendto(orjson.dumps(make(w)), ("127.0.0.1", node.udp_port))
            if decide(Role.ANONYMOUS, public, Action.WRITE) is Outcome.ALLOW:
                assert await until(
                    lambda w=w, t=msg_type: changed(http, heads[Role.OWNER], w, t)
                ), msg_type
            else:
                assert await until(lambda b=before: _true(node.services.drops["not_found"] > b)), (
                    msg_type
                )
                assert not (
                    msg_type in (1, 9) and await changed(http, heads[Role.OWNER], w, msg_type)
                )
    finally:
        transport.close()


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_websocket_matrix(auth_node: Any, public: bool) -> None:
    node, http, heads, ids = auth_node
    for role in ROLES:
        token = heads[role]["Authorization"].removeprefix("Bearer ")
        async with connect(f"ws://127.0.0.1:{node.ws_port}/?token={token}") as ws:
            await ws.recv()  # welcome
            for msg_type, make in INBOUND.items():
                w = await make_world(http, heads[Role.OWNER], public, ids, frozenset({"scene"}))
                await ws.send(orjson.dumps(make(w)).decode())
                outcome = decide(role, public, Action.WRITE)
                if outcome is Outcome.ALLOW:
                    assert await until(
                        lambda w=w, t=msg_type: changed(http, heads[Role.OWNER], w, t)
                    ), (
                        role,
                        msg_type,
                    )
                else:
                    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
                    assert reply["type"] == "error" and reply["code"] == "not_found", reply
            w = await make_world(http, heads[Role.OWNER], public, ids, frozenset({"scene"}))
            await ws.send(orjson.dumps({"type": "subscribe", "scene": w.scene}).decode())
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
            if decide(role, public, Action.READ) is Outcome.ALLOW:
                assert reply["type"] == "snapshot" and [o["key"] for o in reply["objects"]] == [
                    w.obj
                ]
            else:
                assert reply["type"] == "error" and reply["code"] == "not_found", reply
