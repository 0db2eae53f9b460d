"""Consul without an agent: the service definition, reading the catalog back, the merge of
``GET /v1/cluster``, and the KV settings source's priority."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aesel.cluster.consul import ConsulRegistration, ConsulView, node_from_entry, registration
from aesel.cluster.membership import NodeInfo, NodeView, SingleNode
from aesel.config import Settings, kv_unknown

INFO = NodeInfo("n1", "10.0.0.5", 8080, 8762, 8081)


def test_the_service_definition_carries_the_three_endpoints_and_a_health_check() -> None:
    reg = registration(INFO)
    assert (reg["Name"], reg["ID"], reg["Address"], reg["Port"]) == ("aesel", "aesel-n1",
                                                                     "10.0.0.5", 8080)  # fmt: skip
    assert reg["Meta"] == {"node_id": "n1", "http_port": "8080", "udp_port": "8762",
                           "ws_port": "8081"}  # fmt: skip
    assert reg["TaggedAddresses"]["ws"] == {"Address": "10.0.0.5", "Port": 8081}
    assert reg["Check"]["HTTP"] == "http://10.0.0.5:8080/health"
    wildcard = registration(NodeInfo("n2", "0.0.0.0", 1, 2, 3))
    assert wildcard["Check"]["HTTP"] == "http://127.0.0.1:1/health"


def test_a_catalog_entry_reads_back_as_the_node() -> None:
    entry = {"Node": {"Address": "10.9.9.9"}, "Service": registration(INFO) | {"Service": "aesel"}}
    assert node_from_entry(entry) == INFO
    assert node_from_entry({"Service": {"Meta": {"http_port": "x"}}}) is None


class FakeConsul:
    """Stands in for :class:`ConsulRegistration` in the merge."""

    def __init__(self, up: bool, nodes: list[NodeInfo] | Exception) -> None:
        self.up = up
        self.nodes = nodes

    async def passing(self) -> list[NodeInfo]:
        if isinstance(self.nodes, Exception):
            raise self.nodes
        return self.nodes


def view(consul: Any, inner: Any = None) -> ConsulView:
    return ConsulView(inner or SingleNode(INFO), consul)


def test_the_catalog_is_merged_into_the_membership() -> None:
    other = NodeInfo("n2", "10.0.0.6", 8180, 8862, 8181)
    nodes = asyncio.run(view(FakeConsul(True, [other, INFO])).nodes())
    assert [(n.info.id, n.sources, n.live, n.seen_ago) for n in nodes] == [
        ("n1", ("self", "consul"), True, 0.0),
        ("n2", ("consul",), True, None),
    ]


class TwoNodes:
    self_id = "n1"

    async def nodes(self) -> list[NodeView]:
        n2 = NodeView(NodeInfo("n2", "h", 1, 2, 3), True, 0.4, ("kafka",), 3)
        return [NodeView(INFO, True, 0.0, ("self",), 1), n2]


def test_a_node_seen_on_kafka_and_in_consul_keeps_its_heartbeat_and_devices() -> None:
    nodes = asyncio.run(view(FakeConsul(True, [NodeInfo("n2", "h", 1, 2, 3)]), TwoNodes()).nodes())
    assert (nodes[1].sources, nodes[1].seen_ago, nodes[1].devices) == (("kafka", "consul"), 0.4, 3)


def test_consul_down_or_failing_leaves_the_membership_as_it_is() -> None:
    import httpx

    for consul in (FakeConsul(False, [NodeInfo("x", "h", 1, 2, 3)]),
                   FakeConsul(True, httpx.ConnectError("refused"))):  # fmt: skip
        nodes = asyncio.run(view(consul).nodes())
        assert [(n.info.id, n.sources) for n in nodes] == [("n1", ("self",))]


def test_kv_sits_below_the_environment_and_above_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AESEL_UDP_RATE", "5")
    s = Settings.load({"udp_rate": "7", "max_body": "9", "admin_password": "pw"}, max_body=11)
    assert (s.udp_rate, s.max_body) == (5, 11)
    assert Settings.load({"max_outbox": "3"}).max_outbox == 3
    assert Settings.load({"admin_password": "pw"}).admin_password.get_secret_value() == "pw"
    assert Settings().max_outbox == Settings.model_fields["max_outbox"].default


def test_kv_keys_that_name_no_setting_are_found() -> None:
    assert kv_unknown({"udp_rate": "1", "nope": "", "consul": "x", "consul_token": "y"}) == [
        "aesel/config/consul", "aesel/config/consul_token", "aesel/config/nope"]  # fmt: skip


def test_a_consul_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="expected http://host:port"):
        Settings(consul="127.0.0.1:8500")
    assert Settings(consul="http://127.0.0.1:8500/").consul == "http://127.0.0.1:8500"
    assert ConsulRegistration("http://h:1/", INFO).url == "http://h:1"
