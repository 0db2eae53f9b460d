"""``GET /v1/cluster``: the nodes of the cluster, so a client can find where to connect.

Answered from ``app.state.cluster`` (a :class:`~aesel.cluster.membership.ClusterView`: the
cluster's own membership, merged with Consul's catalog of healthy ``aesel`` instances when the
node runs with ``--consul``), in the Aesel list envelope, this node first. Under ``/v1``, so with
``--auth`` it needs a token (any user's).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from aesel.cluster.membership import ClusterView, NodeView
from aesel.errors import BackendUnavailable
from aesel.model.codes import ErrCode
from aesel.rest.responses import JSON

router = APIRouter(prefix="/v1", tags=["cluster"])


class ClusterNode(BaseModel):
    id: str
    host: str
    http_port: int
    udp_port: int
    ws_port: int
    live: bool
    seen_ago: float | None  # seconds since its last heartbeat; null when never seen on Kafka
    sources: list[str]  # "self", "kafka", "consul"
    devices: int | None  # UDP devices it sends to, where known


class ClusterList(BaseModel):
    err_code: int
    num_records: int
    self: str
    records: list[ClusterNode]


def record(n: NodeView) -> dict[str, Any]:
    i = n.info
    seen = None if n.seen_ago is None else round(n.seen_ago, 3)
    return {
        "id": i.id, "host": i.host, "http_port": i.http_port, "udp_port": i.udp_port,
        "ws_port": i.ws_port, "live": n.live, "seen_ago": seen, "sources": list(n.sources),
        "devices": n.devices,
    }  # fmt: skip


@router.get(
    "/cluster",
    summary="The nodes of the cluster and their HTTP, UDP and WebSocket endpoints, this one first",
    responses={200: {"model": ClusterList}},
)
async def cluster(request: Request) -> JSON:
    view: ClusterView | None = getattr(request.app.state, "cluster", None)
    if view is None:
        raise BackendUnavailable("this node has no cluster view yet")
    nodes = await view.nodes()
    return JSON(
        {
            "err_code": int(ErrCode.NO_ERROR),
            "num_records": len(nodes),
            "self": view.self_id,
            "records": [record(n) for n in nodes],
        }
    )
