"""MongoDB stopped and restarted under a running node: REST answers 503 while it is away,
streaming to devices goes on from memory, no acknowledged write is lost, and the write-behind
state reaches the store once it is back. The node reconnects by itself.

The MongoDB-wire server here is this test's own SecantusDB process on a data directory (the
session's shared server keeps its data in memory), restarted on the same port.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aesel.app import Node
from aesel.config import Settings
from aesel.model import recording as rec
from tests.engines import ENGINES_CACHE, Engines, clear_neo4j

pytestmark = pytest.mark.integration

T = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


class Mongo:
    def __init__(self, data: Path) -> None:
        self.data = data
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/faults"

    def start(self) -> None:
        exe = next(ENGINES_CACHE.glob("secantus-*/venv/bin/secantusd-py"))
        self.proc = subprocess.Popen(
            [str(exe), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", str(self.data), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self) -> None:
        for _ in range(300):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise AssertionError("mongo did not come back")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def mongo(tmp_path: Path, engines: Engines) -> Iterator[Mongo]:
    m = Mongo(tmp_path / "mongo")
    m.data.mkdir()
    m.start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
async def node(tmp_path: Path, mongo: Mongo, engines: Engines) -> AsyncIterator[Node]:
    await mongo.ready()
    neo4j = engines.urls["AESEL_NEO4J_URL"]
    await clear_neo4j(neo4j)
    n = Node(
        Settings(
            http_port=0,
            udp_port=0,
            ws_port=0,
            data_dir=tmp_path / "data",
            flush_interval=0.05,
            mongo_url=mongo.url,
            neo4j_url=neo4j,
            store_timeout=1.0,
        )
    )
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def until_ok(http: httpx.AsyncClient, url: str, within: float = 30.0) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await http.get(url)
        if r.status_code == 200 or loop.time() > deadline:
            return r
        await asyncio.sleep(0.2)


async def test_mongodb_away_and_back(node: Node, mongo: Mongo, device_socket: Any) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}", timeout=10) as http:
        await http.put("/v1/scene/f", json={"scenes": [{"name": "faults"}]})
        acked = []
        for i in range(20):
            r = await http.post("/v1/scene/f/object", json={"objects": [{"name": f"o{i}"}]})
            assert r.status_code == 200
            acked.append(r.json()["objects"][0]["key"])
        streamed = acked[0]
        port = device_socket.getsockname()[1]
        dev = {"key": "dev", "hostname": "127.0.0.1", "port": port}
        await http.post("/v1/scene/f/register", json={"scenes": [{"key": "f", "devices": [dev]}]})
        loop = asyncio.get_running_loop()

        mongo.stop()
        # REST: a bounded 503 with an Aesel body, never a 500 or a hang
        t0 = loop.time()
        r = await http.post("/v1/scene/f/object", json={"objects": [{"name": "while-away"}]})
        assert r.status_code == 503 and r.json()["err_code"] == 101, r.text
        assert loop.time() - t0 < 5
        r = await http.post(f"/v1/scene/f/object/{acked[1]}", json={"objects": [{"name": "no"}]})
        assert r.status_code == 503
        # streaming goes on from memory
        moved = [*T[:3], 4.0, *T[4:]]
        event = {"msg_type": 1, "key": streamed, "scene": "f", "transform": moved}
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
        got = await loop.run_in_executor(None, device_socket.recv, 65536)
        assert orjson.loads(got)["transform"] == moved
        await asyncio.sleep(0.3)  # a few write-behind flushes fail meanwhile; they are retried

        mongo.start()
        await mongo.ready()
        r = await until_ok(http, f"/v1/scene/f/object/{acked[-1]}")
        assert r.status_code == 200, r.text  # reconnected by itself
        # no acknowledged write lost; the refused update did not happen later
        for key in acked:
            assert (await http.get(f"/v1/scene/f/object/{key}")).status_code == 200
        names = (await http.get(f"/v1/scene/f/object/{acked[1]}")).json()["objects"][0]["name"]
        assert names == "o1"
        # the write-behind state reached MongoDB
        for _ in range(100):
            if node.services.objects.table.pending == 0:
                break
            await asyncio.sleep(0.1)
        stored = await node.store.get_object(streamed)
        assert stored is not None and list(stored.transform) == moved
        sender.close()


async def test_a_recording_loses_nothing_while_mongodb_is_away(node: Node, mongo: Mongo) -> None:
    """Events streamed over UDP while MongoDB is away are recorded once it is back, in order and
    once each; a stop asked while it is away answers 503 and can be asked again."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}", timeout=10) as http:
        await http.put("/v1/scene/rf", json={"scenes": [{"name": "rec"}]})
        made = await http.post("/v1/scene/rf/object", json={"objects": [{"name": "o"}]})
        key = made.json()["objects"][0]["key"]
        rid = (await http.post("/v1/scene/rf/recordings")).json()["id"]
        seen: list[dict[str, Any]] = []
        arrived = asyncio.Event()

        def handler(e: Any) -> None:
            if e.scene == "rf":
                seen.append(e.payload)
                arrived.set()

        node.bus.subscribe(handler)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        streaming = True

        async def stream() -> None:  # one update at a time: each published before the next
            x = 0.0
            while streaming:
                x += 1
                arrived.clear()
                moved = [*T[:3], x, *T[4:]]
                event = {"msg_type": 1, "key": key, "scene": "rf", "transform": moved}
                sender.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
                await asyncio.wait_for(arrived.wait(), 5)

        task = asyncio.get_running_loop().create_task(stream())
        state = node.recordings.recorder._active[rid]

        async def until(cond: Any) -> None:
            for _ in range(3000):
                if cond():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("condition not met in time")

        await until(lambda: len(seen) >= 20)
        mongo.stop()
        await until(lambda: state.inflight is not None)  # an append failed; events go on
        n = len(seen)
        await until(lambda: len(seen) >= n + 50)
        mongo.start()
        await mongo.ready()
        await until(lambda: state.inflight is None and len(seen) >= n + 100)  # written since
        streaming = False
        await task

        mongo.stop()
        r = await http.post(f"/v1/scene/rf/recordings/{rid}/stop")
        assert r.status_code == 503 and r.json()["err_code"] == 101, r.text
        mongo.start()
        await mongo.ready()
        deadline = asyncio.get_running_loop().time() + 30
        while (r := await http.post(f"/v1/scene/rf/recordings/{rid}/stop")).status_code != 200:
            assert asyncio.get_running_loop().time() < deadline, r.text
            await asyncio.sleep(0.2)
        assert r.json()["recording"] is False
        _, entries = rec.decode((await http.get(f"/v1/scene/rf/recordings/{rid}")).content)
        assert [e.payload for e in entries] == seen  # every event, in order, once
        xs = [e.payload["transform"][3] for e in entries]
        assert xs == sorted(set(xs)) and len(xs) > n + 100
        sender.close()
