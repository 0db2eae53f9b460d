"""Shared fixtures.

- ``node``: a real aesel node in the test's event loop, on free ports, with its own data dir.
- ``http``: an httpx client for that node's HTTP API.
- ``device``: a real UDP socket registered as a device, with ``recv()``.
- ``aesel_process``: the real ``aesel serve`` command in a subprocess (restart, kill -9).
Tests never sleep to wait for work: they wait on a socket with a deadline or poll a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aesel.app import Node
from aesel.config import Settings
from tests.engines import clear_neo4j, consul, drop_database, engines, mongo_url  # noqa: F401


@pytest.fixture
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Fails the test on any exception an event-loop callback did not handle."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_event_loop_policy().get_event_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield errors
    loop.set_exception_handler(previous)
    assert not errors, f"unhandled loop errors: {errors}"


#: integration modules that also run with aesel on MongoDB + Neo4j (real servers)
ON_CLUSTER_STORES = {
    "test_objects",
    "test_scenes",
    "test_properties",
    "test_registration",
    "test_recordings",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "node" in metafunc.fixturenames and module in ON_CLUSTER_STORES:
        metafunc.parametrize(
            "stores",
            ["embedded", pytest.param("mongo+neo4j", marks=pytest.mark.integration)],
            indirect=True,
        )


@pytest.fixture
def stores(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings that put a node on the embedded store, or on fresh MongoDB + Neo4j stores."""
    if getattr(request, "param", "embedded") == "embedded":
        return {}
    servers = request.getfixturevalue("engines")
    return {"mongo_url": mongo_url(servers), "neo4j_url": servers.urls["AESEL_NEO4J_URL"]}


@pytest.fixture
async def node(tmp_path: Path, stores: dict[str, Any]) -> AsyncIterator[Node]:
    settings = Settings(
        http_port=0,
        udp_port=0,
        ws_port=0,
        data_dir=tmp_path / "data",
        flush_interval=0.05,
        **stores,
    )
    if stores:
        await clear_neo4j(stores["neo4j_url"])
    n = Node(settings)
    await n.start()
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    try:
        yield n
    finally:
        await n.stop()
        loop.set_exception_handler(None)
        if stores:
            await drop_database(stores["mongo_url"])
    assert not errors, f"unhandled loop errors: {errors}"


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}", timeout=10) as c:
        yield c


class UdpPeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


@dataclass
class Device:
    """A UDP socket standing in for an Aesel device."""

    transport: asyncio.DatagramTransport
    peer: UdpPeer
    port: int
    server: tuple[str, int]
    key: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def send(self, msg: dict[str, Any] | bytes) -> None:
        data = msg if isinstance(msg, bytes) else orjson.dumps(msg)
        self.transport.sendto(data, self.server)

    async def recv(self, within: float = 2.0) -> dict[str, Any]:
        data = await asyncio.wait_for(self.peer.queue.get(), within)
        doc: dict[str, Any] = orjson.loads(data)
        self.received.append(doc)
        return doc

    async def assert_silent(self, within: float = 0.3) -> None:
        """Nothing arrives within ``within`` seconds (used only to prove an absence)."""
        with contextlib.suppress(TimeoutError):
            data = await asyncio.wait_for(self.peer.queue.get(), within)
            raise AssertionError(f"unexpected datagram: {data!r}")


@pytest.fixture
async def make_device(node: Node) -> AsyncIterator[Callable[[], Any]]:
    made: list[Device] = []

    async def make() -> Device:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        d = Device(transport, peer, port, ("127.0.0.1", node.udp_port))
        made.append(d)
        return d

    yield make
    for d in made:
        d.transport.close()


async def register(
    http: httpx.AsyncClient, scene: str, device: Device, key: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "scenes": [
            {
                "key": scene,
                "devices": [{"key": key, "hostname": "127.0.0.1", "port": device.port, **extra}],
            }
        ]
    }
    r = await http.post(f"/v1/scene/{scene}/register", json=body)
    assert r.status_code == 200, r.text
    device.key = key
    doc: dict[str, Any] = r.json()
    return doc


def wait_until(cond: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def stall(seconds: float) -> None:
    """Holds the running event loop (a node in the test's own loop shares it) for ``seconds``:
    a callback that does not return, as a node short of CPU has."""
    time.sleep(seconds)


def burst(device: socket.socket, until: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """What ``device`` receives of a burst of updates sent back to back, up to and including the
    first event ``until`` accepts. A node that falls behind sheds superseded transform updates
    (``stale``, :mod:`aesel.services.ingest`), so a burst of one object's updates may arrive
    thinned; each arrives at most once, in order, and the last one always does."""
    got = []
    while True:
        event: dict[str, Any] = orjson.loads(device.recv(65536))
        got.append(event)
        if until(event):
            return got


@dataclass
class AeselProcess:
    proc: subprocess.Popen[str]
    http_port: int
    udp_port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


READY = re.compile(r"aesel ready http=[\d.]+:(\d+) udp=[\d.]+:(\d+)")


def start_aesel(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> AeselProcess:
    cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
           "--ws-port", "0", "--data-dir", str(data_dir), *args]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = READY.search(line)
    if not m:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"aesel did not start: {line!r} {err}")
    return AeselProcess(proc, int(m.group(1)), int(m.group(2)), data_dir)


def stop_aesel(p: AeselProcess, sig: int = signal.SIGTERM) -> str:
    if p.proc.poll() is None:
        p.proc.send_signal(sig)
    _, err = p.proc.communicate(timeout=20)
    return err


@pytest.fixture
def aesel_process(tmp_path: Path) -> Iterator[Callable[..., AeselProcess]]:
    started: list[AeselProcess] = []

    def start(
        *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> AeselProcess:
        p = start_aesel(data_dir or tmp_path / "data", *args, env=env)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate(timeout=10)


@pytest.fixture
def device_socket() -> Iterator[socket.socket]:
    """A blocking UDP socket on a free port, standing in for a device (3 s receive timeout)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        yield s
