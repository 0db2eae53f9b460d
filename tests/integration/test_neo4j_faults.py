"""Neo4j stopped and restarted under a running node: scene REST answers 503 while it is away,
streaming to registered devices goes on from memory, and the node reconnects by itself.

This test runs its own Neo4j (the embedded server ``scripts/engines.sh`` builds) on a data
directory, so it can stop it and start it again on the same port without touching the session's
shared server. MongoDB is the session's.
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
from tests.engines import ENGINES_CACHE, Engines, drop_database, mongo_url

pytestmark = pytest.mark.integration

T = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


class Neo4j:
    def __init__(self, data: Path) -> None:
        self.data = data
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def start(self) -> None:
        home = next(ENGINES_CACHE.glob("neo4j-*"))
        self.proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", "-cp", f"{home}/classes:{home}/lib/*",
             "Neo4jBolt", str(self.data), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self) -> None:
        from neo4j import AsyncGraphDatabase

        for _ in range(1200):
            try:
                async with AsyncGraphDatabase.driver(self.url) as d:
                    await d.verify_connectivity()
                return
            except Exception:
                await asyncio.sleep(0.1)
        raise AssertionError("neo4j did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


@pytest.fixture
def neo4j(tmp_path: Path, engines: Engines) -> Iterator[Neo4j]:
    n = Neo4j(tmp_path / "neo4j")
    n.start()
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
async def node(tmp_path: Path, neo4j: Neo4j, engines: Engines) -> AsyncIterator[Node]:
    await neo4j.ready()
    mongo = mongo_url(engines)
    settings = Settings(
        http_port=0,
        udp_port=0,
        ws_port=0,
        data_dir=tmp_path / "data",
        flush_interval=0.05,
        mongo_url=mongo,
        neo4j_url=neo4j.url,
        store_timeout=1.0,
    )
    n = Node(settings)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()
        await drop_database(mongo)


async def test_neo4j_away_and_back(node: Node, neo4j: Neo4j, device_socket: Any) -> None:
    base = f"http://127.0.0.1:{node.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        assert (await http.put("/v1/scene/g", json={"scenes": [{"name": "g"}]})).status_code == 200
        r = await http.post("/v1/scene/g/object", json={"objects": [{"name": "o"}]})
        key = r.json()["objects"][0]["key"]
        dev = {"key": "dev", "hostname": "127.0.0.1", "port": device_socket.getsockname()[1]}
        r = await http.post(
            "/v1/scene/g/register", json={"scenes": [{"key": "g", "devices": [dev]}]}
        )
        assert r.status_code == 200, r.text
        loop = asyncio.get_running_loop()

        neo4j.stop()
        t0 = loop.time()
        r = await http.put("/v1/scene/g2", json={"scenes": [{"name": "while away"}]})
        assert r.status_code == 503 and r.json()["err_code"] == 101, r.text
        assert loop.time() - t0 < 5
        # streaming to the registered device goes on from memory
        moved = [*T[:3], 6.0, *T[4:]]
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        event = {"msg_type": 1, "key": key, "scene": "g", "transform": moved}
        sender.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
        got = await loop.run_in_executor(None, device_socket.recv, 65536)
        assert orjson.loads(got)["transform"] == moved
        sender.close()

        neo4j.start()
        await neo4j.ready()
        for _ in range(150):  # reconnects by itself
            r = await http.get("/v1/scene/g")
            if r.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert r.status_code == 200, r.text
        assert (
            await http.put("/v1/scene/g2", json={"scenes": [{"name": "back"}]})
        ).status_code == 200
