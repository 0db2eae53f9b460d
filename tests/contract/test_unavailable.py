"""Every backend fails fast and alike when its server is gone or silent: the call raises
``BackendUnavailable`` within a bounded time, never hangs and never leaks a driver error."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from aesel.errors import BackendUnavailable
from aesel.model.entities import Object3D
from tests.engines import ENGINES_SH

pytestmark = pytest.mark.integration

TIMEOUT = 1.0
BOUND = 4 * TIMEOUT  # a timed-out call may take a couple of timeouts (connect, then select)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that accepts connections and never answers: a hung backend."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for w in held:
        w.close()
    server.close()


def mongo(port: int) -> Any:
    from aesel.storage.mongo import MongoObjectStore

    return MongoObjectStore(f"mongodb://127.0.0.1:{port}/x", timeout=TIMEOUT)


def neo4j(port: int) -> Any:
    from aesel.storage.neo4j import Neo4jSceneStore

    return Neo4jSceneStore(f"bolt://127.0.0.1:{port}", timeout=TIMEOUT)


async def fails_fast(call: Callable[[], Awaitable[Any]]) -> None:
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await call()
    assert time.monotonic() - t0 < BOUND


@pytest.mark.parametrize("make", [mongo, neo4j])
async def test_open_against_no_server(make: Callable[[int], Any]) -> None:
    await fails_fast(make(closed_port()).open)


@pytest.mark.parametrize("make", [mongo, neo4j])
async def test_open_against_a_silent_server(make: Callable[[int], Any], silent_port: int) -> None:
    await fails_fast(make(silent_port).open)


@pytest.fixture
def own_mongo() -> Any:
    """A MongoDB-wire server of this test's own, to stop under a running store."""
    run = Path(tempfile.mkdtemp(prefix="aesel-mongo-"))
    env = {**os.environ, "ENGINES_RUN": str(run)}
    out = subprocess.run([str(ENGINES_SH), "start", "mongo"], env=env, capture_output=True,
                         text=True, timeout=300, check=True)  # fmt: skip
    url = out.stdout.strip().splitlines()[-1].partition("=")[2]

    def stop() -> None:
        subprocess.run([str(ENGINES_SH), "stop"], env=env, timeout=60, check=False)

    yield url, stop
    stop()


async def test_a_stopped_server_under_an_open_store(own_mongo: Any) -> None:
    from aesel.storage.mongo import MongoObjectStore

    url, stop = own_mongo
    store = MongoObjectStore(url + "x", timeout=TIMEOUT)
    await store.open()
    try:
        await store.put_objects([Object3D(key="k1")])
        await store.ping()
        stop()
        await fails_fast(lambda: store.get_object("k1"))
        await fails_fast(lambda: store.put_objects([Object3D(key="k2")]))
        await fails_fast(store.ping)
    finally:
        await store.close()
