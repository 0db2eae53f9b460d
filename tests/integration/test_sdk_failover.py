"""The Python SDK (``clients/python``) on a real cluster: two ``aesel serve`` nodes on real
Kafka, MongoDB-wire and Neo4j servers. A ``Stream`` finds the nodes by ``GET /v1/cluster``;
when its node is killed it connects to the other one, whose snapshot (a new epoch) resyncs the
mirror: what changed while it was disconnected is there, nothing is lost."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aesel_client import AsyncClient, Stream

from tests.cluster import ClusterNode, Kafka, cluster_args, kafka, new_prefix
from tests.engines import Engines, clear_neo4j, drop_database, engines, mongo_url

__all__ = ["engines", "kafka"]  # fixtures

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


@pytest.fixture
def two_nodes(engines: Engines, kafka: Kafka, tmp_path: Path) -> Iterator[list[ClusterNode]]:
    mongo, neo4j = mongo_url(engines), engines.urls["AESEL_NEO4J_URL"]
    asyncio.run(clear_neo4j(neo4j))
    args = cluster_args(kafka, mongo, neo4j, new_prefix())
    nodes: list[ClusterNode] = []
    try:
        for name in ("node1", "node2"):  # node1 first: it creates the schema
            nodes.append(ClusterNode(name, args, tmp_path / name).start())
        yield nodes
    finally:
        for n in nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.kill()
        asyncio.run(drop_database(mongo))


def send(node: ClusterNode, key: str, x: float) -> None:
    event = {"msg_type": 1, "key": key, "scene": "s", "transform": at(x)}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(orjson.dumps(event), ("127.0.0.1", node.udp_port))


async def test_stream_fails_over_to_a_node_of_v1_cluster_and_loses_nothing(
    two_nodes: list[ClusterNode],
) -> None:
    node1, node2 = two_nodes
    async with AsyncClient(node1.url) as api:
        await api.create_scene("s", key="s")
        cube = (await api.create_object("s", "cube", transform=at(1)))["key"]
        for _ in range(100):  # membership: node1 sees node2 once its heartbeats arrive
            if [n.id for n in await api.cluster() if n.live] == ["node1", "node2"]:
                break
            await asyncio.sleep(0.1)
        nodes = await api.cluster()
        assert [(n.id, n.ws_port) for n in nodes] == [("node1", node1.ws_port),
                                                     ("node2", node2.ws_port)]  # fmt: skip

    async with Stream(node1.ws_url, cluster=node1.url, min_backoff=1.0, max_backoff=2.0) as st:
        mirror = await st.subscribe("s")
        assert [n.id for n in st.nodes] == ["node1", "node2"]
        send(node2, cube, 2)  # a change on the other node reaches this stream
        await st.wait_for(lambda: mirror.objects[cube].transform[3] == 2.0, 15)
        epoch = mirror.epoch

        await asyncio.to_thread(node1.kill)  # kill -9
        await st.wait_for(lambda: st.state == "reconnecting", 15)
        send(node2, cube, 3)  # while the stream is away (it waits 0.5 to 1 s to reconnect)
        async with AsyncClient(node2.url) as api2:
            for _ in range(100):
                if (await api2.get_object("s", cube))["transform"] == at(3):
                    break
                await asyncio.sleep(0.02)
        assert st.state == "reconnecting", "the change must land while the stream is away"
        await st.wait_for(lambda: st.connects == 2 and mirror.synced, 30)
        assert st.current_url == node2.ws_url and st.node and st.failovers == 1
        assert mirror.epoch != epoch  # node2's own epoch: the snapshot replaced the mirror
        assert mirror.objects[cube].transform[3] == 3.0  # the change made while away
        assert st.resyncs == 0 and mirror.snapshots == 2
        send(node2, cube, 4)
        await st.wait_for(lambda: mirror.objects[cube].transform[3] == 4.0, 15)
