"""Devices registered with ``"frame": "device"`` receive object transforms in their own frame:
through the registration transform, along a two-link scene path, and after ``align``."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from aesel.app import Node
from aesel.model import transform as tf
from tests.conftest import register

T = tf.matmul(tf.rigid((4.0, -2.0, 0.5), (0.1, 0.2, 0.3)), (
    2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 1.0))  # fmt: skip


def pose(t: tuple[float, float, float], r: tuple[float, float, float]) -> dict[str, Any]:
    return {"translation": list(t), "rotation": list(r)}


def close(a: list[float], b: tuple[float, ...], tol: float = 1e-6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


async def put_object(http: httpx.AsyncClient, scene: str) -> None:
    r = await http.post(
        f"/v1/scene/{scene}/object", json={"objects": [{"name": "o", "transform": list(T)}]}
    )
    assert r.status_code == 200, r.text


async def plain_register(
    http: httpx.AsyncClient, scene: str, key: str, t: dict[str, Any] | None = None
) -> dict[str, Any]:
    device: dict[str, Any] = {"key": key}
    if t is not None:
        device["transform"] = t
    r = await http.post(
        f"/v1/scene/{scene}/register", json={"scenes": [{"key": scene, "devices": [device]}]}
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def test_round_trip_through_the_registration_transform(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    await http.put("/v1/scene/f1", json={"scenes": [{"name": "f1"}]})
    mine, plain = await make_device(), await make_device()
    p = pose((1.0, 2.0, 3.0), (0.3, 0.0, 0.5))
    doc = await register(http, "f1", mine, "mine", frame="device", transform=p)
    assert doc["scenes"][0]["devices"][0]["frame"] == "device"
    await register(http, "f1", plain, "plain", transform=p)
    await put_object(http, "f1")
    m_sd = tf.rigid(p["translation"], p["rotation"])
    got = (await mine.recv())["transform"]
    assert close(got, tf.matmul(m_sd, T))
    assert close(list(tf.matmul(tf.inverse(m_sd), tuple(got))), T)  # back into the scene
    assert close((await plain.recv())["transform"], T)  # who did not opt in: unchanged


async def test_align_changes_the_frame_from_the_next_event(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    await http.put("/v1/scene/f2", json={"scenes": [{"name": "f2"}]})
    d = await make_device()
    await register(http, "f2", d, "d2", frame="device", format="batch")
    await put_object(http, "f2")
    assert close((await d.recv())["transform"], T)  # identity registration
    p = pose((0.0, 5.0, 0.0), (0.0, 0.0, 1.2))
    body = {"scenes": [{"key": "f2", "devices": [{"key": "d2", "transform": p}]}]}
    r = await http.post("/v1/scene/f2/align", json=body)
    assert r.status_code == 200, r.text
    await put_object(http, "f2")
    assert close(
        (await d.recv())["transform"], tf.matmul(tf.rigid(p["translation"], p["rotation"]), T)
    )
    # re-registering with "frame": "scene" turns it off
    await register(http, "f2", d, "d2", frame="scene")
    await put_object(http, "f2")
    assert close((await d.recv())["transform"], T)


async def test_a_frame_derived_along_a_two_link_scene_path(
    http: httpx.AsyncClient, make_device: Any
) -> None:
    for s in ("pa", "pb", "pc"):
        await http.put(f"/v1/scene/{s}", json={"scenes": [{"name": s}]})
    # helper devices seen in two scenes make the links pa -> pb and pb -> pc
    e_a, e_b = pose((1, 0, 0), (0, 0, 0.4)), pose((0, 2, 0), (0.2, 0, 0))
    f_b, f_c = pose((0, 0, 3), (0, 0.7, 0)), pose((-1, 1, 0), (0, 0, -0.3))
    await plain_register(http, "pa", "e", e_a)
    await plain_register(http, "pb", "e", e_b)
    await plain_register(http, "pb", "f", f_b)
    await plain_register(http, "pc", "f", f_c)

    def m(p: dict[str, Any]) -> tuple[float, ...]:
        return tf.rigid(p["translation"], p["rotation"])

    m_ab = tf.matmul(tf.inverse(m(e_b)), m(e_a))  # A -> B = M_BE^-1 @ M_AE
    m_bc = tf.matmul(tf.inverse(m(f_c)), m(f_b))
    m_ac = tf.matmul(m_bc, m_ab)
    d_a = pose((2, 3, 4), (0.1, -0.2, 0.9))
    d = await make_device()
    await register(http, "pa", d, "d", frame="device", transform=d_a)
    doc = await register(http, "pc", d, "d")  # no transform given: derived along pa->pb->pc
    assert doc["scenes"][1]["key"] == "pa"
    m_cd = tf.matmul(m(d_a), tf.inverse(m_ac))
    await put_object(http, "pc")
    got = (await d.recv())["transform"]
    assert close(got, tf.matmul(m_cd, T))
    # the same object seen from pa: M_AD @ M_AC^-1 @ T, i.e. the device sees one consistent world
    assert close(got, tf.matmul(m(d_a), tf.matmul(tf.inverse(m_ac), T)))


async def test_a_websocket_subscription_in_a_devices_frame(
    node: Node, http: httpx.AsyncClient
) -> None:
    await http.put("/v1/scene/fw", json={"scenes": [{"name": "fw"}]})
    await put_object(http, "fw")
    p = pose((1.0, -1.0, 2.0), (0.4, 0.1, 0.0))
    await plain_register(http, "fw", "dev", p)
    m_sd = tf.rigid(p["translation"], p["rotation"])
    async with connect(f"ws://127.0.0.1:{node.ws_port}/") as ws:
        await ws.recv()  # welcome
        await ws.send(orjson.dumps({"type": "subscribe", "scene": "fw", "frame": "dev"}).decode())
        snap = orjson.loads(await ws.recv())
        assert snap["type"] == "snapshot"
        assert close(snap["objects"][0]["transform"], tf.matmul(m_sd, T))
        await put_object(http, "fw")
        events = orjson.loads(await ws.recv())
        assert close(events["events"][0]["data"]["transform"], tf.matmul(m_sd, T))
        # align moves the device: the next event is in its new frame
        p2 = pose((0.0, 0.0, 9.0), (0.0, 0.0, 0.0))
        body = {"scenes": [{"key": "fw", "devices": [{"key": "dev", "transform": p2}]}]}
        assert (await http.post("/v1/scene/fw/align", json=body)).status_code == 200
        await put_object(http, "fw")
        events = orjson.loads(await ws.recv())
        m2 = tf.rigid(p2["translation"], p2["rotation"])
        assert close(events["events"][0]["data"]["transform"], tf.matmul(m2, T))
        # a device that is not registered to the scene is refused
        await ws.send(orjson.dumps({"type": "subscribe", "scene": "fw", "frame": "nope"}).decode())
        err = orjson.loads(await ws.recv())
        assert err["type"] == "error" and err["code"] == "not_found", err
