"""A cluster of real ``aesel serve`` processes on real Kafka, MongoDB-wire and Neo4j servers:
a change accepted by any node reaches every subscriber on every node, UDP devices get each
event exactly once, a killed node's devices are taken over, and Kafka can go away."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.cluster import ClusterNode, Kafka, cluster_args, kafka, new_prefix
from tests.engines import Engines, clear_neo4j, drop_database, engines, mongo_url

__all__ = ["engines", "kafka"]  # fixtures

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


class Cluster:
    def __init__(self, kafka: Kafka, mongo: str, neo4j: str, root: Path) -> None:
        self.kafka, self.mongo, self.neo4j, self.root = kafka, mongo, neo4j, root
        self.prefix = new_prefix()
        self.nodes: list[ClusterNode] = []

    def add(self, name: str, *extra: str) -> ClusterNode:
        args = cluster_args(self.kafka, self.mongo, self.neo4j, self.prefix, *extra)
        node = ClusterNode(name, args, self.root / name).start()
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.kill()


@pytest.fixture
def make_cluster(
    engines: Engines, kafka: Kafka, tmp_path: Path
) -> Iterator[Callable[[int], list[ClusterNode]]]:
    mongo = mongo_url(engines)
    neo4j = engines.urls["AESEL_NEO4J_URL"]
    asyncio.run(clear_neo4j(neo4j))
    cluster = Cluster(kafka, mongo, neo4j, tmp_path)

    def make(n: int) -> list[ClusterNode]:
        return [cluster.add(f"node{i + 1}") for i in range(n)]

    make.cluster = cluster  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        cluster.stop()
        asyncio.run(drop_database(mongo))


class Sub:
    """A WebSocket subscriber collecting the events of one scene."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.snapshot: dict[str, Any] = {}
        self.epoch = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, node: ClusterNode, scene: str) -> Sub:
        ws = await connect(node.ws_url, compression=None)
        sub = cls(ws)
        welcome = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert welcome["type"] == "welcome", welcome
        await ws.send(orjson.dumps({"type": "subscribe", "scene": scene}).decode())
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "snapshot":
                break
        sub.snapshot, sub.epoch = msg, msg["epoch"]
        sub._task = asyncio.get_running_loop().create_task(sub._read())
        return sub

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for data in self.ws:
                msg = orjson.loads(data)
                if msg.get("type") == "events":
                    self.events += msg["events"]

    def xs(self, key: str) -> list[float]:
        return [e["data"]["transform"][3] for e in self.events if e["data"]["key"] == key]

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            await self._task


def device() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.05)
    return s


def received(dev: socket.socket, quiet: float = 1.0, within: float = 15.0) -> list[dict[str, Any]]:
    """Every datagram until none came for ``quiet`` seconds."""
    got: list[dict[str, Any]] = []
    last = start = time.monotonic()
    while time.monotonic() - last < quiet and time.monotonic() - start < within:
        try:
            data, _ = dev.recvfrom(65536)
        except TimeoutError:
            continue
        got.append(orjson.loads(data))
        last = time.monotonic()
    return got


def xs_of(datagrams: list[dict[str, Any]], key: str) -> list[float]:
    return [d["transform"][3] for d in datagrams if d.get("key") == key]


async def register(node: ClusterNode, scene: str, key: str, dev: socket.socket) -> None:
    body = {"scenes": [{"key": scene, "devices": [
        {"key": key, "hostname": "127.0.0.1", "port": dev.getsockname()[1]}]}]}  # fmt: skip
    async with httpx.AsyncClient(base_url=node.url, timeout=15) as h:
        r = await h.post(f"/v1/scene/{scene}/register", json=body)
        assert r.status_code == 200, r.text


async def setup_scene(node: ClusterNode, n_objects: int) -> list[str]:
    async with httpx.AsyncClient(base_url=node.url, timeout=15) as h:
        r = await h.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        assert r.status_code == 200, r.text
        objs = [{"name": f"o{i}", "transform": at(0.0)} for i in range(n_objects)]
        r = await h.post("/v1/scene/s/object", json={"objects": objs})
        assert r.status_code == 200, r.text
        return [o["key"] for o in r.json()["objects"]]


def udp_update(node: ClusterNode, key: str, x: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        msg = {"msg_type": 1, "key": key, "scene": "s", "transform": at(x)}
        s.sendto(orjson.dumps(msg), ("127.0.0.1", node.udp_port))


async def until(cond: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def subs() -> AsyncIterator[list[Sub]]:
    opened: list[Sub] = []
    yield opened
    for s in opened:
        await s.close()


async def test_a_change_on_any_node_reaches_every_subscriber_and_each_device_once(
    make_cluster: Callable[[int], list[ClusterNode]], subs: list[Sub]
) -> None:
    n1, n2, n3 = make_cluster(3)
    o1, o2, o3 = await setup_scene(n1, 3)
    d1, d3 = device(), device()
    await register(n1, "s", "d1", d1)
    await register(n3, "s", "d3", d3)
    subs += [await Sub.open(n2, "s"), await Sub.open(n3, "s")]
    assert {o["key"] for o in subs[0].snapshot["objects"]} == {o1, o2, o3}
    xs = [float(i) for i in range(1, 11)]
    inbound = await connect(n2.ws_url, compression=None)
    await inbound.recv()  # welcome
    async with httpx.AsyncClient(base_url=n1.url, timeout=15) as h1:
        for x in xs:
            # REST on node 1, UDP in on node 3, WebSocket in on node 2
            r = await h1.post(f"/v1/scene/s/object/{o1}", json={"objects": [{"transform": at(x)}]})
            assert r.status_code == 200, r.text
            udp_update(n3, o2, x)
            msg = {"msg_type": 1, "key": o3, "scene": "s", "transform": at(x)}
            await inbound.send(orjson.dumps(msg).decode())
            await asyncio.sleep(0.01)
    await inbound.close()
    for sub in subs:

        def done(sub: Sub = sub) -> bool:
            return all(sub.xs(k)[-1:] == [10.0] for k in (o1, o2, o3))

        await until(done)
        for k in (o1, o2, o3):
            seen = sub.xs(k)
            assert seen == sorted(seen), f"{k}: out of order on a subscriber: {seen}"
        seqs = [e["seq"] for e in sub.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq is contiguous per node"
    got1, got3 = await asyncio.gather(
        asyncio.to_thread(received, d1), asyncio.to_thread(received, d3)
    )
    for got in (got1, got3):
        for k in (o1, o2, o3):
            assert xs_of(got, k) == xs, f"{k}: each event once and in order: {xs_of(got, k)}"
    # every node delivered to its own subscribers; the others' events came through Kafka
    assert n2.metric("aesel_cluster_events_total") > 0
    assert n1.metric("aesel_udp_devices_owned") == 1
    assert n3.metric("aesel_udp_devices_owned") == 1
    assert n2.metric("aesel_udp_devices_owned") == 0
    d1.close()
    d3.close()


async def test_nodes_know_each_other_and_serve_another_nodes_streamed_change(
    make_cluster: Callable[[int], list[ClusterNode]],
) -> None:
    n1, n2 = make_cluster(2)
    (o1,) = await setup_scene(n1, 1)
    # a node learns the cluster's members: /metrics counts the live nodes
    await until(lambda: n1.metric("aesel_cluster_nodes_live") == 2)
    await until(lambda: n2.metric("aesel_cluster_nodes_live") == 2)
    # a REST read on node 2 after a streamed update on node 1 serves the new state from its
    # cache (the update is not in the store yet when the flush interval is long)
    async with httpx.AsyncClient(base_url=n2.url, timeout=15) as h2:
        r = await h2.get(f"/v1/scene/s/object/{o1}")
        assert r.json()["objects"][0]["transform"][3] == 0.0  # now cached on node 2
        udp_update(n1, o1, 5.0)

        async def moved() -> bool:
            r = await h2.get(f"/v1/scene/s/object/{o1}")
            return bool(r.json()["objects"][0]["transform"][3] == 5.0)

        deadline = time.monotonic() + 10
        while not await moved():
            assert time.monotonic() < deadline, "node 2 kept serving the old transform"
            await asyncio.sleep(0.05)


class Stream:
    """UDP updates of one object into one node at a steady rate, x = 1, 2, 3, ..."""

    def __init__(self, node: ClusterNode, key: str, hz: float = 100.0) -> None:
        self.node, self.key, self.period = node, key, 1.0 / hz
        self.sent = 0
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            udp_update(self.node, self.key, float(self.sent))
            await asyncio.sleep(self.period)

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def timed(
    dev: socket.socket, key: str, stop: float | threading.Event
) -> list[tuple[float, int, float]]:
    """(arrival, sender port, x) of every datagram about ``key`` until ``stop`` (a monotonic
    time, or an event set)."""
    got = []

    def going() -> bool:
        return not stop.is_set() if isinstance(stop, threading.Event) else time.monotonic() < stop

    while going():
        try:
            data, addr = dev.recvfrom(65536)
        except TimeoutError:
            continue
        doc = orjson.loads(data)
        if doc.get("key") == key:
            got.append((time.monotonic(), addr[1], doc["transform"][3]))
    return got


async def test_kill_9_of_a_node_its_devices_are_taken_over_and_nothing_acknowledged_is_lost(
    make_cluster: Callable[[int], list[ClusterNode]], subs: list[Sub]
) -> None:
    n1, n2, n3 = make_cluster(3)
    (o,) = await setup_scene(n1, 1)
    d = device()
    await register(n2, "s", "d", d)  # node 2 sends to the device
    # acknowledged REST writes through the node about to die
    async with httpx.AsyncClient(base_url=n2.url, timeout=15) as h2:
        r = await h2.post(
            "/v1/scene/s/object", json={"objects": [{"name": f"a{i}"} for i in range(20)]}
        )
        assert r.status_code == 200, r.text
        acked = {x["key"] for x in r.json()["objects"]}
    on2 = await Sub.open(n2, "s")
    subs += [await Sub.open(n1, "s"), await Sub.open(n3, "s"), on2]
    stream = Stream(n1, o)
    reader = asyncio.create_task(asyncio.to_thread(timed, d, o, time.monotonic() + 9.0))
    await asyncio.sleep(2.0)
    killed_at = time.monotonic()
    n2.kill()
    await asyncio.sleep(5.0)
    # the WebSocket client of node 2 reconnects to node 1: a new epoch, and a snapshot with
    # the latest state (a resync, never a silent loss)
    moved = await Sub.open(n1, "s")
    subs.append(moved)
    assert moved.epoch != on2.epoch
    snap_x = {x["key"]: x["transform"][3] for x in moved.snapshot["objects"]}[o]
    assert snap_x >= stream.sent - 20
    got = await reader
    await stream.stop()

    before = [g for g in got if g[0] < killed_at]
    after = [g for g in got if g[0] >= killed_at]
    assert {port for _, port, _ in before} == {n2.udp_port}
    taken = [g for g in after if g[1] != n2.udp_port]
    assert taken, "no node took the device over"
    assert {port for _, port, _ in taken} <= {n1.udp_port, n3.udp_port}
    assert len({port for _, port, _ in taken}) == 1, "one node sends to the device"
    xs = [x for _, _, x in got]
    assert len(xs) == len(set(xs)), "the device got an event twice"
    assert xs == sorted(xs), "the device got events out of order"
    failover = taken[0][0] - killed_at
    assert failover < 8.0, f"takeover took {failover:.1f} s"
    print(f"udp device failover: {failover:.2f} s (lease {LEASE} s, heartbeat {HEARTBEAT} s)")
    # the nodes that stayed kept streaming, without a gap
    for sub in subs[:2]:
        seen = sub.xs(o)
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        seqs = [e["seq"] for e in sub.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # no acknowledged write lost
    async with httpx.AsyncClient(base_url=n3.url, timeout=15) as h3:
        for key in acked:
            r = await h3.get(f"/v1/scene/s/object/{key}")
            assert r.status_code == 200, r.text
    # the node restarts with its name and rejoins; its devices stay with their new owner
    n2.start()
    await until(lambda: n1.metric("aesel_cluster_nodes_live") == 3)
    assert n2.metric("aesel_udp_devices_owned") == 0
    assert n1.metric("aesel_udp_devices_owned") + n3.metric("aesel_udp_devices_owned") == 1
    d.close()


async def test_kafka_stopped_and_restarted_mid_stream_nodes_keep_local_delivery_and_reconnect(
    make_cluster: Callable[[int], list[ClusterNode]], kafka: Kafka, subs: list[Sub]
) -> None:
    n1, n2 = make_cluster(2)
    (o,) = await setup_scene(n1, 1)
    d = device()
    await register(n1, "s", "d", d)
    on1, on2 = await Sub.open(n1, "s"), await Sub.open(n2, "s")
    subs += [on1, on2]
    stream = Stream(n1, o, hz=50)
    done = threading.Event()
    reader = asyncio.create_task(asyncio.to_thread(timed, d, o, done))
    await until(lambda: len(on2.xs(o)) > 10)
    kafka.kill()
    down_at = stream.sent
    await asyncio.sleep(4.0)
    # local delivery never waited for Kafka: node 1's subscriber and device kept getting events
    assert on1.xs(o)[-1] >= stream.sent - 5
    assert n1.proc is not None and n1.proc.poll() is None
    assert n2.proc is not None and n2.proc.poll() is None
    await asyncio.to_thread(kafka.restart)
    restarted_at = stream.sent
    await until(lambda: bool(on2.xs(o)) and on2.xs(o)[-1] > restarted_at, within=60)
    await stream.stop()
    await asyncio.sleep(0.5)
    done.set()
    got = await reader
    # node 2 is back on the stream, in order, without duplicates
    seen = on2.xs(o)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    # the device stayed with node 1 (no takeover while Kafka was away) and got every event
    xs = [x for _, _, x in got]
    assert {port for _, port, _ in got} == {n1.udp_port}
    assert xs == sorted(xs) and len(xs) == len(set(xs))
    assert xs[0] <= down_at and xs[-1] > restarted_at
    assert (
        n1.metric("aesel_udp_devices_claimed_total") + n2.metric("aesel_udp_devices_claimed_total")
        == 0
    )
    d.close()


LEASE, HEARTBEAT, RATE = 3.0, 0.5, 100  # tests/cluster.py's lease and heartbeat; events/s


def report(name: str, xs_by_key: dict[str, list[float]]) -> dict[str, int]:
    """Duplicates and order violations of one subscriber, per object summed."""
    dupes = sum(len(v) - len(set(v)) for v in xs_by_key.values())
    disorder = sum(sum(1 for a, b in itertools.pairwise(v) if b < a) for v in xs_by_key.values())
    print(f"chaos {name}: {sum(len(v) for v in xs_by_key.values())} events, "
          f"{dupes} duplicates, {disorder} order violations")  # fmt: skip
    return {"dupes": dupes, "disorder": disorder}


async def test_chaos_nodes_restarted_every_few_seconds_under_a_sequenced_stream(
    make_cluster: Callable[[int], list[ClusterNode]], subs: list[Sub]
) -> None:
    """In the style of JetStream's chaos tests: sequence-numbered events go through the
    cluster while nodes 2 and 3 are killed (-9) or stopped and restarted in turn. Bounds (see
    docs/realtime.md): no subscriber ever sees a duplicate or an object's events out of
    order; a subscriber on a node that stays up loses nothing; a UDP device whose owner dies
    misses at most the failover window; a WebSocket client of a restarted node resyncs."""
    n1, n2, n3 = make_cluster(3)
    keys = await setup_scene(n1, 4)
    d1, d2 = device(), device()
    await register(n1, "s", "d1", d1)
    await register(n2, "s", "d2", d2)
    stable = await Sub.open(n1, "s")
    subs.append(stable)
    done = threading.Event()
    readers = [
        asyncio.create_task(asyncio.to_thread(timed_all, dev, set(keys), done)) for dev in (d1, d2)
    ]
    seq = 0
    stop_stream = asyncio.Event()

    async def publish() -> None:
        nonlocal seq
        while not stop_stream.is_set():
            seq += 1
            udp_update(n1, keys[seq % len(keys)], float(seq))
            await asyncio.sleep(1 / RATE)

    publisher = asyncio.create_task(publish())
    t0 = time.monotonic()
    events: list[tuple[float, str]] = []
    restarted: list[Sub] = []
    for i, (victim, sig) in enumerate(((n2, 9), (n3, 15), (n2, 15), (n3, 9))):
        await asyncio.sleep(2.5)
        events.append((time.monotonic(), f"kill {victim.name} -{sig}"))
        victim.kill(sig)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(victim.start)
        events.append((time.monotonic(), f"{victim.name} started"))
        sub = await Sub.open(victim, "s")  # a client of the restarted node resyncs there
        restarted.append(sub)
        subs.append(sub)
        print(f"chaos round {i}: {victim.name} {'kill -9' if sig == 9 else 'stopped'}, back")
    await asyncio.sleep(3.0)
    stop_stream.set()
    await publisher
    await asyncio.sleep(1.0)
    done.set()
    got1, got2 = [await r for r in readers]

    def by_key(items: list[tuple[float, int, str, float]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in keys}
        for _, _, k, x in items:
            out[k].append(x)
        return out

    ws_stable = {k: stable.xs(k) for k in keys}
    results = {
        "ws on node 1 (stays up)": report("ws node1", ws_stable),
        "device d1 (owner stays up)": report("device d1", by_key(got1)),
        "device d2 (owner restarted)": report("device d2", by_key(got2)),
    }
    for j, sub in enumerate(restarted):
        results[f"ws after restart {j}"] = report(f"ws restarted {j}", {k: sub.xs(k) for k in keys})
    assert all(r == {"dupes": 0, "disorder": 0} for r in results.values()), results
    # nothing lost where no node died on the way
    assert sorted(x for v in ws_stable.values() for x in v)[-1] == seq
    assert sum(len(v) for v in ws_stable.values()) == seq - (len(keys) - len(keys)), "lossless"
    assert len(got1) == seq
    # the device whose owner died: only the failover windows are missing
    # (counted in events, not arrival gaps: a starved test process reads late, not less)
    owners = len({port for _, port, _, _ in got2})
    missing = seq - len(got2)
    window = LEASE + 2 * HEARTBEAT + 2.0  # the documented failover bound, plus slack
    print(f"chaos device d2: {len(got2)}/{seq} events, {owners} senders in turn, {missing} missed")
    assert 2 <= owners <= 3
    assert missing <= RATE * window * (owners - 1), [(round(t - t0, 2), n) for t, n in events]
    # the WebSocket clients of restarted nodes: contiguous seqs within their connection
    for sub in restarted:
        seqs = [e["seq"] for e in sub.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
    d1.close()
    d2.close()


def timed_all(
    dev: socket.socket, keys: set[str], stop: threading.Event
) -> list[tuple[float, int, str, float]]:
    """(arrival, sender port, key, x) of every datagram about ``keys`` until ``stop`` is set."""
    got = []
    while not stop.is_set():
        try:
            data, addr = dev.recvfrom(65536)
        except TimeoutError:
            continue
        doc = orjson.loads(data)
        if doc.get("key") in keys:
            got.append((time.monotonic(), addr[1], doc["key"], doc["transform"][3]))
    return got


def test_the_real_pyaesel_flows_pass_against_node_1_of_a_cluster(
    make_cluster: Callable[[int], list[ClusterNode]], tmp_path: Path
) -> None:
    from tests.integration.test_pyaesel import COMPAT, FLOWS, run_flows

    n1, _ = make_cluster(2)
    cluster = make_cluster.cluster  # type: ignore[attr-defined]
    for version in ("0.8", "0.3"):  # the scene/object/property/event flows, without auth
        asyncio.run(clear_neo4j(cluster.neo4j))  # each flow creates the same scene keys
        out = run_flows(version, FLOWS[version], n1.url, str(n1.udp_port), str(tmp_path))
        assert "flows ok" in out
    # users, projects, collections and assets: with auth, on a cluster of its own
    secret = "s" * 64
    auth = ("--auth", "--admin-user", "root", "--admin-password", "root-pw", "--jwt-secret", secret)
    with_auth = Cluster(cluster.kafka, cluster.mongo + "x", cluster.neo4j, tmp_path / "auth")
    try:
        a1 = with_auth.add("auth1", *auth)
        with_auth.add("auth2", *auth)
        out = run_flows("0.8", COMPAT / "pyaesel_catalog_flows.py", a1.url, "root", "root-pw",
                        str(tmp_path))  # fmt: skip
        assert "pyaesel catalog flows ok" in out
    finally:
        with_auth.stop()
        asyncio.run(drop_database(cluster.mongo + "x"))


def test_kafka_unreachable_at_start_is_one_clear_error_and_exit_1(
    engines: Engines, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--kafka", f"127.0.0.1:{port}", "--mongo-url", mongo_url(engines), "--neo4j-url",
            engines.urls["AESEL_NEO4J_URL"], "--data-dir", str(tmp_path), "--http-port", "0",
            "--udp-port", "0", "--ws-port", "0"]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "aesel", "serve", *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"kafka at 127.0.0.1:{port} is unreachable" in errors[0], errors
    assert "Traceback" not in out.stderr
