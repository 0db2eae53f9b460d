"""Access on the streaming paths and around registration, beyond the generated matrix.

- A datagram authenticated with a device's key acts with its user's rights.
- ``--udp-plaintext refuse`` drops plaintext datagrams; every refusal is counted by reason.
- A device is its registering user's: nobody else re-registers, redirects or detaches it.
- Registrations aim traffic: broadcast, multicast, link-local and unlisted networks are refused,
  and devices per scene and per user are capped.
- An open WebSocket is closed with 4001 when its user is deleted or deactivated.
- A streamed update never moves an object into another scene.
- A flood of unknown keys costs a bounded number of store reads.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from aesel.udp import crypto
from tests.catalog_helpers import ADMIN, login, running

T = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


async def until(cond: Callable[[], Awaitable[bool]], within: float = 3.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await cond():
            return True
        await asyncio.sleep(0.02)
    return False


async def users(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    admin = await login(http, *ADMIN)
    for name in ("alice", "bob"):
        r = await http.post(
            "/users/sign-up", json={"username": name, "password": f"{name}-pw"}, headers=admin
        )
        assert r.status_code == 200, r.text
    return admin, await login(http, "alice", "alice-pw"), await login(http, "bob", "bob-pw")


async def scene_with_object(
    http: httpx.AsyncClient, h: dict[str, str], key: str, public: bool
) -> str:
    r = await http.put(f"/v1/scene/{key}", json={"scenes": [{"public": public}]}, headers=h)
    assert r.status_code == 200, r.text
    r = await http.post(f"/v1/scene/{key}/object", json={"objects": [{"name": "o"}]}, headers=h)
    return str(r.json()["objects"][0]["key"])


async def transform_x(http: httpx.AsyncClient, h: dict[str, str], scene: str, key: str) -> float:
    r = await http.get(f"/v1/scene/{scene}/object/{key}", headers=h)
    return float(r.json()["objects"][0]["transform"][3])


async def test_authenticated_datagrams_act_as_their_devices_user(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, udp_security="gcm") as (node, http):
        _, alice, bob = await users(http)
        obj = await scene_with_object(http, alice, "priv", public=False)
        await scene_with_object(http, bob, "bobs", public=True)

        async def gcm_device(h: dict[str, str], scene: str, key: str) -> crypto.DeviceChannel:
            body = {"scenes": [{"key": scene, "devices": [{"key": key, "encryption": "gcm"}]}]}
            r = await http.post(f"/v1/scene/{scene}/register", json=body, headers=h)
            assert r.status_code == 200, r.text
            return crypto.DeviceChannel(base64.b64decode(r.json()["gcm_key"]), key)

        a, b = await gcm_device(alice, "priv", "da"), await gcm_device(bob, "bobs", "db")
        loop = asyncio.get_running_loop()
        sock, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        server = ("127.0.0.1", node.udp_port)
        event = {"msg_type": 1, "key": obj, "scene": "priv", "transform": [*T[:3], 5.0, *T[4:]]}
        try:
            sock.sendto(b.seal(orjson.dumps(event)), server)  # bob's device: not his scene
            assert await until(lambda: _at_least(node.services.drops["not_found"], 1)), dict(
                node.services.drops
            )
            assert await transform_x(http, alice, "priv", obj) == 0.0
            sock.sendto(a.seal(orjson.dumps(event)), server)  # alice's device: hers
            assert await until(lambda: _eq(transform_x(http, alice, "priv", obj), 5.0))
        finally:
            sock.close()


async def _at_least(value: int, n: int) -> bool:
    return value >= n


async def _eq(value: Awaitable[float], want: float) -> bool:
    return await value == want


async def test_plaintext_datagrams_can_be_refused(tmp_path: Path) -> None:
    scrape = "metrics-token-for-the-test"
    async with running(tmp_path, auth=True, udp_plaintext="refuse", metrics_token=scrape) as (
        node,
        http,
    ):
        _, alice, _ = await users(http)
        obj = await scene_with_object(http, alice, "pub", public=True)
        loop = asyncio.get_running_loop()
        sock, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        event = {"msg_type": 1, "key": obj, "transform": [*T[:3], 5.0, *T[4:]]}
        try:
            sock.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
            assert await until(lambda: _at_least(node.services.drops["unauthenticated"], 1))
            assert await transform_x(http, alice, "pub", obj) == 0.0
            auth = {"Authorization": f"Bearer {scrape}"}
            metrics = (await http.get("/metrics", headers=auth)).text
            assert 'aesel_drops_total{reason="unauthenticated"} 1.0' in metrics
        finally:
            sock.close()


async def test_a_device_is_its_registering_users(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (node, http):
        _, alice, bob = await users(http)
        await scene_with_object(http, alice, "pub", public=True)
        mine = {
            "scenes": [
                {"key": "pub", "devices": [{"key": "dev", "hostname": "127.0.0.1", "port": 9}]}
            ]
        }
        assert (
            await http.post("/v1/scene/pub/register", json=mine, headers=alice)
        ).status_code == 200
        # bob may not take alice's device over, redirect it, or detach it
        theirs = {
            "scenes": [
                {"key": "pub", "devices": [{"key": "dev", "hostname": "127.0.0.1", "port": 10}]}
            ]
        }
        assert (
            await http.post("/v1/scene/pub/register", json=theirs, headers=bob)
        ).status_code == 403
        assert (
            await http.post("/v1/scene/pub/deregister", json=mine, headers=bob)
        ).status_code == 403
        align = {
            "scenes": [
                {"key": "pub", "devices": [{"key": "dev", "transform": {"translation": [1, 1, 1]}}]}
            ]
        }
        assert (await http.post("/v1/scene/pub/align", json=align, headers=bob)).status_code == 403
        assert node.hub.devices("pub") == {"dev": ("127.0.0.1", 9)}
        assert (
            await http.post("/v1/scene/pub/deregister", json=mine, headers=alice)
        ).status_code == 200
        assert node.hub.devices("pub") == {}


async def test_scene_keys_are_never_overwritten(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (_, http):
        _, alice, bob = await users(http)
        await scene_with_object(http, alice, "s", public=False)
        for body_key, url in ((None, "/v1/scene/s"), ("s", "/v1/scene")):
            scene: dict[str, Any] = {"name": "takeover", "public": True}
            if body_key:
                scene["key"] = body_key
            method = "PUT" if url.endswith("/s") else "POST"
            r = await http.request(method, url, json={"scenes": [scene]}, headers=bob)
            assert r.status_code == 409, r.text
        r = await http.get("/v1/scene/s", headers=alice)
        assert r.json()["scenes"][0]["name"] == "" and r.json()["scenes"][0]["public"] is False


async def test_registrations_aim_only_where_allowed(tmp_path: Path) -> None:
    async with running(tmp_path, max_devices_per_scene=2, max_devices_per_user=100) as (node, http):

        async def register(host: str, port: int, key: str, scene: str = "s") -> httpx.Response:
            d = {"key": key, "hostname": host, "port": port}
            return await http.post(
                f"/v1/scene/{scene}/register", json={"scenes": [{"key": scene, "devices": [d]}]}
            )

        for host, port in (
            ("255.255.255.255", 9), ("224.0.0.1", 9), ("169.254.169.254", 80),
            ("0.0.0.0", 9), ("8.8.8.8", 53), ("127.0.0.1", 70000),
        ):  # fmt: skip
            r = await register(host, port, "x")
            assert r.status_code == 400, (host, port, r.text)
            assert r.json()["err_code"] == 110
        assert (await register("127.0.0.1", 9, "d1")).status_code == 200
        assert (await register("localhost", 9, "d2")).status_code == 200
        r = await register("127.0.0.1", 9, "d3")
        assert r.status_code == 403 and "at most 2" in r.text
        assert set(node.hub.devices("s")) == {"d1", "d2"}


async def test_a_deleted_users_websocket_is_closed_with_4001(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True) as (node, http):
        admin, _, bob = await users(http)
        bob_id = (await http.get("/users", params={"username": "bob"}, headers=admin)).json()[0][
            "id"
        ]
        token = bob["Authorization"].removeprefix("Bearer ")
        for change in ("deactivate", "delete"):
            async with connect(f"ws://127.0.0.1:{node.ws_port}/?token={token}") as ws:
                await ws.recv()
                if change == "deactivate":
                    assert (
                        await http.delete(f"/users/{bob_id}/active", headers=admin)
                    ).status_code == 200
                else:
                    assert (await http.delete(f"/users/{bob_id}", headers=admin)).status_code == 200
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 3)
                except ConnectionClosed:
                    pass
                assert ws.close_code == 4001
            if change == "deactivate":
                await http.put(f"/users/{bob_id}/active", headers=admin)


async def test_a_streamed_update_never_moves_an_object(tmp_path: Path) -> None:
    async with running(tmp_path) as (node, http):
        r = await http.post("/v1/scene/a/object", json={"objects": [{"name": "o"}]})
        key = r.json()["objects"][0]["key"]
        loop = asyncio.get_running_loop()
        sock, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            move = {"msg_type": 1, "key": key, "scene": "b", "transform": T}
            sock.sendto(orjson.dumps(move), ("127.0.0.1", node.udp_port))
            assert await until(lambda: _at_least(node.services.drops["scene_mismatch"], 1))
            assert (await http.get(f"/v1/scene/a/object/{key}")).json()["objects"][0][
                "scene"
            ] == "a"
        finally:
            sock.close()


async def test_a_flood_of_unknown_keys_costs_bounded_store_reads(tmp_path: Path) -> None:
    async with running(tmp_path) as (node, _):
        objects = node.services.objects
        reads = 0
        load = objects.table._load

        async def counting(key: str) -> Any:
            nonlocal reads
            reads += 1
            return await load(key)

        objects.table._load = counting
        loop = asyncio.get_running_loop()
        sock, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            for i in range(3000):  # 3,000 datagrams naming 50 unknown keys, 60 times each
                event = {"msg_type": 1, "key": f"nope{i % 50}", "transform": T}
                sock.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
                if i % 100 == 0:
                    await asyncio.sleep(0)
            assert await until(lambda: _at_least(node.udp.received if node.udp else 0, 2500))
            await asyncio.sleep(0.2)
            # each unknown key is read once; its repeats wait behind that read or hit the
            # negative cache
            assert reads <= 50, reads
            assert node.services.drops["not_found"] >= 2500
        finally:
            sock.close()
