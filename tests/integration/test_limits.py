"""Connection limits over real sockets: header and handshake timeouts, per-address and total caps
on the HTTP and WebSocket ports, with /health answering while the WebSocket port is full."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from aesel.app import Node
from aesel.net import connection_caps
from tests.catalog_helpers import running

pytestmark = pytest.mark.integration

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def refused(http: httpx.AsyncClient, port: str, reason: str) -> float:
    r = await http.get("/metrics")
    for line in r.text.splitlines():
        if line.startswith(f'aesel_connections_refused_total{{port="{port}",reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def wait_for_metric(
    http: httpx.AsyncClient, port: str, reason: str, n: float, within: float = 10.0
) -> None:
    deadline = time.monotonic() + within
    while (got := await refused(http, port, reason)) < n:
        assert time.monotonic() < deadline, f"{port}/{reason}: {got}, expected {n}"
        await asyncio.sleep(0.05)


async def closed_by_server(conn: Conn, within: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    reader, _ = conn
    data = b""
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(within):
            while chunk := await reader.read(4096):
                data += chunk
    return data


@contextlib.asynccontextmanager
async def opened(port: int, n: int, send: bytes = b"") -> AsyncIterator[list[Conn]]:
    conns: list[Conn] = []
    try:
        for _ in range(n):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if send:
                writer.write(send)
            conns.append((reader, writer))
        yield conns
    finally:
        for _, writer in conns:
            writer.close()


@contextlib.asynccontextmanager
async def websockets_to(node: Node, n: int) -> AsyncIterator[list[ClientConnection]]:
    clients: list[ClientConnection] = []
    try:
        for _ in range(n):
            clients.append(await connect(f"ws://127.0.0.1:{node.ws_port}/"))
        yield clients
    finally:
        for c in clients:
            await c.close()


async def test_half_sent_http_requests_are_closed_after_the_header_timeout(tmp_path: Path) -> None:
    # every test client is 127.0.0.1: let this one address hold all 200
    async with running(tmp_path, header_timeout=0.5, max_connections_per_address=500) as (
        node,
        http,
    ):
        half = b"GET /health HTTP/1.1\r\nHost: aesel\r\nX-Slow: "
        async with opened(node.http_port, 200, half) as conns:
            got = await asyncio.gather(*(closed_by_server(c) for c in conns))
        assert got == [b""] * 200  # closed, nothing answered
        await wait_for_metric(http, "http", "header_timeout", 200)
        # a complete request on a kept-alive connection is answered, again and again
        async with opened(node.http_port, 1) as [(reader, writer)]:
            for _ in range(2):
                writer.write(b"GET /health HTTP/1.1\r\nHost: aesel\r\n\r\n")
                status = await asyncio.wait_for(reader.readline(), 5)
                assert status.startswith(b"HTTP/1.1 200"), status
                while await reader.readline() != b"\r\n":
                    pass
                await reader.readexactly(len(b'{"status":"up"}'))
            # then headers that never finish after a response are cut too
            writer.write(b"GET /health HTTP/1.1\r\n")
            assert await closed_by_server((reader, writer)) == b""


async def test_the_header_timeout_does_not_cut_a_body_or_a_slow_answer(tmp_path: Path) -> None:
    async with running(tmp_path, header_timeout=0.3) as (node, _):
        body = b'{"username": "admin", "password": "wrong"}'
        head = b"POST /login HTTP/1.1\r\nHost: aesel\r\nContent-Type: application/json\r\n"
        async with opened(node.http_port, 1) as [(reader, writer)]:
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body))
            await asyncio.sleep(0.6)  # proving an absence: twice the timeout with headers done
            writer.write(body)  # the answer then takes an Argon2 hash, possibly > 0.3 s
            status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 401"), status


async def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    async with running(tmp_path, http_keepalive=1, header_timeout=30) as (node, _):
        async with opened(node.http_port, 1) as [conn]:
            conn[1].write(b"GET /health HTTP/1.1\r\nHost: aesel\r\n\r\n")
            answer = await closed_by_server(conn)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status":"up"}')


async def test_half_sent_websocket_handshakes_are_closed(tmp_path: Path) -> None:
    async with running(tmp_path, header_timeout=0.5, max_connections_per_address=500) as (
        node,
        http,
    ):
        half = b"GET / HTTP/1.1\r\nHost: aesel\r\nUpgrade: websocket\r\n"
        async with opened(node.ws_port, 50, half) as conns:
            got = await asyncio.gather(*(closed_by_server(c) for c in conns))
        assert got == [b""] * 50
        await wait_for_metric(http, "ws", "handshake_timeout", 50)
        async with websockets_to(node, 1) as [ws]:  # a real client still gets in
            assert '"type":"welcome"' in str(await asyncio.wait_for(ws.recv(), 5))


async def test_a_client_over_the_websocket_per_address_cap_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path, max_connections_per_address=3) as (node, http):
        async with websockets_to(node, 3):
            with pytest.raises((InvalidStatus, InvalidMessage)) as e:
                await connect(f"ws://127.0.0.1:{node.ws_port}/", open_timeout=5)
            if isinstance(e.value, InvalidStatus):
                assert e.value.response.status_code == 503
            # the HTTP API keeps answering while this address's WebSocket share is full
            assert (await http.get("/health")).status_code == 200
            await wait_for_metric(http, "ws", "per_address", 1)
        async with websockets_to(node, 3):  # the slots came back when the clients left
            pass


async def test_the_websocket_total_cap_leaves_the_http_api_answering(tmp_path: Path) -> None:
    caps = {"ws_max_connections": 4, "max_connections_per_address": 100}
    async with running(tmp_path, **caps) as (node, http), websockets_to(node, 4):
        async with opened(node.ws_port, 5) as extra:
            answers = await asyncio.gather(*(closed_by_server(c) for c in extra))
        assert all(a.startswith(b"HTTP/1.1 503") for a in answers), answers
        assert (await http.get("/health")).status_code == 200
        await wait_for_metric(http, "ws", "total", 5)


async def test_a_client_over_the_http_per_address_cap_gets_503(tmp_path: Path) -> None:
    async with running(tmp_path, max_connections_per_address=3) as (node, http):
        # the test's own client holds one connection to the HTTP port (keep-alive)
        assert (await http.get("/health")).status_code == 200
        async with opened(node.http_port, 2) as held:
            async with opened(node.http_port, 1) as [extra]:
                answer = await closed_by_server(extra)
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert (await http.get("/health")).status_code == 200  # its kept-alive connection
            held[0][1].close()
            await held[0][1].wait_closed()
            async with httpx.AsyncClient(base_url=str(http.base_url)) as other:
                deadline = time.monotonic() + 10  # the server sees the close, then admits
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await other.get("/health")).status_code == 200:
                            break
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
        await wait_for_metric(http, "http", "per_address", 1)


async def test_by_default_one_address_holds_a_quarter_of_a_port(tmp_path: Path) -> None:
    async with running(tmp_path, http_max_connections=8, ws_max_connections=8) as (node, _):
        assert (node.http_limits.per_address, node.ws_limits.per_address) == (2, 2)
        async with websockets_to(node, 2):
            with pytest.raises((InvalidStatus, InvalidMessage)):
                await connect(f"ws://127.0.0.1:{node.ws_port}/", open_timeout=5)


def test_connection_caps_stay_below_the_descriptor_limit() -> None:
    for nofile in (256, 1024, 20_000, 1 << 20):
        http, ws = connection_caps(nofile, 0, 0)
        assert 0 < http <= 1024 and ws > 0
        assert http + ws <= nofile - 128
    assert connection_caps(1024, 100, 0) == (100, 1024 - 128 - 100)
    http, ws = connection_caps(1024, 0, 5000)  # asked for more than fits: lowered
    assert http + ws <= 1024 - 128


def test_a_full_descriptor_table_is_detected() -> None:
    """In a child process whose soft RLIMIT_NOFILE is filled with open files."""
    code = (
        "import os, resource\n"
        "from aesel.net import descriptors_exhausted\n"
        "assert not descriptors_exhausted()\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "held = []\n"
        "try:\n"
        "    while True: held.append(os.open(os.devnull, os.O_RDONLY))\n"
        "except OSError: pass\n"
        "assert descriptors_exhausted()\n"
        "os.close(held.pop())\n"
        "assert not descriptors_exhausted()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
