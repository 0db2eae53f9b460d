"""Adversity over real sockets: what one bad value, one closing client or one abusive client
must not cost anyone else (issue 13). Each test failed on the code before its fix."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from aesel.app import Node
from aesel.config import Settings
from tests.conftest import register, stop_aesel, wait_until

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
    # every event of scene b that was published reached its device (the hub's own count:
    # the loopback may drop datagrams, the hub must not); the last ones may still be queued
    deadline = time.monotonic() + 5
    while node.hub.stats.udp_deliveries != node.bus.last_seq("b") - seq0:
        assert time.monotonic() < deadline, (node.hub.stats, node.bus.last_seq("b") - seq0)
        await asyncio.sleep(0.01)
    assert closes > 10 and node.hub.stats.udp_deliveries > 1000
    assert node.services.drops["internal"] == 0


# -- H3: non-finite and out-of-range numbers, on every path, then a restart -------------------

IDENT = "[1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1]"
BAD_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e309", "1e300", "3.5e38")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bad_rest_bodies(bad: str) -> list[tuple[str, str, str]]:
    """(method, path, body) carrying ``bad`` in each kind of number a REST body holds."""
    t = IDENT.replace("[1,", f"[{bad},", 1)
    return [
        ("POST", "/v1/scene/s/object", f'{{"objects":[{{"name":"n","transform":{t}}}]}}'),
        ("POST", "/v1/scene/s/object/{key}", f'{{"objects":[{{"transform":{t}}}]}}'),
        ("POST", "/v1/scene/s/object", f'{{"objects":[{{"translation":[{bad},0,0]}}]}}'),
        ("POST", "/v1/scene/s/object", f'{{"objects":[{{"scale":[1,{bad},1]}}]}}'),
        ("POST", "/v1/scene/s/object", f'{{"objects":[{{"euler_rotation":[0,0,{bad}]}}]}}'),
        (
            "POST",
            "/v1/scene/s/object/{key}/action",
            f'{{"name":"a","keyframes":[{{"frame":1,"transform":{t}}}]}}',
        ),
        ("POST", "/v1/scene/s/property", f'{{"properties":[{{"name":"p","values":[{bad}]}}]}}'),
        (
            "POST",
            "/v1/scene/s/property",
            f'{{"properties":[{{"name":"p","values":[{{"value":{bad}}}]}}]}}',
        ),
        (
            "POST",
            "/v1/scene/s/property/{pkey}/action",
            f'{{"name":"a","keyframes":[{{"frame":1,"values":[{{"value":{bad}}}]}}]}}',
        ),
        ("PUT", "/v1/scene/t", f'{{"scenes":[{{"name":"t","latitude":{bad}}}]}}'),
    ]


def test_non_finite_numbers_are_refused_on_every_path_and_survive_a_restart(
    aesel_process: Any,
) -> None:
    from websockets.sync.client import connect as ws_connect

    ws_port = free_port()
    p = aesel_process("--ws-port", str(ws_port))
    with httpx.Client(base_url=p.url, timeout=10) as c:
        assert c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]}).status_code == 200
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "o", "transform": at(1.0)}]})
        key = r.json()["objects"][0]["key"]
        r = c.post("/v1/scene/s/property", json={"properties": [{"name": "p", "values": [1.0]}]})
        pkey = r.json()["properties"][0]["key"]
        headers = {"Content-Type": "application/json"}
        for bad in BAD_NUMBERS:
            for method, path, body in bad_rest_bodies(bad):
                url = path.format(key=key, pkey=pkey)
                r = c.request(method, url, content=body, headers=headers)
                assert r.status_code == 400, (method, url, body, r.status_code, r.text)
                assert "float32" in r.json()["err_msg"], r.text
        # UDP and WebSocket: refused and counted, never applied
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for bad in ("1e300", "3.5e38", "-1e39"):
                t = IDENT.replace("[1,", f"[{bad},", 1)
                d = f'{{"msg_type":1,"key":"{key}","scene":"s","transform":{t}}}'
                s.sendto(d.encode(), ("127.0.0.1", p.udp_port))
        with ws_connect(f"ws://127.0.0.1:{ws_port}/") as ws:
            ws.recv()  # welcome
            t = IDENT.replace("[1,", "[1e300,", 1)
            ws.send(f'{{"msg_type":1,"key":"{key}","scene":"s","transform":{t}}}')
            reply = orjson.loads(ws.recv(timeout=5))
            assert reply["type"] == "error" and "float32" in reply["message"], reply

        def invalid_drops() -> int:
            text = c.get("/metrics").text
            return sum(
                int(float(line.split()[-1]))
                for line in text.splitlines()
                if line.startswith('aesel_drops_total{reason="invalid"}')
            )

        wait_until(lambda: invalid_drops() >= 4)
        assert c.get(f"/v1/scene/s/object/{key}").json()["objects"][0]["transform"] == at(1.0)
    stop_aesel(p)
    p = aesel_process("--ws-port", str(ws_port))
    with httpx.Client(base_url=p.url, timeout=10) as c:
        r = c.get(f"/v1/scene/s/object/{key}")
        assert r.status_code == 200 and r.json()["objects"][0]["transform"] == at(1.0)
        assert (
            c.post("/v1/scene/s/object/query", json={"objects": [{"name": "o"}]}).status_code == 200
        )
        r = c.post(f"/v1/scene/s/object/{key}", json={"objects": [{"transform": at(2.0)}]})
        assert r.status_code == 200
        assert c.get(f"/v1/scene/s/property/{pkey}").status_code == 200
        with ws_connect(f"ws://127.0.0.1:{ws_port}/") as ws:
            ws.recv()
            ws.send('{"type":"subscribe","scene":"s"}')
            snap = orjson.loads(ws.recv(timeout=5))
            assert snap["type"] == "snapshot" and len(snap["objects"]) == 1, snap
        assert c.delete(f"/v1/scene/s/object/{key}").status_code == 200


# -- L1: a lone surrogate in a JSON body ---------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("PUT", "/v1/scene/s", '{"scenes":[{"name":"\\ud800"}]}'),
        ("POST", "/v1/scene/s/object", '{"objects":[{"name":"\\udc00x"}]}'),
        ("POST", "/v1/collection", '{"name":"\\ud800","description":"d"}'),
    ],
)
async def test_a_lone_surrogate_in_a_body_is_a_400(
    http: httpx.AsyncClient, method: str, path: str, body: str
) -> None:
    r = await http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "lone surrogate" in r.json()["err_msg"]


# -- M5: a write answered 503 never becomes visible or durable -----------------------------


async def test_a_write_refused_by_the_store_is_never_served(
    http: httpx.AsyncClient, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aesel.errors import BackendUnavailable

    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    key = await new_object(http, "s", "o")

    async def full(*_: object) -> None:
        raise BackendUnavailable("sqlite: database or disk is full")

    monkeypatch.setattr(node.store, "_tx", full)  # every write transaction of the store fails
    r = await http.post(f"/v1/scene/s/object/{key}", json={"objects": [{"transform": at(9.0)}]})
    assert r.status_code == 503, r.text
    monkeypatch.undo()
    r = await http.get(f"/v1/scene/s/object/{key}")
    assert r.json()["objects"][0]["transform"] == at(0.0)  # before: the refused value
    await node.services.objects.table.flush()
    stored = await node.store.get_object(key)
    assert stored is not None and list(stored.transform) == at(0.0)


# -- L-c: datagrams the kernel drops show in /metrics ---------------------------------------


def drops_metric(text: str, reason: str) -> int:
    prefix = f'aesel_drops_total{{reason="{reason}"}}'
    return sum(int(float(x.split()[-1])) for x in text.splitlines() if x.startswith(prefix))


async def test_datagrams_the_kernel_drops_are_counted(tmp_path: Path) -> None:
    settings = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "data", udp_buffer=4096
    )
    n = Node(settings)
    await n.start()
    try:
        datagram = b'{"msg_type":1,"key":"k","scene":"s","transform":[]}'
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(5000):  # the loop is blocked here: the server cannot read
                s.sendto(datagram, ("127.0.0.1", n.udp_port))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{n.http_port}") as c:
            text = (await c.get("/metrics")).text
        assert drops_metric(text, "udp_rcvbuf") > 0, text
    finally:
        await n.stop()


# -- M8: replies and snapshots count against the slow-consumer limit; commands are budgeted --


async def test_a_client_looping_resync_without_reading_is_disconnected(tmp_path: Path) -> None:
    from tests.integration.test_ws import masked_text, raw_ws

    settings = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "data",
        ws_high_water=64 * 1024, ws_sndbuf=4096, slow_timeout=0.5,
    )  # fmt: skip
    n = Node(settings)
    await n.start()
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{n.http_port}") as http:
            await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
            objs = [{"name": f"o{i}", "transform": at(float(i))} for i in range(400)]
            assert (await http.post("/v1/scene/s/object", json={"objects": objs})).is_success
        client = await loop.run_in_executor(None, raw_ws, n.ws_port)  # never reads again
        resync = masked_text(b'{"type":"resync","scene":"s"}')
        await loop.run_in_executor(None, client.sendall, resync * 300)
        deadline = time.monotonic() + 10
        while n.ws.connections:  # before: never disconnected, its buffer grew by a snapshot
            assert time.monotonic() < deadline, "the non-reading client was never disconnected"
            buffered = sum(c.transport.get_write_buffer_size() for c in n.ws._open)
            assert buffered < 2 << 20, f"{buffered} bytes queued for a client that never reads"
            await asyncio.sleep(0.01)
        assert n.hub.stats.slow_disconnects == 1
        client.close()
    finally:
        await n.stop()


async def test_commands_are_rate_limited_per_connection(node: Node) -> None:
    async with connect(f"ws://127.0.0.1:{node.ws_port}/", compression=None) as ws:
        await ws.recv()  # welcome
        for _ in range(200):
            await ws.send('{"type":"ping"}')
        replies = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(200)]
    limited = [r for r in replies if r.get("code") == "rate_limited"]
    assert limited and len(limited) + sum(r["type"] == "pong" for r in replies) == 200
    assert node.services.drops["rate_limited"] == len(limited)


# -- H4 (hub side): outbound rate per destination ------------------------------------------


async def test_many_devices_aimed_at_one_address_share_one_outbound_rate(
    http: httpx.AsyncClient, node: Node, make_device: Any
) -> None:
    node.hub.udp_rate = 20_000  # bytes a second per destination (4 MiB/s by default)
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    key = await new_object(http, "s", "o")
    victim, bystander = await make_device(), await make_device()
    for i in range(200):  # one registration names one device
        await register(http, "s", victim, f"d{i}")
    await register(http, "s", bystander, "own")
    sender = await make_device()
    start = time.monotonic()
    for i in range(20):  # 20 events x 200 registrations: ~1 MB if nothing capped it
        sender.send({"msg_type": 1, "key": key, "scene": "s", "transform": at(float(i))})
        await bystander.recv()  # the bystander's own address gets every event
    elapsed = time.monotonic() - start
    got = 0
    while not victim.peer.queue.empty():
        got += len(victim.peer.queue.get_nowait())
    one_flush = 200 * 300  # a flush may overdraw the bucket once
    assert got <= 20_000 * (1 + elapsed) + one_flush, (got, elapsed)
    assert node.services.drops["rate_limited"] > 0
