"""ClusterState's decisions: who sends to a device, takeover, stickiness and fencing.

The Kafka producer is replaced by a stand-in that records what would be written, and the UDP
egress by one that records what the hub would be told (the real Kafka path is tested in
tests/integration/test_cluster_nodes.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aesel.cluster import wire
from aesel.cluster.kafka import KafkaConfig
from aesel.cluster.membership import NodeInfo
from aesel.cluster.state import ClusterState, Member, rendezvous
from aesel.model.entities import Device
from aesel.model.transform import Matrix


class RecordingProducer:
    """Stand-in for aiokafka's producer: keeps (key, value) of every write."""

    def __init__(self) -> None:
        self.writes: list[tuple[bytes, bytes | None]] = []

    async def send(self, topic: str, value: bytes | None, *, key: bytes, headers: Any) -> Any:
        self.writes.append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


class RecordingEgress:
    """Stand-in for UdpEgress: which devices the hub would send to."""

    def __init__(self) -> None:
        self.sending: set[tuple[str, str]] = set()
        self.known: set[tuple[str, str]] = set()

    def attached(self, scene: str, device: Device, *, send: bool = True) -> None:
        self.known.add((scene, device.key))
        (self.sending.add if send else self.sending.discard)((scene, device.key))

    def detached(self, scene: str, device: str) -> None:
        self.sending.discard((scene, device))

    def scene_removed(self, scene: str) -> None:
        self.sending = {k for k in self.sending if k[0] != scene}

    def transformed(self, scene: str, device: Device, m_sd: Matrix) -> None:
        pass


def node(name: str, lease: float = 3.0) -> tuple[ClusterState, RecordingProducer, RecordingEgress]:
    producer, egress = RecordingProducer(), RecordingEgress()
    state = ClusterState(
        KafkaConfig("unused:9092"),
        NodeInfo(name, "127.0.0.1", 1, 2, 3),
        producer,
        egress,  # type: ignore[arg-type]
        lease=lease,
    )
    return state, producer, egress


def member(name: str, age: float) -> Member:
    return Member(NodeInfo(name, "127.0.0.1", 1, 2, 3), time.monotonic() - age, 0)


DEV = Device(key="d", host="127.0.0.1", port=9999)


async def test_a_registration_through_a_node_makes_it_the_sender_and_is_written() -> None:
    a, producer, egress = node("a")
    a.attached("s", DEV)
    await asyncio.sleep(0)
    assert egress.sending == {("s", "d")}
    key, value = producer.writes[-1]
    assert key == wire.reg_key("s", "d") and value is not None
    assert wire.decode_reg(value).owner == "a"
    a.detached("s", "d")
    await asyncio.sleep(0)
    assert egress.sending == set() and producer.writes[-1] == (wire.reg_key("s", "d"), None)


async def test_another_nodes_registration_is_known_but_not_sent_to() -> None:
    a, _, egress = node("a")
    a._apply(wire.reg_key("s", "d"), wire.encode_reg("b", DEV, None), replay=False)
    assert ("s", "d") in egress.known and egress.sending == set()
    # a claim by this node (written by it, read back on start) makes it the sender
    a._apply(wire.reg_key("s", "d"), wire.encode_reg("a", DEV, None), replay=False)
    assert egress.sending == {("s", "d")}
    # and a later claim by another node stops it
    a._apply(wire.reg_key("s", "d"), wire.encode_reg("c", DEV, None), replay=False)
    assert egress.sending == set() and a.stats.released == 1


async def test_the_devices_of_a_gone_node_are_claimed_once_connected_for_a_lease() -> None:
    a, producer, egress = node("a", lease=1.0)
    a.members["b"] = member("b", age=5.0)  # b: no heartbeat for 5 s
    a._apply(wire.reg_key("s", "d"), wire.encode_reg("b", DEV, None), replay=False)
    assert a.failover() == 0  # a never saw its own heartbeat: it may be the one cut off
    now = time.monotonic()
    a._own_seen, a._since = now, now
    assert a.failover() == 0  # back for less than a lease
    a._since = now - 2.0
    assert rendezvous("d", a.live()) == "a"
    assert a.failover() == 1
    await asyncio.sleep(0)
    assert egress.sending == {("s", "d")}
    assert wire.decode_reg(producer.writes[-1][1] or b"").owner == "a"  # sticky
    assert a.failover() == 0  # claimed once


async def test_a_live_owner_keeps_its_devices_and_a_restarted_one_leaves_claimed_ones() -> None:
    a, _, egress = node("a", lease=1.0)
    now = time.monotonic()
    a._own_seen, a._since = now, now - 2.0
    a.members["b"] = member("b", age=0.1)
    a._apply(wire.reg_key("s", "d"), wire.encode_reg("b", DEV, None), replay=False)
    assert a.failover() == 0 and egress.sending == set()
    # b restarted: it reads the state topic, where c claimed its device; the store still has it
    b, _, b_egress = node("b")
    b._apply(wire.reg_key("s", "d"), wire.encode_reg("c", DEV, None), replay=True)
    b.loading = True
    b.attached("s", DEV)
    b.loaded()
    assert b_egress.sending == set()
    # the store no longer has a registration the topic names: forgotten
    b._apply(wire.reg_key("s", "gone"), wire.encode_reg("b", DEV, None), replay=True)
    b.loading = True
    b.attached("s", DEV)
    b.loaded()
    assert ("s", "gone") not in b.regs


async def test_a_stalled_or_lagging_owner_stops_sending_until_its_heartbeat_returns() -> None:
    a, _, _ = node("a", lease=1.0)
    now = time.monotonic()
    a._tick = now
    a._own_seen = now
    assert a.may_send()
    a._tick = now - 0.6  # the loop did not run for more than half a lease
    assert not a.may_send()
    # while others' heartbeats arrive but its own come back late, the watchdog fences it
    a._tick = time.monotonic()
    a._own_seen = time.monotonic() - 0.8
    a.members["b"] = member("b", age=0.1)
    task = asyncio.get_running_loop().create_task(a._watch())
    await asyncio.sleep(0.25)
    assert a.fenced and not a.may_send()
    a._apply_beat("a", wire.encode_beat(a.info, time.time_ns(), 0), replay=False)
    await asyncio.sleep(0.25)
    assert not a.fenced and a.may_send()
    # Kafka away for everyone: no heartbeat at all comes back, and the owner keeps sending
    a._own_seen = time.monotonic() - 5
    a.members["b"] = member("b", age=5)
    await asyncio.sleep(0.25)
    assert a.may_send()
    task.cancel()
