"""Stream failover across nodes: two real ``aesel serve`` processes, and a stand-in for
``GET /v1/cluster`` that lists both (the real endpoint of a single node lists only itself, and
two single nodes do not know each other; the stand-in answers exactly the envelope the real
endpoint does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aesel_client import AsyncClient, Stream, UdpDevice
from aesel_client.cluster import Node, parse_cluster
from tests.conftest import Server

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def record(node_id: str, s: Server) -> dict[str, object]:
    return {"id": node_id, "host": "127.0.0.1", "http_port": s.http_port, "udp_port": s.udp_port,
            "ws_port": s.ws_port, "live": True, "seen_ago": 0.0, "sources": ["kafka"],
            "devices": 0}  # fmt: skip


class ClusterStandIn:
    """A stand-in for ``GET /v1/cluster`` (test double): answers ``records`` as the envelope."""

    def __init__(self, records: list[dict[str, object]]) -> None:
        self.records = records
        self.asked = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        self.asked += 1
        if request.startswith(b"GET /v1/cluster "):
            doc = {"err_code": 100, "num_records": len(self.records),
                   "self": self.records[0]["id"], "records": self.records}  # fmt: skip
            body = json.dumps(doc).encode()
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        else:
            body, head = b"{}", b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
        writer.write(head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    a, b = Server(tmp_path / "a"), Server(tmp_path / "b")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def stand_in(two_nodes: tuple[Server, Server]) -> AsyncIterator[tuple[ClusterStandIn, str]]:
    a, b = two_nodes
    fake = ClusterStandIn([record("node-a", a), record("node-b", b)])
    url = await fake.start()
    yield fake, url
    await fake.stop()


async def test_stream_fails_over_to_the_other_node_and_back(
    two_nodes: tuple[Server, Server], stand_in: tuple[ClusterStandIn, str]
) -> None:
    a, b = two_nodes
    fake, cluster_url = stand_in
    cubes = {}
    for s, x in ((a, 1), (b, 5)):  # two single nodes: each has its own copy of scene s
        async with AsyncClient(s.url) as api:
            await api.create_scene("s", key="s")
            cubes[s.ws_port] = (await api.create_object("s", "cube", transform=at(x)))["key"]
    async with Stream(a.ws_url, cluster=cluster_url, min_backoff=0.05, max_backoff=0.5) as st:
        mirror = await st.subscribe("s")
        assert [n.id for n in st.nodes] == ["node-a", "node-b"] and fake.asked >= 1
        assert set(mirror.objects) == {cubes[a.ws_port]}
        epoch_a = mirror.epoch

        await asyncio.to_thread(a.stop)  # node a goes away: the stream moves to b at once
        await st.wait_for(lambda: st.connects == 2 and mirror.synced, 15)
        assert st.current_url == b.ws_url and st.failovers == 1 and st.state == "open"
        # a new epoch means a snapshot replaced the mirror: b's state, nothing from a kept
        assert set(mirror.objects) == {cubes[b.ws_port]}
        assert mirror.objects[cubes[b.ws_port]].transform[3] == 5.0
        assert mirror.epoch != epoch_a and mirror.snapshots == 2 and st.resyncs == 0
        async with await UdpDevice.open("127.0.0.1", b.udp_port) as udp:
            udp.send_transform("s", cubes[b.ws_port], at(6))
            await st.wait_for(lambda: mirror.objects[cubes[b.ws_port]].transform[3] == 6.0)

        await asyncio.to_thread(a.start)  # a back, b gone: round the list to a again
        await asyncio.to_thread(b.stop)
        await st.wait_for(lambda: st.connects == 3 and mirror.synced, 15)
        assert st.current_url == a.ws_url and st.failovers == 2
        assert set(mirror.objects) == {cubes[a.ws_port]}


async def test_without_a_cluster_the_stream_stays_on_its_node(server: Server) -> None:
    async with Stream(server.ws_url, min_backoff=0.05) as st:
        await st.wait_for(lambda: st.state == "open")
        assert st.nodes == [] and st._after(server.ws_url) == server.ws_url


def test_parse_cluster_and_node_urls() -> None:
    nodes = parse_cluster({"err_code": 100, "num_records": 2, "self": "a", "records": [
        {"id": "a", "host": "10.0.0.5", "http_port": 8080, "udp_port": 8762, "ws_port": 8081,
         "live": True, "seen_ago": 0.0, "sources": ["self"], "devices": 2},
        {"id": "b", "host": "::1", "http_port": 9080, "udp_port": 9762, "ws_port": 9081,
         "live": False, "seen_ago": None, "sources": ["consul"], "devices": None},
    ]})  # fmt: skip
    assert nodes[0] == Node("a", "10.0.0.5", 8080, 8762, 8081, True, 0.0, ("self",), 2)
    assert nodes[0].ws_url() == "ws://10.0.0.5:8081/"
    assert nodes[1].http_url(secure=True) == "https://[::1]:9080" and not nodes[1].live
    with pytest.raises(ValueError, match="malformed"):
        parse_cluster({"records": [{"id": "a"}]})


def test_failover_order_skips_nodes_that_are_not_live() -> None:
    st = Stream("ws://a:1/", cluster="http://a:0")
    st._set_nodes(parse_cluster({"records": [
        {"id": n, "host": n, "http_port": 0, "udp_port": 0, "ws_port": 1, "live": n != "c"}
        for n in ("a", "b", "c", "d")
    ]}), secure=False)  # fmt: skip
    assert st._after("ws://a:1/") == "ws://b:1/"
    assert st._after("ws://b:1/") == "ws://d:1/"  # c is not live
    assert st._after("ws://d:1/") == "ws://a:1/"
    assert st._after("ws://elsewhere:1/") == "ws://a:1/"
