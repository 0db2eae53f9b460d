"""The nodes of a cluster, as ``GET /v1/cluster`` lists them (no I/O).

The answer is the Aesel list envelope, this node first::

    {"err_code": 100, "num_records": 2, "self": "node-a",
     "records": [{"id": "node-a", "host": "10.0.0.5", "http_port": 8080, "udp_port": 8762,
                  "ws_port": 8081, "live": true, "seen_ago": 0.0, "sources": ["self"],
                  "devices": 3}, ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    """One node and the endpoints a client connects to."""

    id: str
    host: str
    http_port: int
    udp_port: int
    ws_port: int
    live: bool = True
    """Seen within the membership lease (or passing its health check)."""
    seen_ago: float | None = None
    sources: tuple[str, ...] = ()
    devices: int | None = None

    def ws_url(self, secure: bool = False) -> str:
        return f"{'wss' if secure else 'ws'}://{_host(self.host)}:{self.ws_port}/"

    def http_url(self, secure: bool = False) -> str:
        return f"{'https' if secure else 'http'}://{_host(self.host)}:{self.http_port}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def parse_cluster(doc: Mapping[str, Any]) -> list[Node]:
    """The nodes of a ``/v1/cluster`` answer, in its order; raises ``ValueError`` if malformed."""
    try:
        records = doc["records"]
        return [
            Node(
                id=str(r["id"]),
                host=str(r["host"]),
                http_port=int(r["http_port"]),
                udp_port=int(r["udp_port"]),
                ws_port=int(r["ws_port"]),
                live=bool(r.get("live", True)),
                seen_ago=None if r.get("seen_ago") is None else float(r["seen_ago"]),
                sources=tuple(str(s) for s in r.get("sources") or ()),
                devices=None if r.get("devices") is None else int(r["devices"]),
            )
            for r in records
        ]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"/v1/cluster answer is malformed: {e!r}") from None
