"""Stream failover: the parts that need no cluster (failover between real cluster nodes found by
``GET /v1/cluster`` is tests/integration/test_sdk_failover.py, on real Kafka)."""

from __future__ import annotations

import pytest

from aesel_client import Stream
from aesel_client.cluster import Node, parse_cluster
from tests.conftest import Server

pytestmark = pytest.mark.integration


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
