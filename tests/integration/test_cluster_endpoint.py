"""``GET /v1/cluster``: a single node lists itself; with Consul, the healthy instances of the
catalog are merged in, and a node only Consul knows is listed too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from aesel.app import Node
from tests.catalog_helpers import ADMIN, login, running
from tests.engines import ConsulAgent


async def test_a_single_node_lists_itself(node: Node, http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/cluster")  # no token needed without --auth
    assert r.status_code == 200, r.text
    doc = r.json()
    me = node.node_id
    assert doc == {
        "err_code": 100,
        "num_records": 1,
        "self": me,
        "records": [
            {"id": me, "host": "127.0.0.1", "http_port": node.http_port,
             "udp_port": node.udp_port, "ws_port": node.ws_port, "live": True,
             "seen_ago": 0.0, "sources": ["self"], "devices": None},
        ],
    }  # fmt: skip
    assert (await http.get("/v1/cluster/")).json()["self"] == me
    doc = (await http.get("/openapi.json")).json()
    op = doc["paths"]["/v1/cluster"]["get"]
    assert op["summary"] and "ClusterList" in str(op["responses"]["200"])
    assert set(doc["components"]["schemas"]["ClusterList"]["properties"]) == {
        "err_code", "num_records", "self", "records"}  # fmt: skip


async def test_with_auth_any_signed_in_user_may_list_the_nodes(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, node_id="solo", advertise_host="10.1.2.3") as (_, c):
        assert (await c.get("/v1/cluster")).status_code == 401
        admin = await login(c, *ADMIN)
        await c.post("/users/sign-up", json={"username": "bob", "password": "bob-pw"},
                     headers=admin)  # fmt: skip
        r = await c.get("/v1/cluster", headers=await login(c, "bob", "bob-pw"))
        assert r.status_code == 200 and r.json()["records"][0]["host"] == "10.1.2.3", r.text


async def nodes_seen(c: httpx.AsyncClient) -> dict[str, Any]:
    doc: dict[str, Any] = (await c.get("/v1/cluster")).json()
    return {n["id"]: n for n in doc["records"]}


async def eventually(c: httpx.AsyncClient, cond: Any, within: float = 15.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        seen = await nodes_seen(c)
        if cond(seen):
            return seen
        assert loop.time() < deadline, f"not met in time: {seen}"
        await asyncio.sleep(0.1)


@pytest.mark.integration
async def test_with_consul_the_catalog_is_merged_and_a_node_only_in_consul_appears(
    tmp_path: Path, consul: ConsulAgent
) -> None:
    async with running(tmp_path / "a", consul=consul.url, node_id="a") as (a, ca):
        async with running(tmp_path / "b", consul=consul.url, node_id="b") as (b, _):
            # both registered, and both health checks passed once (each in its own time)
            seen = await eventually(
                ca, lambda s: set(s) == {"a", "b"} and "consul" in s["a"]["sources"]
            )
            assert list(seen) == ["a", "b"]  # this node first
            assert seen["a"]["sources"] == ["self", "consul"]
            assert seen["b"] == {
                "id": "b", "host": "127.0.0.1", "http_port": b.http_port,
                "udp_port": b.udp_port, "ws_port": b.ws_port, "live": True, "seen_ago": None,
                "sources": ["consul"], "devices": None,
            }  # fmt: skip
        # b deregistered when it stopped
        await eventually(ca, lambda s: list(s) == ["a"])
        assert a.consul is not None and a.consul.up
