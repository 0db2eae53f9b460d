"""Adversity over real sockets: what one bad value, one closing client or one abusive client
must not cost anyone else (issue 13). Each test failed on the code before its fix."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from aesel.app import Node
from tests.conftest import register

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


async def new_object(http: httpx.AsyncClient, scene: str, name: str) -> str:
    r = await http.post(
        f"/v1/scene/{scene}/object",
        json={"objects": [{"name": name, "scene": scene, "transform": at(0.0)}]},
    )
    assert r.status_code == 200, r.text
    key: str = r.json()["objects"][0]["key"]
    return key


def flood(port: int, docs: list[bytes], stop: threading.Event) -> int:
    """Send ``docs`` round-robin to the node from a thread until ``stop``; returns the count."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while not stop.is_set():
            for d in docs:
                s.sendto(d, ("127.0.0.1", port))
            sent += len(docs)
            if sent % 20 == 0:
                time.sleep(0.001)  # ~10k datagrams/s: the node keeps up on a shared core
    return sent


async def test_clients_closing_mid_broadcast_cost_other_scenes_nothing(
    http: httpx.AsyncClient, node: Node, make_device: Any
) -> None:
    for s in ("a", "b"):
        await http.put(f"/v1/scene/{s}", json={"scenes": [{"name": s}]})
    ka, kb = await new_object(http, "a", "churned"), await new_object(http, "b", "watched")
    device = await make_device()
    await register(http, "b", device, "dev-b")
    seq0 = node.bus.last_seq("b")
    stop = threading.Event()
    docs = [
        orjson.dumps({"msg_type": 1, "key": k, "scene": s, "transform": at(1.0)})
        for k, s in ((ka, "a"), (kb, "b"))
    ]
    loop = asyncio.get_running_loop()
    sender = loop.run_in_executor(None, flood, node.udp_port, docs, stop)
    closes = 0
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # clients subscribe, get events, close cleanly
            async with connect(f"ws://127.0.0.1:{node.ws_port}/", compression=None) as ws:
                await ws.recv()  # welcome
                await ws.send(orjson.dumps({"type": "subscribe", "scene": "a"}).decode())
                while '"events"' not in str(await asyncio.wait_for(ws.recv(), 2)):
                    pass
            closes += 1
    finally:
        stop.set()
        await sender
    await asyncio.sleep(0)  # the last flush of the turn
    published = node.bus.last_seq("b") - seq0
    assert closes > 10 and published > 1000
    # every event of scene b that was published reached its device (the hub's own count:
    # the loopback may drop datagrams, the hub must not)
    assert node.hub.stats.udp_deliveries == published, (node.hub.stats, published)
    assert node.services.drops["internal"] == 0
