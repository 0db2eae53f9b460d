"""Overload: a node behind on inbound events sheds stale ones, latest per object wins.

The burst is sent while the node's loop is held (the test does not yield until every datagram
or message is out, then keeps the loop busy a little longer than ``SHED_AFTER``), so the node
finds far more waiting than it handles in one go, and all of it waited, as a node short of CPU
does. Subscribers must end with each object's latest state, and ``stale`` must count. A burst
that did not wait (after a pause, the node idle) is applied whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from aesel.app import Node
from aesel.model.inbound import BareTransform, bare_transform
from aesel.services.ingest import SHED_ABOVE, SHED_AFTER, is_behind, stale
from tests.conftest import register, stall

pytestmark = pytest.mark.integration

OBJECTS, ROUNDS = 20, 40


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def bt(key: str, x: float, device: str | None = None) -> BareTransform:
    doc = {"msg_type": 1, "key": key, "scene": "s", "transform": at(x)}
    got = bare_transform({**doc, "device": device} if device else doc)
    assert got is not None
    return got


def busy() -> None:
    """The node shares this loop: holding it is the node being busy (not waiting for work)."""
    stall(SHED_AFTER * 2)


def test_only_a_backlog_that_waited_is_shed_and_only_superseded_bare_transforms() -> None:
    assert not is_behind(2, 10.0)  # a couple back to back: all applied
    assert not is_behind(1000, SHED_AFTER / 2)  # a big burst, but the node keeps up
    assert is_behind(SHED_ABOVE + 1, SHED_AFTER * 2)
    many = [(bt(f"k{i}", 0), None) for i in range(SHED_ABOVE)]
    many += [(bt("a", 1), None), (bt("a", 2, "d"), None), (bt("a", 3), "other"), (bt("a", 4), None)]
    got = stale(many)
    assert got[:SHED_ABOVE] == [False] * SHED_ABOVE
    # a(1) is superseded by a(4), same sender and device; the others are not
    assert got[SHED_ABOVE:] == [True, False, False, False]


async def objects(http: httpx.AsyncClient) -> list[str]:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    objs = [{"name": f"o{i}", "scene": "s", "transform": at(0.0)} for i in range(OBJECTS)]
    r = await http.post("/v1/scene/s/object", json={"objects": objs})
    assert r.status_code == 200, r.text
    return [o["key"] for o in r.json()["objects"]]


async def drain_ws(ws: Any, latest: dict[str, float], want: dict[str, float]) -> None:
    deadline = time.monotonic() + 10
    while latest != want:
        assert time.monotonic() < deadline, f"subscriber ended with {latest}, expected {want}"
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] == "events":
            for e in msg["events"]:
                latest[e["data"]["key"]] = e["data"]["transform"][3]


async def stale_metric(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('aesel_drops_total{reason="stale"}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_udp_burst_sheds_stale_updates_and_subscribers_end_with_the_latest(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    keys = await objects(http)
    dev = await make_device()
    await register(http, "s", dev, "d")
    async with connect(f"ws://127.0.0.1:{node.ws_port}/", compression=None) as ws:
        await ws.recv()  # welcome
        await ws.send(orjson.dumps({"type": "subscribe", "scene": "s"}).decode())
        assert orjson.loads(await ws.recv())["type"] == "snapshot"
        want = {k: float(ROUNDS) for k in keys}
        # the burst: every datagram is out before the node's loop runs again
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for r in range(1, ROUNDS + 1):
                for k in keys:
                    doc = {"msg_type": 1, "key": k, "scene": "s", "transform": at(float(r))}
                    s.sendto(orjson.dumps(doc), ("127.0.0.1", node.udp_port))
        busy()
        latest: dict[str, float] = {}
        await drain_ws(ws, latest, want)
    shed = node.services.drops["stale"]
    assert shed > 0 and node.udp is not None and node.udp.received == OBJECTS * ROUNDS
    # what the node applied and delivered: the rest; the UDP device got the same
    assert node.hub.stats.udp_deliveries >= OBJECTS * ROUNDS - shed
    got: dict[str, float] = {}
    while got != want:
        d = await dev.recv(5)
        got[d["key"]] = d["transform"][3]
    assert len(dev.received) < OBJECTS * ROUNDS  # shed ones never went out
    assert await stale_metric(http) == shed
    r = await http.get(f"/v1/scene/s/object/{keys[0]}")
    assert r.json()["objects"][0]["transform"] == at(float(ROUNDS))


async def test_a_udp_burst_after_a_pause_is_not_shed_when_the_node_keeps_up(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    """A device that pauses and then sends a burst of one object's updates: the node was idle,
    not behind, so every update is applied and delivered (the kernel's arrival stamps say the
    datagrams waited microseconds; the pause before them is not waiting)."""
    keys = await objects(http)
    dev = await make_device()
    await register(http, "s", dev, "d")
    await asyncio.sleep(SHED_AFTER * 4)  # the pause: the node's loop idles
    n = SHED_ABOVE * 3
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for r in range(1, n + 1):
            doc = {"msg_type": 1, "key": keys[0], "scene": "s", "transform": at(float(r))}
            s.sendto(orjson.dumps(doc), ("127.0.0.1", node.udp_port))
    got = [(await dev.recv(5))["transform"][3] for _ in range(n)]
    assert got == [float(r) for r in range(1, n + 1)]
    assert node.services.drops["stale"] == 0
    assert node.udp is not None and node.udp.batches >= 1  # they were read together


@contextlib.asynccontextmanager
async def publisher_and_subscriber(node: Node) -> AsyncIterator[tuple[Any, Any]]:
    """Two WebSocket clients of ``node``, welcomed; the second subscribed to scene ``s``, its
    snapshot read."""
    url = f"ws://127.0.0.1:{node.ws_port}/"
    async with connect(url, compression=None) as pub, connect(url, compression=None) as sub:
        await pub.recv()
        await sub.recv()
        await sub.send(orjson.dumps({"type": "subscribe", "scene": "s"}).decode())
        assert orjson.loads(await sub.recv())["type"] == "snapshot"
        yield pub, sub


async def test_a_websocket_burst_after_a_pause_is_not_shed_when_the_node_keeps_up(
    http: httpx.AsyncClient, node: Node
) -> None:
    """The WebSocket twin of the UDP case: a publisher that sent one update, paused, then sent a
    burst of one object's updates in one write. The node was idle (its loop on time), so the
    burst did not wait and every update reaches the subscriber."""
    keys = await objects(http)
    async with publisher_and_subscriber(node) as (pub, sub):
        n = SHED_ABOVE * 3
        frames = [
            orjson.dumps({"msg_type": 1, "key": keys[0], "scene": "s", "transform": at(x)})
            for x in range(n + 1)
        ]
        await pub.send(frames[0].decode())  # a lone update: the node reads it at once
        assert orjson.loads(await sub.recv())["events"][0]["data"]["transform"][3] == 0.0
        await asyncio.sleep(SHED_AFTER * 4)  # the pause: the node's loop idles
        for f in frames[1:]:  # the burst, in one write
            pub.protocol.send_text(f)
        pub.send_data()  # type: ignore[attr-defined]
        got: list[float] = []
        while len(got) < n:
            msg = orjson.loads(await asyncio.wait_for(sub.recv(), 5))
            got += [e["data"]["transform"][3] for e in msg["events"]]
    assert got == [float(x) for x in range(1, n + 1)]
    assert node.services.drops["stale"] == 0
    assert node.ws.events_in == n + 1


async def test_a_websocket_burst_sheds_stale_updates_too(
    http: httpx.AsyncClient, node: Node
) -> None:
    keys = await objects(http)
    async with publisher_and_subscriber(node) as (pub, sub):
        # one write of every message: the node finds them all queued at once
        frames = []
        for r in range(1, ROUNDS + 1):
            for k in keys:
                doc = {"msg_type": 1, "key": k, "scene": "s", "transform": at(float(r))}
                frames.append(orjson.dumps(doc).decode())
        await pub.send(frames[0])
        for f in frames[1:]:
            pub.protocol.send_text(f.encode())
        pub.send_data()  # type: ignore[attr-defined]
        busy()
        latest: dict[str, float] = {}
        await drain_ws(sub, latest, {k: float(ROUNDS) for k in keys})
    assert node.ws.events_in == OBJECTS * ROUNDS
    assert node.services.drops["stale"] > 0
    assert await stale_metric(http) == node.services.drops["stale"]
