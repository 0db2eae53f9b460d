"""Consul, for the deployments that run it: registration, a health check, the catalog, KV.

Theory of operation. With ``--consul URL`` a node registers one service instance with the Consul
agent at ``URL`` once its ports are open: service ``aesel``, id ``aesel-<node id>``, its HTTP
address and port as the service address, the three endpoints as tagged addresses (``http``,
``udp``, ``ws``) and in the service meta (``node_id``, ``http_port``, ``udp_port``, ``ws_port``),
and an HTTP health check on the node's own ``/health``. A watch task then asks the agent every
:data:`WATCH_INTERVAL` seconds whether the instance is still there:

- the agent answers and knows the instance: Consul is up;
- the agent answers but has lost it (it restarted: a ``-dev`` agent keeps nothing): register again;
- the agent does not answer: Consul is down. The node goes on serving and streaming: nothing on
  the hot path talks to Consul. The transition is logged once, ``aesel_consul_up`` drops to 0,
  and the node registers again as soon as the agent answers.

At shutdown the instance is deregistered (before the ports close, so no client is sent to a
node that is going away). Consul that cannot be reached at start is an error
(:class:`~aesel.errors.BackendUnavailable`): ``aesel serve`` then exits with one line.

Settings in Consul KV (``aesel/config/<setting name>``) are read once, before the node is built,
by :func:`read_settings`; see :mod:`aesel.config` for their priority.

Consul is reached through its HTTP API with httpx (asyncio-native, so no call blocks the event
loop; the only blocking call is the KV read at start, before the loop serves anything). The
maintained python client, py-consul, offers asyncio only through aiohttp, a second HTTP stack,
and aesel calls five endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aesel.cluster.membership import ClusterView, NodeInfo, NodeView
from aesel.config import KV_PREFIX
from aesel.config import check_consul_url as check_url
from aesel.errors import BackendUnavailable

log = logging.getLogger(__name__)

SERVICE = "aesel"
WATCH_INTERVAL = 2.0  # seconds between the watch task's checks of the registration
CHECK_INTERVAL = "2s"  # how often the agent calls /health
CHECK_TIMEOUT = "1s"
DEREGISTER_AFTER = "1m"  # the agent drops an instance whose check stays critical this long
CALL_TIMEOUT = 2.0  # seconds one call to the agent may take


def _headers(token: str) -> dict[str, str]:
    return {"X-Consul-Token": token} if token else {}


def _reason(e: Exception) -> str:
    if isinstance(e, httpx.HTTPStatusError):
        return f"answered {e.response.status_code}: {e.response.text.strip()[:200]}"
    if isinstance(e, httpx.TimeoutException):
        return "no answer in time"
    return str(e) or type(e).__name__


def read_settings(url: str, token: str = "", timeout: float = 5.0) -> dict[str, str]:
    """Every key under ``aesel/config/`` (the prefix removed) and its value, read once at start.

    Blocking: called before the event loop runs. Raises :class:`BackendUnavailable` when the
    agent cannot be reached or refuses (an ACL without the token).
    """
    url = check_url(url)
    try:
        r = httpx.get(
            f"{url}/v1/kv/{KV_PREFIX}",
            params={"recurse": "true"},
            headers=_headers(token),
            timeout=timeout,
        )
        if r.status_code == 404:  # no key under the prefix
            return {}
        r.raise_for_status()
        entries = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise BackendUnavailable(f"consul at {url}: cannot read {KV_PREFIX}: {_reason(e)}") from e
    out: dict[str, str] = {}
    for entry in entries:
        name = str(entry["Key"]).removeprefix(KV_PREFIX)
        if not name:  # the folder key itself
            continue
        raw = entry.get("Value")
        out[name] = base64.b64decode(raw).decode() if raw else ""
    return out


def service_id(node_id: str) -> str:
    return f"{SERVICE}-{node_id}"


def registration(info: NodeInfo) -> dict[str, Any]:
    """The agent's service definition of the node ``info``."""
    host = info.host
    check_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    check_host = "[::1]" if host == "::" else check_host
    ports = {"http": info.http_port, "udp": info.udp_port, "ws": info.ws_port}
    return {
        "Name": SERVICE,
        "ID": service_id(info.id),
        "Address": host,
        "Port": info.http_port,
        "Tags": ["aesel"],
        "Meta": {"node_id": info.id, **{f"{k}_port": str(p) for k, p in ports.items()}},
        "TaggedAddresses": {k: {"Address": host, "Port": p} for k, p in ports.items()},
        "Check": {
            "CheckID": f"{service_id(info.id)}-health",
            "Name": "aesel /health",
            "HTTP": f"http://{check_host}:{info.http_port}/health",
            "Interval": CHECK_INTERVAL,
            "Timeout": CHECK_TIMEOUT,
            "DeregisterCriticalServiceAfter": DEREGISTER_AFTER,
        },
    }


def node_from_entry(entry: dict[str, Any]) -> NodeInfo | None:
    """The node a ``/v1/health/service`` entry describes; None when it is not an aesel node."""
    svc = entry.get("Service") or {}
    meta = svc.get("Meta") or {}
    tagged = svc.get("TaggedAddresses") or {}
    host = svc.get("Address") or (entry.get("Node") or {}).get("Address") or ""

    def port(kind: str) -> int:
        if f"{kind}_port" in meta:
            return int(meta[f"{kind}_port"])
        return int((tagged.get(kind) or {}).get("Port", 0))

    try:
        node_id = meta.get("node_id") or str(svc["ID"]).removeprefix(f"{SERVICE}-")
        return NodeInfo(node_id, host, port("http") or int(svc["Port"]), port("udp"), port("ws"))
    except (KeyError, TypeError, ValueError):
        return None


class ConsulRegistration:
    """This node's instance in Consul: registered at start, watched, deregistered at stop."""

    def __init__(
        self,
        url: str,
        info: NodeInfo,
        *,
        token: str = "",
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.url = check_url(url)
        self.info = info
        self.id = service_id(info.id)
        self.watch_interval = watch_interval
        self.up = False
        self.registrations = 0  # successful registrations (the first, then one per comeback)
        self.losses = 0  # transitions from up to down
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=_headers(token), timeout=CALL_TIMEOUT
        )
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register; raises :class:`BackendUnavailable` when the agent cannot be reached."""
        try:
            await self._register()
        except httpx.HTTPError as e:
            await self._client.aclose()
            raise BackendUnavailable(
                f"consul at {self.url}: cannot register {self.id}: {_reason(e)}"
            ) from e
        self.up = True
        log.info("registered %s with consul at %s", self.id, self.url)
        self._watch = asyncio.get_running_loop().create_task(self._run(), name="consul-watch")

    async def stop(self) -> None:
        """Stop watching and deregister (best effort: a lost agent is logged, not raised)."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self.up:
            try:
                r = await self._client.put(f"/v1/agent/service/deregister/{self.id}")
                r.raise_for_status()
                log.info("deregistered %s from consul", self.id)
            except httpx.HTTPError as e:
                log.warning("could not deregister %s from consul: %s", self.id, _reason(e))
        self.up = False
        await self._client.aclose()

    async def _register(self) -> None:
        r = await self._client.put("/v1/agent/service/register", json=registration(self.info))
        r.raise_for_status()
        self.registrations += 1

    async def check(self) -> None:
        """One watch step: see whether the instance is still registered, register it again
        when the agent lost it, and log a change of state once."""
        try:
            r = await self._client.get(f"/v1/agent/service/{self.id}")
            if r.status_code == 404:
                await self._register()
            else:
                r.raise_for_status()
        except httpx.HTTPError as e:
            if self.up:
                self.up = False
                self.losses += 1
                log.warning(
                    "consul at %s lost (%s): serving on without it, registering again when it "
                    "answers",
                    self.url,
                    _reason(e),
                )
            return
        if not self.up:
            self.up = True
            log.warning("consul at %s is back: %s registered again", self.url, self.id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            try:
                await self.check()
            except Exception:  # never let the watch die: it is what brings Consul back
                log.exception("consul watch step failed")

    async def passing(self) -> list[NodeInfo]:
        """The nodes Consul's catalog holds as ``aesel`` instances with passing checks.

        Raises httpx errors; :class:`ConsulView` leaves Consul out when it does."""
        r = await self._client.get(f"/v1/health/service/{SERVICE}", params={"passing": "true"})
        r.raise_for_status()
        found = (node_from_entry(e) for e in r.json())
        return [n for n in found if n is not None]


class ConsulView:
    """A :class:`ClusterView` that adds Consul's healthy ``aesel`` instances to another view.

    A node known to both gets the source ``"consul"`` added; a node Consul alone knows (it may
    be on no shared Kafka, or not yet heard) is listed after the others, ``live`` because its
    check passes. When Consul is down, or does not answer in time, the inner view is answered
    as it is.
    """

    def __init__(self, inner: ClusterView, consul: ConsulRegistration) -> None:
        self.inner = inner
        self.consul = consul

    @property
    def self_id(self) -> str:
        return self.inner.self_id

    async def nodes(self) -> list[NodeView]:
        nodes = await self.inner.nodes()
        if not self.consul.up:
            return nodes
        try:
            healthy = await self.consul.passing()
        except (httpx.HTTPError, ValueError) as e:
            log.debug("consul catalog left out: %s", _reason(e))
            return nodes
        index = {n.info.id: i for i, n in enumerate(nodes)}
        for info in healthy:
            i = index.get(info.id)
            if i is None:
                index[info.id] = len(nodes)
                nodes.append(NodeView(info, live=True, seen_ago=None, sources=("consul",)))
            elif "consul" not in nodes[i].sources:
                n = nodes[i]
                nodes[i] = NodeView(n.info, n.live, n.seen_ago, (*n.sources, "consul"), n.devices)
        return nodes


class ConsulCollector:
    """``aesel_consul_up`` and ``aesel_consul_lost``, read at scrape time."""

    def __init__(self, consul: ConsulRegistration) -> None:
        self.consul = consul

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "aesel_consul_up", "1 while this node's Consul agent answers and holds its instance"
        )
        g.add_metric([], 1.0 if self.consul.up else 0.0)
        yield g
        c = CounterMetricFamily("aesel_consul_lost", "Times the Consul agent stopped answering")
        c.add_metric([], self.consul.losses)
        yield c
