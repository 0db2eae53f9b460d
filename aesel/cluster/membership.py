"""Who is in the cluster, as every part of a node sees it.

A node knows the other nodes from the cluster's own membership (heartbeats on Kafka) and,
where a deployment runs Consul, from Consul's catalog. ``GET /v1/cluster`` answers from a
:class:`ClusterView`; a single node answers with itself alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node's identity and the endpoints a client connects to."""

    id: str
    host: str  # the address clients use (``--advertise-host``, else ``--host``)
    http_port: int
    udp_port: int
    ws_port: int
    started: float = 0.0  # wall-clock seconds when the node started


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node as this node sees it right now."""

    info: NodeInfo
    live: bool  # seen within the membership lease (or passing its Consul health check)
    seen_ago: float | None  # seconds since its last heartbeat; None when never seen on Kafka
    sources: tuple[str, ...] = field(default=("self",))  # "self", "kafka", "consul"
    devices: int | None = None  # UDP devices it sends to, where known


class ClusterView(Protocol):
    """What ``GET /v1/cluster`` needs."""

    @property
    def self_id(self) -> str: ...

    async def nodes(self) -> list[NodeView]:
        """Every node known, this node first; never raises (a lost source is left out)."""
        ...


class SingleNode:
    """The view of a node that runs alone (no Kafka, no Consul)."""

    def __init__(self, info: NodeInfo) -> None:
        self.info = info

    @property
    def self_id(self) -> str:
        return self.info.id

    async def nodes(self) -> list[NodeView]:
        return [NodeView(self.info, live=True, seen_ago=0.0, sources=("self",))]
