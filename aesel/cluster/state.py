"""``ClusterState``: membership, UDP device ownership and the shared state, on Kafka.

Theory of operation. Every node writes to and follows the compacted ``<prefix>.state``
topic (records in :mod:`aesel.cluster.wire`). At start a node reads it from the beginning
to its end, so it knows the members, every registration with its owner, and the scenes'
access, before it takes input; then it follows the topic as the other nodes change it.

Membership: each node writes a heartbeat every ``beat`` seconds. A node is *live* while its
last heartbeat is younger than ``lease`` (the age is taken from the heartbeat's wall clock,
so clocks must agree to well within the lease; NTP does). A node that stops cleanly writes a
null heartbeat and leaves at once.

UDP devices: exactly one node sends a scene's events to a registered device, its *owner*:
the node the device registered through. When the owner is no longer live, every node
computes the same successor (rendezvous hashing of the device over the live nodes), and the
successor claims the device by writing the registration again with itself as owner; from
its next event on it sends to the device. A claim is sticky: a restarted owner finds its
devices claimed and leaves them. A node claims only while it sees its own heartbeats come
back through Kafka, so a node cut off from Kafka never takes devices over (when Kafka is
down for everyone, every owner keeps its devices). Failover takes about ``lease`` plus one
``beat`` (bench/cluster.py measures it). The old owner sends nothing after it died; a node
that was only cut off from Kafka while still reaching its devices keeps sending until it
reads the claim: the one case of duplicates, bounded by its reconnection.

Registrations count on the owner at once (the owner is where the registration happened, and
it applies it before answering). The other nodes learn them within a Kafka round trip:
they need them for datagrams the device sends them (its user's rights, its GCM key) and
for subscribers that asked for a device's frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from aesel.cluster import wire
from aesel.cluster.kafka import KafkaConfig, make_consumer, quietly
from aesel.cluster.membership import NodeInfo, NodeView
from aesel.logutil import LogLimiter
from aesel.model.entities import Device, Scene
from aesel.model.transform import Matrix
from aesel.services.directory import MISSING, SceneAccess, SceneDirectory
from aesel.udp.egress import UdpEgress

log = logging.getLogger(__name__)

RegKey = tuple[str, str]  # (scene, device)


@dataclass
class Member:
    info: NodeInfo
    seen: float  # time.monotonic() of its last heartbeat, corrected by the heartbeat's age
    devices: int


@dataclass
class RegState:
    owner: str
    device: Device
    m_sd: Matrix | None
    sending: bool = False  # this node sends the scene's events to the device


@dataclass
class StateStats:
    beats: int = 0
    claims: int = 0  # devices this node took over
    released: int = 0  # devices this node stopped sending to (another node owns them)
    bad_records: int = 0
    write_errors: int = 0
    fenced: int = 0  # times this node paused sending to its devices
    last_failover: float = 0.0  # seconds from the owner's last heartbeat to the claim
    failovers: list[float] = field(default_factory=list)


def rendezvous(device: str, nodes: list[str]) -> str:
    """The node that takes ``device`` over: the highest hash of (node, device)."""
    return max(
        nodes, key=lambda n: hashlib.blake2b(f"{n}/{device}".encode(), digest_size=8).digest()
    )


class SharedDirectory(SceneDirectory):
    """The scene directory of a cluster node: a change of a scene's owner or visibility made
    here is written to the state topic, and changes from other nodes are applied with
    :meth:`SceneDirectory.put`."""

    on_change: Callable[[str, SceneAccess], None] = staticmethod(lambda key, access: None)

    def changed(self, scene: Scene) -> None:
        access = SceneAccess.of(scene)
        if self.peek(scene.key) != access:
            self.on_change(scene.key, access)
        super().changed(scene)

    def removed(self, key: str) -> None:
        self.on_change(key, MISSING)
        super().removed(key)


class ClusterState:
    """One node's view of the cluster, and its writer of shared state (see the module doc)."""

    def __init__(
        self,
        cfg: KafkaConfig,
        info: NodeInfo,
        producer: Any,
        egress: UdpEgress,
        *,
        lease: float = 3.0,
        beat: float = 0.5,
        directory: SceneDirectory | None = None,
    ) -> None:
        self.cfg = cfg
        self.info = info
        self.producer = producer
        self.egress = egress
        self.lease = lease
        self.beat = beat
        self.directory = directory
        self.on_revoke: Callable[[str], object] = lambda user: None
        self.members: dict[str, Member] = {}
        self.regs: dict[RegKey, RegState] = {}
        self.stats = StateStats()
        self.loading = False  # the scene service is loading the store's registrations
        self._own_seen = 0.0  # when this node last read its own heartbeat back
        self._since = 0.0  # when it began to read them back again (after start or an outage)
        self._tick = 0.0  # the fence watchdog's last run (its lag measures stalls)
        self._fenced_at = 0.0  # the end of the last stall
        self.fenced = False
        self.on_rejoin: Callable[[], object] = lambda: None  # back after missing state/events
        self._header = [("o", info.id.encode())]
        self._consumer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._loaded: set[RegKey] = set()
        self._limited = LogLimiter(log)

    # -- ClusterView ------------------------------------------------------------------------

    @property
    def self_id(self) -> str:
        return self.info.id

    def live(self) -> list[str]:
        """The live nodes' ids, this node included."""
        edge = time.monotonic() - self.lease
        return [self.info.id] + [
            n for n, m in self.members.items() if n != self.info.id and m.seen > edge
        ]

    @property
    def connected(self) -> bool:
        """Whether this node's heartbeats come back through Kafka (it sees the cluster)."""
        return time.monotonic() - self._own_seen < self.lease

    def owned(self) -> int:
        return sum(1 for r in self.regs.values() if r.sending)

    async def nodes(self) -> list[NodeView]:
        now = time.monotonic()
        out = [
            NodeView(self.info, live=True, seen_ago=0.0, sources=("self",), devices=self.owned())
        ]
        for n, m in sorted(self.members.items()):
            if n == self.info.id:
                continue
            age = max(0.0, now - m.seen)
            out.append(NodeView(m.info, age < self.lease, round(age, 3), ("kafka",), m.devices))
        return out

    # -- RegistrationSink: changes made through this node ------------------------------------

    def attached(self, scene: str, device: Device) -> None:
        k = (scene, device.key)
        cur = self.regs.get(k)
        if self.loading:
            self._loaded.add(k)
        if self.loading and cur is not None and cur.device == device:
            self._place(k)  # the cluster knows it as the store has it
            return
        if self.loading and cur is not None:
            owner = cur.owner  # the cluster already knows it: keep its owner
        elif self.loading:
            owner = rendezvous(device.key, self.live())  # from before the cluster
        else:
            owner = self.info.id  # registered through this node: it sends
        m_sd = cur.m_sd if cur is not None else None
        self.regs[k] = RegState(owner, device, m_sd, cur.sending if cur else False)
        self._write(wire.reg_key(scene, device.key), wire.encode_reg(owner, device, m_sd))
        self._place(k)

    def detached(self, scene: str, device: str) -> None:
        self._write(wire.reg_key(scene, device), None)
        self._drop((scene, device))

    def scene_removed(self, scene: str) -> None:
        for k in [k for k in self.regs if k[0] == scene]:
            self._write(wire.reg_key(*k), None)
            del self.regs[k]
        self.egress.scene_removed(scene)

    def transformed(self, scene: str, device: Device, m_sd: Matrix) -> None:
        k = (scene, device.key)
        cur = self.regs.get(k)
        owner = cur.owner if cur is not None else self.info.id
        sending = cur.sending if cur is not None else False
        self.regs[k] = RegState(owner, device, m_sd, sending)
        self._write(wire.reg_key(scene, device.key), wire.encode_reg(owner, device, m_sd))
        self.egress.transformed(scene, device, m_sd)

    # -- other shared state made through this node --------------------------------------------

    def scene_changed(self, key: str, access: SceneAccess) -> None:
        self._write(
            wire.scene_key(key), wire.encode_scene(access.owner, access.public, access.exists)
        )

    def revoked(self, user: str) -> None:
        self._write(wire.revoke_key(user), str(time.time_ns()).encode())

    # -- placing devices ------------------------------------------------------------------

    def _place(self, k: RegKey) -> None:
        """Send to the device of ``k`` when this node owns it, else make sure it does not."""
        r = self.regs[k]
        send = r.owner == self.info.id
        if send:
            if not r.sending:
                log.info("device %r of scene %r: this node sends to it", k[1], k[0])
            r.sending = True
            self.egress.attached(k[0], r.device)  # again when it changed (a new address)
            if r.m_sd is not None:
                self.egress.transformed(k[0], r.device, r.m_sd)
        else:
            if r.sending:
                self.stats.released += 1
                log.info("device %r of scene %r: now sent to by node %r", k[1], k[0], r.owner)
            r.sending = False
            self.egress.attached(k[0], r.device, send=False)
            if r.m_sd is not None:
                self.egress.transformed(k[0], r.device, r.m_sd)

    def _drop(self, k: RegKey) -> None:
        if self.regs.pop(k, None) is not None:
            self.egress.detached(*k)

    def failover(self) -> int:
        """Claim the devices of owners no longer live that fall to this node; returns how many."""
        now = time.monotonic()
        if now - self._own_seen > 2 * self.beat or now - self._since < self.lease:
            # this node's own heartbeats do not come back right now (Kafka is away, or slow:
            # the others' silence then proves nothing), or it is back for less than a lease
            # (their heartbeats may not be read yet): never take over, the owners may be fine
            return 0
        live = self.live()
        alive = set(live)
        now = time.monotonic()
        claimed = 0
        for k, r in self.regs.items():
            if r.owner in alive or rendezvous(k[1], live) != self.info.id:
                continue
            gone = self.members.get(r.owner)
            waited = now - gone.seen if gone is not None else 0.0
            r.owner = self.info.id
            self._write(wire.reg_key(*k), wire.encode_reg(r.owner, r.device, r.m_sd))
            self._place(k)
            claimed += 1
            self.stats.claims += 1
            self.stats.last_failover = waited
            self.stats.failovers.append(waited)
            del self.stats.failovers[:-100]
        if claimed:
            log.info("took over %d devices of nodes no longer live", claimed)
        return claimed

    # -- Kafka ----------------------------------------------------------------------------

    def _write(self, key: bytes, value: bytes | None) -> None:
        async def send() -> None:
            try:
                fut = await self.producer.send(
                    self.cfg.state_topic, value, key=key, headers=self._header
                )
                fut.add_done_callback(self._written)
            except Exception as e:
                self.stats.write_errors += 1
                self._limited.warning("kafka: cannot write cluster state %r: %r", key, e)

        task = asyncio.get_running_loop().create_task(send())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _written(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.stats.write_errors += 1
            self._limited.warning("kafka: a cluster state write failed: %r", fut.exception())

    async def start(self) -> None:
        """Read the state topic to its end (members, registrations, scenes), then follow it.

        Heartbeats begin with :meth:`announce`, once the node's ports are known."""
        consumer = make_consumer(self.cfg, f"aesel-{self.info.id}-state")
        await asyncio.wait_for(consumer.start(), self.cfg.connect_timeout)
        tp = TopicPartition(self.cfg.state_topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        self._consumer = consumer
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            for r in batch.get(tp, []):
                self._apply(r.key, r.value, replay=True)
        self._tasks = [
            asyncio.get_running_loop().create_task(self._follow(tp), name="cluster-state")
        ]

    def loaded(self) -> None:
        """The scene service has loaded the store's registrations (the truth): forget the
        registrations the state topic still names but the store no longer has."""
        for k in [k for k in self.regs if k not in self._loaded]:
            self._drop(k)
        self._loaded = set()
        self.loading = False

    def announce(self, info: NodeInfo) -> None:
        """Start the heartbeats, with this node's endpoints."""
        self.info = info
        self._send_beat()
        loop = asyncio.get_running_loop()
        self._tick = time.monotonic()
        self._tasks.append(loop.create_task(self._beats(), name="cluster-beats"))
        self._tasks.append(loop.create_task(self._watch(), name="cluster-fence"))

    # -- fencing: an owner that may have been replaced stops sending --------------------------

    def may_send(self) -> bool:
        """Whether this node may send datagrams to the devices it owns, right now.

        Not when its event loop has just been stalled for ``lease / 2`` (it may have been
        taken for dead meanwhile; it waits for its next heartbeat round trip, by which time
        it has read any claim made), nor while it reads the other nodes' heartbeats but
        its own come back late (its writes lag: the others may take it for dead). When no
        heartbeat comes back at all (Kafka is away for everyone) it keeps sending.
        """
        return not self.fenced and time.monotonic() - self._tick < self.lease / 2

    async def _watch(self) -> None:
        period = min(0.1, self.lease / 10)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            stalled = now - self._tick >= self.lease / 2
            self._tick = now
            if stalled:
                self._fenced_at = now  # until a heartbeat written after the stall comes back
            own_late = now - self._own_seen >= self.lease / 2
            others = any(now - m.seen < self.lease / 2 for m in self.members.values())
            fenced = self._fenced_at > self._own_seen or (own_late and others)
            if fenced != self.fenced:
                self.fenced = fenced
                if fenced:
                    self.stats.fenced += 1
                log.warning(
                    "cluster: %s sending to UDP devices%s",
                    "pausing" if fenced else "resuming",
                    " (this node may have been taken for dead)" if fenced else "",
                )

    async def stop(self) -> None:
        """Leave the cluster: a null heartbeat, so the others take the devices over at once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            fut = await self.producer.send(
                self.cfg.state_topic, None, key=wire.node_key(self.info.id), headers=self._header
            )
            await asyncio.wait_for(fut, 2.0)
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1.0)
        if self._consumer is not None:
            await quietly(self._consumer.stop())
            self._consumer = None

    def _send_beat(self) -> None:
        self.stats.beats += 1
        self._write(
            wire.node_key(self.info.id), wire.encode_beat(self.info, time.time_ns(), self.owned())
        )

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            self._send_beat()
            try:
                self.failover()
            except Exception:
                log.exception("device failover check failed")

    async def _follow(self, tp: Any) -> None:
        consumer = self._consumer
        while True:
            try:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=2000)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._limited.warning("kafka: reading cluster state failed, retrying: %r", e)
                await asyncio.sleep(0.5)
                continue
            for r in batch.get(tp, []):
                try:
                    self._apply(r.key, r.value, replay=False, own=self._is_own(r.headers))
                except Exception:
                    log.exception("applying cluster state %r failed", r.key)

    def _is_own(self, headers: Any) -> bool:
        return bool(headers) and headers[0][1] == self._header[0][1]

    def _apply(
        self, key: bytes | None, value: bytes | None, *, replay: bool, own: bool = False
    ) -> None:
        """Apply one state record; ``own``: written by this node, which applied it already."""
        if key is None:
            return
        kind, _, rest = key.decode(errors="replace").partition("/")
        try:
            if kind == "node":
                self._apply_beat(rest, value, replay=replay)
            elif own:
                return
            elif kind == "reg":
                scene, _, device = rest.rpartition("/")
                self._apply_reg((scene, device), value, replay=replay)
            elif kind == "scene" and self.directory is not None:
                if value is None:
                    return
                owner, public, exists = wire.decode_scene(value)
                self.directory.put(rest, SceneAccess(owner, public, exists))
            elif kind == "revoke" and not replay and value is not None:
                self.on_revoke(rest)
        except wire.BadRecord as e:
            self.stats.bad_records += 1
            self._limited.warning("kafka: %s", e)

    def _apply_beat(self, node: str, value: bytes | None, *, replay: bool) -> None:
        if value is None:
            if node != self.info.id:
                self.members.pop(node, None)
                if not replay:
                    self.failover()
            return
        beat = wire.decode_beat(value)
        age = max(0.0, (time.time_ns() - beat.beat) / 1e9)
        now = time.monotonic()
        if node == self.info.id:
            if not replay:
                if now - self._own_seen >= self.lease:
                    if self._own_seen:  # an outage, not the start: events may have been missed
                        log.warning("cluster: back on kafka after %.1f s", now - self._own_seen)
                        # nobody's silence meant anything while this node heard nothing: each
                        # member gets a full lease from now to be heard again
                        for m in self.members.values():
                            m.seen = max(m.seen, now)
                        self.on_rejoin()
                    self._since = now
                self._own_seen = now
            return
        self.members[node] = Member(beat.info, now - age, beat.devices)

    def _apply_reg(self, k: RegKey, value: bytes | None, *, replay: bool) -> None:
        if value is None:
            if replay:
                self.regs.pop(k, None)
            else:
                self._drop(k)
            return
        reg = wire.decode_reg(value)
        cur = self.regs.get(k)
        self.regs[k] = RegState(reg.owner, reg.device, reg.m_sd, cur.sending if cur else False)
        if not replay:
            self._place(k)
