"""Registration, deregistration, alignment and the transforms between scenes (docs/compat.md §1.4,
§3.5, §7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aesel.model import transform as tf

pytestmark = pytest.mark.integration


def reg_body(
    scene: str, device: str, transform: dict[str, list[float]] | None = None, **extra: Any
) -> dict[str, Any]:
    d: dict[str, Any] = {"key": device, "hostname": "127.0.0.1", "port": 40000, **extra}
    if transform is not None:
        d["transform"] = transform
    return {"scenes": [{"key": scene, "devices": [d]}]}


async def register(
    http: httpx.AsyncClient,
    scene: str,
    device: str,
    transform: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    r = await http.post(f"/v1/scene/{scene}/register", json=reg_body(scene, device, transform))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def as_matrix(t: dict[str, list[float]]) -> tf.Matrix:
    return tf.rigid(t["translation"], t["rotation"])


def returned(doc: dict[str, Any]) -> tf.Matrix:
    t = doc["scenes"][0]["devices"][0]["transform"]
    return tf.rigid(t["translation"], t["rotation"])


async def test_register_creates_the_scene_and_stores_the_client_transform(
    http: httpx.AsyncClient,
) -> None:
    t = {"translation": [1.0, 2.0, 3.0], "rotation": [0.1, 0.2, 0.3]}
    doc = await register(http, "new-scene", "d1", t)
    assert (doc["msg_type"], doc["err_code"], doc["num_records"]) == (4, 100, 2)
    assert doc["scenes"][0]["key"] == "new-scene"
    assert doc["scenes"][1] == {"key": ""}
    assert tf.close(returned(doc), tf.rigid(t["translation"], t["rotation"]))
    assert (await http.get("/v1/scene/new-scene")).status_code == 200


async def test_empty_device_key_gets_a_generated_one(http: httpx.AsyncClient) -> None:
    doc = await register(http, "s", "")
    assert len(doc["scenes"][0]["devices"][0]["key"]) == 36


async def test_deregister_removes_only_that_registration(http: httpx.AsyncClient) -> None:
    # docs/compat.md §7.3: deregistration deleted the device from every scene
    await register(http, "a", "d")
    await register(http, "b", "d")
    r = await http.post(
        "/v1/scene/a/deregister", json={"scenes": [{"key": "a", "devices": [{"key": "d"}]}]}
    )
    assert r.status_code == 200 and r.json()["msg_type"] == 5
    r = await http.post(
        "/v1/scene/a/deregister", json={"scenes": [{"key": "a", "devices": [{"key": "d"}]}]}
    )
    assert r.status_code == 404
    align = {
        "scenes": [{"key": "b", "devices": [{"key": "d", "transform": {"translation": [1, 1, 1]}}]}]
    }
    assert (await http.post("/v1/scene/b/align", json=align)).status_code == 200


async def test_align_stores_the_transform(http: httpx.AsyncClient) -> None:
    await register(http, "al", "d")
    t = {"translation": [5.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.5]}
    r = await http.post(
        "/v1/scene/al/align",
        json={"scenes": [{"key": "al", "devices": [{"key": "d", "transform": t}]}]},
    )
    assert r.status_code == 200 and r.json()["msg_type"] == 6
    # registering again returns the stored (aligned) transform
    doc = await register(http, "al", "d")
    assert tf.close(returned(doc), tf.rigid(t["translation"], t["rotation"]))


async def test_align_without_registration_is_404(http: httpx.AsyncClient) -> None:
    t = {"translation": [1, 1, 1], "rotation": [0, 0, 0]}
    r = await http.post(
        "/v1/scene/x/align",
        json={"scenes": [{"key": "x", "devices": [{"key": "nobody", "transform": t}]}]},
    )
    assert r.status_code == 404 and r.json()["err_code"] == 102


async def test_transform_is_derived_along_scene_links(http: httpx.AsyncClient) -> None:
    # device d1 knows its pose in A and in B: that links A and B
    ta = {"translation": [1.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.3]}
    tb = {"translation": [0.0, 4.0, 0.0], "rotation": [0.2, 0.0, 0.0]}
    await register(http, "A", "d1", ta)
    await register(http, "B", "d1", tb)
    m_ad, m_bd = as_matrix(ta), as_matrix(tb)
    # device d2 registered to A at another pose registers to B: its pose there is derived
    te = {"translation": [-2.0, 1.0, 0.5], "rotation": [0.0, 0.4, 0.0]}
    await register(http, "A", "d2", te)
    doc = await register(http, "B", "d2")
    assert doc["scenes"][1] == {"key": "A"}
    m_ae = as_matrix(te)
    m_ab = tf.matmul(tf.inverse(m_bd), m_ad)
    expected = tf.matmul(m_ae, tf.inverse(m_ab))
    assert tf.close(returned(doc), expected, 1e-9)
    # a device at d1's pose in A lands at d1's pose in B
    await register(http, "A", "d3", ta)
    assert tf.close(returned(await register(http, "B", "d3")), m_bd, 1e-9)


async def test_transform_is_derived_along_a_two_link_path(http: httpx.AsyncClient) -> None:
    ident = {"translation": [0.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.0]}
    shift = {"translation": [10.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.0]}
    up = {"translation": [0.0, 0.0, 3.0], "rotation": [0.0, 0.0, 0.0]}
    await register(http, "P", "l1", ident)
    await register(http, "Q", "l1", shift)  # P -> Q
    await register(http, "Q", "l2", ident)
    await register(http, "R", "l2", up)  # Q -> R
    await register(http, "P", "dev", ident)
    doc = await register(http, "R", "dev")
    assert doc["scenes"][1] == {"key": "P"}
    assert tf.close(returned(doc), tf.translation(10.0, 0.0, 3.0), 1e-9)


async def test_registration_needs_a_device(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/scene/s/register", json={"scenes": [{"key": "s"}]})
    assert r.status_code == 400 and r.json()["err_code"] == 122


async def test_unresolvable_hostname_is_a_clear_400(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/scene/s/register", json=reg_body("s", "d", hostname="no such host..invalid")
    )
    assert r.status_code == 400 and "cannot resolve device hostname" in r.json()["err_msg"]
