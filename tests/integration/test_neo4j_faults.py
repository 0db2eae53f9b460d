"""Neo4j stopped and restarted under a running node: scene REST answers 503 with an Aesel body
within the store timeout while it is away (never a 500 or a hang), streaming to registered
devices goes on from memory, and the node reconnects by itself when Neo4j is back.

This test runs its own Neo4j (the embedded server ``scripts/engines.sh`` builds) on a data
directory, so it can stop it and start it again on the same port without touching the session's
shared server. MongoDB is the session's. A second JVM on two busy cores is slow to boot and to
answer its first queries, so the node starts with a generous store timeout and the test
shortens it once the schema exists; readiness is the server's own "ready" line, not a probing
driver (a driver cancelled while connecting leaks its socket).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import subprocess
import warnings
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
TIMEOUT = 2.0  # the store timeout while Neo4j is away: a 503 must come within it


class Neo4j:
    """One Neo4j JVM on a fixed port and data directory, restartable."""

    def __init__(self, root: Path) -> None:
        self.data, self.log = root / "neo4j-data", root / "neo4j.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        home = next(ENGINES_CACHE.glob("neo4j-*"))
        with self.log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                ["java", "-Xms128m", "-Xmx512m", "-cp", f"{home}/classes:{home}/lib/*",
                 "Neo4jBolt", str(self.data), str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    async def ready(self, within: float = 180.0) -> None:
        """Until the server prints its ready line (the default database is available)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while b"neo4j bolt ready" not in self.log.read_bytes():
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
            assert loop.time() < deadline, f"neo4j not ready in {within:g}s"
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture
def neo4j(tmp_path: Path, engines: Engines) -> Iterator[Neo4j]:
    n = Neo4j(tmp_path)
    n.start()
    try:
        yield n
    finally:
        n.stop()
        # a driver call cut short by the store timeout may leave its socket to the collector:
        # collect it here, not in whatever test runs next
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


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
        store_timeout=60.0,  # the first queries of a fresh JVM under load
    )
    n = Node(settings)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()
        await drop_database(mongo)


async def until_ok(http: httpx.AsyncClient, url: str, within: float = 90.0) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await http.get(url)
        if r.status_code == 200 or loop.time() > deadline:
            return r
        await asyncio.sleep(0.2)


async def test_neo4j_away_and_back(node: Node, neo4j: Neo4j, device_socket: Any) -> None:
    base = f"http://127.0.0.1:{node.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        assert (await http.put("/v1/scene/g", json={"scenes": [{"name": "g"}]})).status_code == 200
        r = await http.post("/v1/scene/g/object", json={"objects": [{"name": "o"}]})
        key = r.json()["objects"][0]["key"]
        dev = {"key": "dev", "hostname": "127.0.0.1", "port": device_socket.getsockname()[1]}
        r = await http.post(
            "/v1/scene/g/register", json={"scenes": [{"key": "g", "devices": [dev]}]}
        )
        assert r.status_code == 200, r.text
        node.backends.scenes.timeout = TIMEOUT  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()

        neo4j.stop()
        for method, url, body in (
            ("PUT", "/v1/scene/g2", {"scenes": [{"name": "while away"}]}),
            ("GET", "/v1/scene/g", None),
            ("POST", "/v1/scene/query", {"scenes": [{"name": "g"}]}),
        ):
            t0 = loop.time()
            r = await http.request(method, url, json=body)
            assert r.status_code == 503, (url, r.text)
            assert r.json()["err_code"] == 101 and r.json()["err_msg"], r.text
            assert loop.time() - t0 < TIMEOUT + 3, url  # bounded by the store timeout
        # streaming to the registered device goes on from memory
        moved = [*T[:3], 6.0, *T[4:]]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            event = {"msg_type": 1, "key": key, "scene": "g", "transform": moved}
            sender.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
            got = await loop.run_in_executor(None, device_socket.recv, 65536)
        assert orjson.loads(got)["transform"] == moved
        # MongoDB's side of the API is not affected
        r = await http.get(f"/v1/scene/g/object/{key}")
        assert r.status_code == 200 and r.json()["objects"][0]["transform"] == moved

        neo4j.start()
        await neo4j.ready()
        node.backends.scenes.timeout = 30.0  # type: ignore[attr-defined]  # a JVM warming up
        r = await until_ok(http, "/v1/scene/g")  # reconnected by itself
        assert r.status_code == 200, r.text
        r = await http.put("/v1/scene/g2", json={"scenes": [{"name": "back"}]})
        assert r.status_code == 200, r.text  # not 409: the create answered 503 never happened
        # the registration made before the outage is still there, and streaming goes on
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            event = {"msg_type": 1, "key": key, "scene": "g", "transform": T}
            sender.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))
            got = await loop.run_in_executor(None, device_socket.recv, 65536)
        assert orjson.loads(got)["transform"] == T
