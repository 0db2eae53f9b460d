"""Real MongoDB-wire and Neo4j servers for the tests, started once per test session, and a
real Consul agent per test.

Started by ``scripts/engines.sh`` (installed into ``~/.cache/aesel/engines`` the first time),
unless ``AESEL_MONGO_URL`` and ``AESEL_NEO4J_URL`` already point at running servers. The Consul
agent is that script's build, started here on ports kept across a restart (:class:`ConsulAgent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINES_SH = ROOT / "scripts" / "engines.sh"
# Running servers to use, taken out of the environment as the tests load: they are also aesel's
# own settings, and every node a test starts would otherwise read them and run on these
# servers, the "embedded" ones too.
GIVEN = {k: os.environ.pop(k, "") for k in ("AESEL_MONGO_URL", "AESEL_NEO4J_URL")}


class Engines:
    """The Mongo and Neo4j URLs of servers started for this session (or given)."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.run: Path | None = None

    def start(self) -> None:
        given = GIVEN
        if all(given.values()):
            self.urls = given
            return
        self.run = Path(tempfile.mkdtemp(prefix="aesel-engines-"))
        env = {**os.environ, "ENGINES_RUN": str(self.run)}
        out = subprocess.run(
            [str(ENGINES_SH), "start", "neo4j", "mongo"],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"engines.sh start failed:\n{out.stderr[-3000:]}")
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                self.urls[name] = value
        with ThreadPoolExecutor(1) as pool:  # its own loop: a test's may be running here
            pool.submit(asyncio.run, warm_neo4j(self.urls["AESEL_NEO4J_URL"])).result()

    def stop(self) -> None:
        if self.run is not None:
            env = {**os.environ, "ENGINES_RUN": str(self.run)}
            subprocess.run([str(ENGINES_SH), "stop"], env=env, timeout=60, check=False)
            self.run = None


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    if os.environ.get("AESEL_ENGINES") == "off":
        pytest.skip("AESEL_ENGINES=off: no MongoDB/Neo4j servers")
    e = Engines()
    try:
        e.start()
        yield e
    finally:
        e.stop()


async def warm_neo4j(url: str) -> None:
    """The schema and a first run of the store's common queries on a fresh Neo4j, with a long
    timeout: a cold JVM on busy cores takes seconds over its first queries, which would fail
    the first test to start a node at the usual store timeout."""
    from aesel.model.entities import Device, Registration, Scene
    from aesel.storage.base import SceneFilter
    from aesel.storage.neo4j import Neo4jSceneStore

    s = Neo4jSceneStore(url, timeout=120)
    await s.open()
    try:
        await s.insert_scene(Scene(key="warm-up", name="warm-up"))
        await s.put_scene(Scene(key="warm-up", name="warm-up"))
        await s.put_device(Device(key="warm-up"))
        await s.put_registration(Registration(scene="warm-up", device="warm-up"))
        await s.registrations_with_devices(scene="warm-up")
        await s.query_scenes(SceneFilter(name="warm-up"), 0, 10)
        await s.get_scene("warm-up")
        await s.path_transform("warm-up", "nowhere")
        await s.clear()
    finally:
        await s.close()


def mongo_url(engines: Engines) -> str:
    """A fresh database on the session's Mongo server."""
    return engines.urls["AESEL_MONGO_URL"].rstrip("/") + f"/t{secrets.token_hex(6)}"


async def drop_database(url: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.drop_database(url.rsplit("/", 1)[1])
    finally:
        await client.close()


async def clear_neo4j(url: str) -> None:
    """Delete every node of the (one, shared) Neo4j database."""
    from neo4j import AsyncGraphDatabase

    async with AsyncGraphDatabase.driver(url) as driver:
        await driver.execute_query("MATCH (n) DETACH DELETE n")


#: where scripts/engines.sh keeps what it installed (outside the clone)
ENGINES_CACHE = Path(
    os.environ.get("ENGINES_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aesel" / "engines"
)


CONSUL_BIN = ENGINES_CACHE / "consul-v1.14.8" / "consul"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ConsulAgent:
    """A real Consul agent (``agent -dev``, built once by ``scripts/engines.sh fetch consul``) on
    loopback ports chosen once, so that it can be killed and started again at the same address,
    as an agent that comes back. A ``-dev`` agent keeps nothing: it comes back empty."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.http, self.server, self.serf = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def start(self) -> None:
        if not CONSUL_BIN.exists():
            subprocess.run([str(ENGINES_SH), "fetch", "consul"], check=True, timeout=900)
        cmd = [str(CONSUL_BIN), "agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1",
               f"-http-port={self.http}", f"-server-port={self.server}",
               f"-serf-lan-port={self.serf}", "-serf-wan-port=-1", "-dns-port=-1",
               "-grpc-port=-1", "-grpc-tls-port=-1", "-log-level=warn"]  # fmt: skip
        with open(self.run / "consul.log", "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.run / "consul.log").read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/status/leader", timeout=1).json():
                    return
            time.sleep(0.05)
        raise RuntimeError("consul elected no leader in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def kv_put(self, key: str, value: str) -> None:
        httpx.put(f"{self.url}/v1/kv/{key}", content=value.encode(), timeout=5).raise_for_status()

    def service(self, service_id: str) -> dict[str, Any] | None:
        """The agent's registration of ``service_id``, or None."""
        r = httpx.get(f"{self.url}/v1/agent/service/{service_id}", timeout=5)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc

    def passing(self) -> list[dict[str, Any]]:
        """The ``aesel`` instances whose check passes, as ``/v1/health/service`` answers them."""
        r = httpx.get(f"{self.url}/v1/health/service/aesel", params={"passing": "true"}, timeout=5)
        r.raise_for_status()
        found: list[dict[str, Any]] = r.json()
        return found


@pytest.fixture
def consul(tmp_path: Path) -> Iterator[ConsulAgent]:
    """A fresh Consul agent for one test (it starts in well under a second)."""
    if os.environ.get("AESEL_ENGINES") == "off":
        pytest.skip("AESEL_ENGINES=off: no Consul agent")
    agent = ConsulAgent(tmp_path)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()
