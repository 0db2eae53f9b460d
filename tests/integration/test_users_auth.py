"""Users, login and ``--auth`` over real HTTP (docs/compat.md §1.9, §1.1)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import jwt
import orjson
import pytest

from tests.catalog_helpers import ADMIN, SECRET, login, running, upload

pytestmark = pytest.mark.integration


async def sign_up(http: httpx.AsyncClient, name: str, headers: dict[str, str]) -> dict[str, str]:
    body = {"username": name, "password": f"{name}-pw", "email": f"{name}@x.org"}
    r = await http.post("/users/sign-up", json=body, headers=headers)
    assert r.status_code == 200, r.text
    user: dict[str, str] = r.json()
    return user


async def test_users_with_auth_off(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        body = {
            "key": None,
            "username": "ann",
            "password": "s3cret",
            "email": "ann@x.org",
            "isAdmin": False,
            "isActive": True,
            "favoriteProjects": [],
            "favoriteScenes": [],
        }
        r = await http.post("/users/sign-up", json=body)
        assert r.status_code == 200, r.text
        ann = r.json()
        assert ann["password"] == "" and ann["username"] == "ann" and ann["id"]
        uid = ann["id"]
        dup = await http.post("/users/sign-up", json={**body, "email": "other@x.org"})
        assert dup.status_code == 409 and "err_msg" in dup.json()
        dup = await http.post("/users/sign-up", json={**body, "username": "other"})
        assert dup.status_code == 409
        assert (await http.post("/users/sign-up", json={"username": "x"})).status_code == 400

        assert (await http.get(f"/users/{uid}")).json() == ann
        assert (await http.get("/users/ann")).json() == ann  # PyAesel documents a username
        assert (await http.get("/users/nobody")).status_code == 404
        for path in ("/users", "/users/"):
            r = await http.get(path, params={"username": "ann"})
            assert r.status_code == 200 and [u["id"] for u in r.json()] == [uid]
        assert [
            u["id"] for u in (await http.get("/users", params={"email": "ann@x.org"})).json()
        ] == [uid]
        assert (await http.get("/users", params={"username": "zed"})).status_code == 404

        r = await http.put(f"/users/{uid}", json={"email": "ann@y.org", "isAdmin": True})
        assert (r.status_code, r.text) == (200, "")
        got = (await http.get(f"/users/{uid}")).json()
        assert got["email"] == "ann@y.org" and got["isAdmin"] is False  # flags have their routes
        assert (await http.put(f"/users/{uid}", json={"email": "ann@y.org"})).status_code == 416

        assert (await http.put(f"/users/{uid}/admin")).json()["isAdmin"] is True
        assert (await http.put(f"/users/{uid}/admin")).status_code == 416
        assert (await http.delete(f"/users/{uid}/admin")).json()["isAdmin"] is False
        assert (await http.put(f"/users/{uid}/projects/p1")).json()["favoriteProjects"] == ["p1"]
        assert (await http.delete(f"/users/{uid}/projects/p1")).json()["favoriteProjects"] == []
        assert (await http.delete(f"/users/{uid}/projects/p1")).status_code == 416
        assert (await http.put(f"/users/{uid}/scenes/s1")).json()["favoriteScenes"] == ["s1"]
        assert (await http.delete(f"/users/{uid}/scenes/s1")).json()["favoriteScenes"] == []

        # login: header and cookie; wrong password, unknown user and inactive user are 401
        r = await http.post("/login", json={"username": "ann", "password": "s3cret"})
        assert r.status_code == 200
        token = r.headers["authorization"].removeprefix("Bearer ")
        assert r.cookies["access_token"] == token
        claims = jwt.decode(token, SECRET, algorithms=["HS512"])
        assert claims["sub"] == uid and claims["exp"] - claims["iat"] == 24 * 3600
        assert jwt.get_unverified_header(token)["alg"] == "HS512"
        for who, pw in (("ann", "wrong"), ("nobody", "s3cret")):
            r = await http.post("/login", json={"username": who, "password": pw})
            assert r.status_code == 401 and r.json()["err_msg"] == "wrong username or password"
        assert (await http.post("/login", json={"username": "ann"})).status_code == 400
        await http.put(f"/users/{uid}", json={"password": "n3w"})
        assert (
            await http.post("/login", json={"username": "ann", "password": "s3cret"})
        ).status_code == 401
        assert (
            await http.post("/login", json={"username": "ann", "password": "n3w"})
        ).status_code == 200
        await http.delete(f"/users/{uid}/active")
        assert (
            await http.post("/login", json={"username": "ann", "password": "n3w"})
        ).status_code == 401

        r = await http.delete(f"/users/{uid}")
        assert r.status_code == 200
        assert (await http.get(f"/users/{uid}")).status_code == 404
        # the password is stored hashed, never in clear
        db = (tmp_path / "data" / "catalog.db").read_bytes()
        assert b"s3cret" not in db and b"n3w" not in db


async def test_auth_gate(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (_, http):
        for path in ("/health", "/openapi.json", "/docs"):
            assert (await http.get(path)).status_code == 200, path
        for method, path in (("GET", "/v1/asset"), ("POST", "/v1/scene/query"),
                             ("GET", "/users/x"), ("GET", "/v1/project")):  # fmt: skip
            r = await http.request(method, path)
            assert r.status_code == 401, path
            assert r.json()["err_code"] == 101 and "authentication required" in r.json()["err_msg"]
            assert r.headers["www-authenticate"] == "Bearer"

        admin = await login(http, *ADMIN)
        assert (await http.get("/v1/asset", headers=admin)).status_code == 200
        token = admin["Authorization"].removeprefix("Bearer ")
        r = await http.get("/v1/asset", headers={"Cookie": f"access_token={token}"})
        assert r.status_code == 200

        now = int(time.time())
        bad = {
            "garbage": "not.a.jwt",
            "forged": jwt.encode({"sub": "admin", "exp": now + 60}, "other-secret" * 8, "HS512"),
            "expired": jwt.encode({"sub": "admin", "exp": now - 10}, SECRET, "HS512"),
            "no exp": jwt.encode({"sub": "admin"}, SECRET, "HS512"),
            "unknown user": jwt.encode({"sub": "ghost", "exp": now + 60}, SECRET, "HS512"),
            "alg none": jwt.encode({"sub": "admin", "exp": now + 60}, None, "none"),
        }
        for what, tok in bad.items():
            r = await http.get("/v1/asset", headers={"Authorization": f"Bearer {tok}"})
            assert r.status_code == 401, what
            assert set(r.json()) == {"err_code", "err_msg"}, what
        r = await http.get("/v1/asset", headers={"Authorization": f"Bearer {bad['expired']}"})
        assert r.json()["err_msg"] == "token expired"


async def test_admin_only_routes_and_own_user_rule(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (_, http):
        admin = await login(http, *ADMIN)
        bob = await sign_up(http, "bob", headers=admin)
        carol = await sign_up(http, "carol", headers=admin)
        as_bob = await login(http, "bob", "bob-pw")

        forbidden = [
            ("POST", "/users/sign-up"),
            ("PUT", f"/users/{bob['id']}/admin"),
            ("DELETE", f"/users/{carol['id']}/active"),
            ("GET", f"/users/{carol['id']}"),
            ("PUT", f"/users/{carol['id']}/scenes/s1"),
            ("GET", "/users?username=carol"),
            ("GET", "/users"),
            ("PUT", "/v1/scene/cache/s1"),
        ]
        for method, path in forbidden:
            r = await http.request(
                method, path, headers=as_bob, json={"username": "eve", "password": "p"}
            )
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["err_code"] == 101
        assert (await http.get(f"/users/{bob['id']}", headers=as_bob)).json()["username"] == "bob"
        assert (await http.get("/users/bob", headers=as_bob)).status_code == 200
        r = await http.get("/users", params={"username": "bob"}, headers=as_bob)
        assert [u["username"] for u in r.json()] == ["bob"]
        r = await http.put(f"/users/{bob['id']}/projects/p1", headers=as_bob)
        assert r.json()["favoriteProjects"] == ["p1"]
        # the admin can do all of it
        assert (await http.put(f"/users/{bob['id']}/admin", headers=admin)).status_code == 200
        assert (await http.get(f"/users/{carol['id']}", headers=as_bob)).status_code == 200
        # a deactivated user's token stops working at once
        await http.delete(f"/users/{carol['id']}/active", headers=admin)
        as_carol = {"Authorization": "Bearer " + jwt.encode(
            {"sub": "carol", "exp": int(time.time()) + 60}, SECRET, "HS512")}  # fmt: skip
        assert (await http.get("/v1/asset", headers=as_carol)).status_code == 401


async def test_private_things_are_visible_to_their_owner_only(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (_, http):
        admin = await login(http, *ADMIN)
        bob_id = (await sign_up(http, "bob", headers=admin))["id"]
        await sign_up(http, "carol", headers=admin)
        bob = await login(http, "bob", "bob-pw")
        carol = await login(http, "carol", "carol-pw")

        r = await http.put("/v1/scene/priv", json={"scenes": [{"name": "p", "public": False}]},
                           headers=bob)  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["scenes"][0]["user"] == bob_id  # owners are user ids
        assert (await http.get("/v1/scene/priv", headers=bob)).status_code == 200
        assert (await http.get("/v1/scene/priv", headers=carol)).status_code == 404
        assert (await http.get("/v1/scene/priv", headers=admin)).status_code == 200

        key = (await upload(http, b"secret", headers=bob, isPublic="false")).text
        pub = (await upload(http, b"open", headers=bob)).text
        assert (await http.get(f"/v1/asset/{key}", headers=bob)).content == b"secret"
        assert (await http.get(f"/v1/asset/{key}", headers=carol)).status_code == 204
        assert (await http.get(f"/v1/asset/{pub}", headers=carol)).content == b"open"
        listed = [a["key"] for a in (await http.get("/v1/asset", headers=carol)).json()]
        assert listed == [pub]
        assert (await http.get("/v1/asset/count", headers=bob)).json() == {"count": 2}
        assert (await http.delete(f"/v1/asset/{pub}", headers=carol)).status_code == 404
        r = await http.post("/v1/bulk/asset", json={"ids": [key, pub]}, headers=carol)
        assert [a["key"] for a in r.json()] == [pub]
        meta = (await http.get("/v1/asset", params={"key": key}, headers=bob)).json()
        assert meta[0]["user"] == bob_id and meta[0]["isPublic"] is False

        c = (
            await http.post("/v1/collection", json={"name": "c", "isPublic": False}, headers=bob)
        ).json()
        assert c["user"] == bob_id
        assert (await http.get(f"/v1/collection/{c['id']}", headers=bob)).status_code == 200
        assert (await http.get(f"/v1/collection/{c['id']}", headers=carol)).status_code == 416
        assert (await http.get("/v1/collection", headers=carol)).status_code == 416
        assert (
            await http.post(f"/v1/collection/{c['id']}", json={"name": "x"}, headers=carol)
        ).status_code == 416

        p = (
            await http.post("/v1/project", json={"name": "p", "isPublic": False}, headers=bob)
        ).json()
        assert (await http.get(f"/v1/project/{p['id']}", headers=bob)).status_code == 200
        assert (await http.get(f"/v1/project/{p['id']}", headers=carol)).status_code == 416
        assert (await http.get(f"/v1/project/{p['id']}", headers=admin)).status_code == 200
        assert (await http.delete(f"/v1/project/{p['id']}", headers=carol)).status_code == 416
        assert (await http.get(f"/v1/project/{p['id']}", headers=bob)).status_code == 200


async def test_websocket_needs_the_same_jwt_with_auth_on(tmp_path: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async with running(tmp_path, auth=True) as (node, http):
        headers = await login(http, *ADMIN)
        signed = await http.post(
            "/users/sign-up",
            headers=headers,
            json={"username": "bob", "password": "pw-of-bob", "email": "b@x"},
        )
        bob_id = signed.json()["id"]
        await http.put("/v1/scene/secret", headers=headers, json={"scenes": [{"public": False}]})
        url = f"ws://127.0.0.1:{node.ws_port}/"
        for bad in ("", "?token=forged.jwt.value"):
            with pytest.raises(InvalidStatus) as e:
                await connect(url + bad)
            assert e.value.response.status_code == 401
        bob_headers = await login(http, "bob", "pw-of-bob")
        r = await http.put(
            "/v1/scene/bobs", headers=bob_headers, json={"scenes": [{"public": False}]}
        )
        assert r.status_code == 200
        token = headers["Authorization"].removeprefix("Bearer ")
        async with connect(f"{url}?token={token}") as ws:
            welcome = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
            assert welcome["principal"]  # the admin's user id
            await ws.send(orjson.dumps({"type": "subscribe", "scene": "bobs"}).decode())
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
            assert reply["type"] == "snapshot"  # an admin sees every private scene
        bob = bob_headers["Authorization"].removeprefix("Bearer ")
        async with connect(url, additional_headers={"Authorization": f"Bearer {bob}"}) as ws:
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 3))["principal"] == bob_id
            await ws.send(orjson.dumps({"type": "subscribe", "scene": "secret"}).decode())
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
            assert reply["type"] == "error" and reply["scene"] == "secret"  # not bob's scene
