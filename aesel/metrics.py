"""Prometheus metrics, read at scrape time from the counters the hot paths already keep.

The hot paths increment plain integers (``HubStats``, the shared drop ``Counter``); this
collector turns them into Prometheus families when ``/metrics`` is scraped, so a delivery
costs no metric call. Each node has its own registry (several nodes can share a process in
tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from aesel.realtime.hub import LATENCY_BUCKETS, Hub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class ClusterSources:
    """The cluster's numbers (a node on Kafka): read through callables at scrape time."""

    events: Callable[[], dict[str, int]]  # produced, consumed, skipped, bytes_out
    dropped: Callable[[], Counter[str]]  # reason -> events
    lag: Callable[[], tuple[list[int], float, tuple[float, ...]]]  # bucket counts, sum, edges
    offsets_behind: Callable[[], int]
    owned_devices: Callable[[], int]
    live_nodes: Callable[[], int]
    claims: Callable[[], int]


@dataclass
class Sources:
    """Where the numbers come from; the inbound counts are read through callables."""

    hub: Hub
    drops: Counter[str]
    udp_in: Callable[[], int]
    ws_in: Callable[[], int]
    ws_connections: Callable[[], int]
    udp_kernel_drops: Callable[[], int] = lambda: 0
    loop_lag: Callable[[], float] = lambda: 0.0
    unsaved: Callable[[], int] = lambda: 0
    connections_refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    logins_refused: Counter[str] = field(default_factory=Counter)
    cluster: ClusterSources | None = None


class AeselCollector:
    def __init__(self, sources: Sources) -> None:
        self.s = sources

    def collect(self) -> Iterator[Metric]:
        s = self.s
        st = s.hub.stats
        c = CounterMetricFamily(
            "aesel_events_in", "Events received, by transport", labels=["transport"]
        )
        c.add_metric(["udp"], s.udp_in())
        c.add_metric(["ws"], s.ws_in())
        yield c
        c = CounterMetricFamily(
            "aesel_events_published", "Events published on the bus (every transport, REST too)"
        )
        c.add_metric([], st.events)
        yield c
        c = CounterMetricFamily(
            "aesel_events_out", "Datagrams and frames written, by transport", labels=["transport"]
        )
        c.add_metric(["udp"], st.udp_datagrams)
        c.add_metric(["ws"], st.ws_frames)
        yield c
        c = CounterMetricFamily(
            "aesel_deliveries",
            "Events delivered to one subscriber, by transport",
            labels=["transport"],
        )
        c.add_metric(["udp"], st.udp_deliveries)
        c.add_metric(["ws"], st.ws_deliveries)
        yield c
        c = CounterMetricFamily(
            "aesel_drops", "Inbound events and deliveries dropped, by reason", labels=["reason"]
        )
        drops = Counter(s.drops)
        drops["udp_rcvbuf"] = s.udp_kernel_drops()  # the kernel's count: a full receive buffer
        for reason, n in sorted(drops.items()):
            c.add_metric([reason], n)
        yield c
        c = CounterMetricFamily(
            "aesel_slow_consumer_disconnects", "Subscribers disconnected for falling behind"
        )
        c.add_metric([], st.slow_disconnects)
        yield c
        c = CounterMetricFamily("aesel_hub_flushes", "End-of-turn flushes of the hub")
        c.add_metric([], st.flushes)
        yield c
        g = GaugeMetricFamily("aesel_outbox_depth", "Objects waiting in slow subscribers' outboxes")
        g.add_metric([], s.hub.outbox_depth())
        yield g
        g = GaugeMetricFamily(
            "aesel_subscribers", "Current subscribers, by transport", labels=["transport"]
        )
        g.add_metric(["udp"], s.hub.device_count())
        g.add_metric(["ws"], s.hub.subscriber_count())
        yield g
        g = GaugeMetricFamily(
            "aesel_unsaved",
            "Streamed values and gcm replay floors not yet durable (dirty or being written)",
        )
        g.add_metric([], s.unsaved())
        yield g
        c = CounterMetricFamily(
            "aesel_connections_refused",
            "TCP connections refused or closed early, by port and reason "
            "(total, per_address, header_timeout, handshake_timeout)",
            labels=["port", "reason"],
        )
        for (port, reason), n in sorted(s.connections_refused.items()):
            c.add_metric([port, reason], n)
        yield c
        c = CounterMetricFamily(
            "aesel_logins_refused",
            "Logins answered 429 while backing off after failures, by reason (username, address)",
            labels=["reason"],
        )
        for reason, n in sorted(s.logins_refused.items()):
            c.add_metric([reason], n)
        yield c
        g = GaugeMetricFamily("aesel_ws_connections", "Open WebSocket connections")
        g.add_metric([], s.ws_connections())
        yield g
        g = GaugeMetricFamily(
            "aesel_loop_lag_seconds",
            "How late the event loop ran at worst in the last 0.1 s (a 10 ms timer's lateness)",
        )
        g.add_metric([], s.loop_lag())
        yield g
        buckets: list[tuple[str, float]] = []
        acc = 0
        for bound, n in zip(LATENCY_BUCKETS, st.latency_counts, strict=False):
            acc += n
            buckets.append((repr(bound), acc))
        buckets.append(("+Inf", st.latency_count))
        h = HistogramMetricFamily(
            "aesel_delivery_latency_seconds",
            "Time from event in (ingress) to its last delivery out",
            buckets=buckets,
            sum_value=st.latency_sum,
        )
        yield h
        if s.cluster is not None:
            yield from _cluster(s.cluster)


def _cluster(c: ClusterSources) -> Iterator[Metric]:
    ev = c.events()
    m = CounterMetricFamily(
        "aesel_cluster_events",
        "Events through Kafka: produced (accepted here), consumed (from other nodes, delivered "
        "here), skipped (read and not delivered: this node's own, or of scenes and keys nothing "
        "here needs)",
        labels=["direction"],
    )
    for k in ("produced", "consumed", "skipped"):
        m.add_metric([k], ev[k])
    yield m
    m = CounterMetricFamily("aesel_cluster_bytes_out", "Bytes of event records produced to Kafka")
    m.add_metric([], ev["bytes_out"])
    yield m
    m = CounterMetricFamily(
        "aesel_cluster_drops",
        "Events lost or refused on the bus, by reason (kafka_unsent, kafka_backlog, stale, ...)",
        labels=["reason"],
    )
    for reason, n in sorted(c.dropped().items()):
        m.add_metric([reason], n)
    yield m
    counts, total, edges = c.lag()
    buckets: list[tuple[str, float]] = []
    acc = 0
    for bound, n in zip(edges, counts, strict=False):
        acc += n
        buckets.append((repr(bound), acc))
    buckets.append(("+Inf", sum(counts)))
    yield HistogramMetricFamily(
        "aesel_bus_lag_seconds",
        "From an event's acceptance on another node to its consumption here (wall clocks)",
        buckets=buckets,
        sum_value=total,
    )
    for name, doc, value in (
        ("aesel_kafka_offsets_behind", "Event records not yet consumed (all partitions)",
         c.offsets_behind()),
        ("aesel_udp_devices_owned", "Registered UDP devices this node sends to", c.owned_devices()),
        ("aesel_cluster_nodes_live", "Live nodes as this node sees them (itself included)",
         c.live_nodes()),
    ):  # fmt: skip
        g = GaugeMetricFamily(name, doc)
        g.add_metric([], value)
        yield g
    m = CounterMetricFamily(
        "aesel_udp_devices_claimed", "UDP devices this node took over from nodes that left"
    )
    m.add_metric([], c.claims())
    yield m


def make_registry(sources: Sources) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AeselCollector(sources))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
