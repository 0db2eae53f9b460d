"""``KafkaBus``: the bus of a cluster. Events cross nodes through Kafka.

Theory of operation. ``publish`` (synchronous, never awaits, as for :class:`MemoryBus`)
stamps the event (:mod:`aesel.cluster.stamps`), numbers it and hands it to this node's
handlers at once (the local path never waits for Kafka), then queues it for the producer
task. The producer writes it to ``<prefix>.events`` keyed by scene, so one scene's events
keep their order in one partition: everything queued since its last turn in one record batch
per partition, at once. That batches exactly as much as arrives (a burst is one request, a
lone event leaves at once) and costs 35% less CPU per event than a ``send`` per event with
``linger_ms`` (bench/RESULTS.md). Every node reads every partition from the end it found
at start (no consumer group: each node needs every scene's events, see below), skips its own
records by their ``o`` header, drops changes older than one already delivered for the same
object, numbers the rest and hands them to its handlers, also synchronously.

What a subscriber can rely on, on every node:

- each object's changes arrive in increasing stamp order (the order they were accepted on
  one node; across nodes, last writer wins);
- ``seq`` is per scene *and per node*, contiguous, with the node's ``epoch``: a client that
  reconnects to another node sees another epoch and resyncs;
- across the objects of one scene, order is per origin: a node's own changes may overtake
  another node's earlier ones (they skip the Kafka round trip).

Delivery is at most once: an event queued when its node dies, or refused by Kafka past its
timeouts, is lost (counted as ``kafka_unsent``); the subscribers of other nodes see a gap in
nothing (seq is per node), and the object's next change repairs its state. The queue towards
Kafka is bounded (``max_queue``): beyond it the oldest events are dropped and counted.

Every node consumes every scene because any node may answer a REST read or build a snapshot
of any object, and its cache of objects follows the events it consumes
(:meth:`aesel.services.content.SceneContent.follow`). Records of scenes no local subscriber
wants are dropped after the cheap header check and one JSON decode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from aesel.cluster import wire
from aesel.cluster.stamps import Stamps
from aesel.errors import BackendUnavailable
from aesel.logutil import LogLimiter, Throttle
from aesel.model.codes import MsgType
from aesel.model.event import TOUCH, Event

log = logging.getLogger(__name__)
for _name in ("aiokafka", "aiokafka.client", "aiokafka.conn", "aiokafka.consumer.fetcher"):
    logging.getLogger(_name).addFilter(Throttle(10.0))  # it logs each retry while Kafka is away

Handler = Callable[[Event], None]

# produce->consume lag buckets, seconds
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# updates that a later one supersedes: they expire when Kafka was away; every other change
# (creates, deletes, actions, touches) is sent however late, since caches depend on it
STREAMED = frozenset({MsgType.OBJ_UPD, MsgType.PROP_UPD})


class KafkaUnavailable(BackendUnavailable):
    """Kafka could not be reached at start (one clear line for the operator)."""


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str
    prefix: str = "aesel"
    partitions: int = 16
    # events go out in one record batch per partition per loop turn (_produce), so they never
    # wait to fill a batch; linger applies to the state records only, which want no delay
    linger_ms: int = 0
    fetch_max_wait_ms: int = 10  # a consumer's longest wait for a fetch with no new records
    max_queue: int = 100_000  # events waiting for the producer
    max_age: float = 2.0  # an update that waited longer for Kafka is dropped (stale)
    connect_timeout: float = 15.0

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}.events"

    @property
    def state_topic(self) -> str:
        return f"{self.prefix}.state"


@contextlib.contextmanager
def connecting() -> Iterator[None]:
    """While a node first connects, aiokafka's own errors are not logged: a failure becomes
    one clear line of ours (:class:`KafkaUnavailable`)."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def ensure_topics(cfg: KafkaConfig) -> int:
    """Create the two topics if they do not exist (idempotent); fail clearly if unreachable.

    Returns the number of partitions of the events topic (an existing topic keeps its own).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap, request_timeout_ms=10_000)
    try:
        try:
            with connecting():
                await asyncio.wait_for(admin.start(), cfg.connect_timeout)
        except (TimeoutError, KafkaError, OSError) as e:
            raise KafkaUnavailable(f"kafka at {cfg.bootstrap} is unreachable: {e!r}") from None
        topics = [
            NewTopic(
                cfg.events_topic, cfg.partitions, 1, topic_configs={"retention.ms": "3600000"}
            ),
            NewTopic(cfg.state_topic, 1, 1, topic_configs={"cleanup.policy": "compact"}),
        ]
        for topic in topics:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
        # a topic is usable once its leader is known: wait for the metadata
        for _ in range(100):
            described = await admin.describe_topics([cfg.events_topic, cfg.state_topic])
            if all(t.get("partitions") for t in described):
                return len(described[0]["partitions"])
            await asyncio.sleep(0.1)
        raise KafkaUnavailable(f"kafka at {cfg.bootstrap} did not make the topics ready")
    finally:
        await admin.close()


async def quietly(aw: Awaitable[Any], within: float = 5.0) -> None:
    """Await a Kafka client's ``stop``: it may fail or time out when Kafka is away, and
    aiokafka's consumer may even raise ``CancelledError`` from its own fetch tasks; none of
    that may stop a node from stopping (a real cancellation of the caller still propagates)."""
    try:
        await asyncio.wait_for(aw, within)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception as e:
        log.debug("kafka client stop: %r", e)


def make_consumer(cfg: KafkaConfig, client_id: str, **extra: Any) -> Any:
    """A reader of assigned partitions: no consumer group, nothing committed (every node reads
    every partition itself, from where it chooses)."""
    return AIOKafkaConsumer(
        bootstrap_servers=cfg.bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        request_timeout_ms=10_000,
        **extra,
    )


def make_producer(cfg: KafkaConfig, node: str) -> Any:
    return AIOKafkaProducer(
        bootstrap_servers=cfg.bootstrap,
        client_id=f"aesel-{node}",
        linger_ms=cfg.linger_ms,
        acks=1,
        max_batch_size=256 * 1024,
        request_timeout_ms=5_000,
        compression_type=None,
    )


@dataclass
class BusStats:
    produced: int = 0  # events handed to Kafka
    consumed: int = 0  # other nodes' events delivered here
    skipped: int = 0  # records read and not delivered (own, or no local interest)
    bytes_out: int = 0  # event record bytes produced (values)
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> events
    lag_counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    lag_sum: float = 0.0
    behind: dict[int, int] = field(default_factory=dict)  # partition -> records behind its end

    @property
    def offsets_lag(self) -> int:
        """Records not yet read, summed over the partitions (as of each one's last read)."""
        return sum(self.behind.values())

    def observe_lag(self, seconds: float) -> None:
        self.lag_sum += seconds
        for i, edge in enumerate(LAG_BUCKETS):
            if seconds <= edge:
                self.lag_counts[i] += 1
                return
        self.lag_counts[-1] += 1


class KafkaBus:
    """The bus of one node of a cluster (see the module doc)."""

    def __init__(self, cfg: KafkaConfig, origin: str, producer: Any) -> None:
        self.cfg = cfg
        self.origin = origin
        self._origin_bytes = origin.encode()
        self.producer = producer
        self.stamps = Stamps(origin)
        self.stats = BusStats()
        self._handlers: list[Handler] = []
        self._followers: list[Handler] = []  # run for other nodes' events, before handlers
        self._seq: dict[str, int] = {}
        self._queue: deque[tuple[Event, int, int]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: Any = None
        self._partitions = 1
        # whether this node needs an event of (scene, key) from another node at all: a
        # subscriber, a recording, or a cached value; None: every event
        self.wants: Callable[[str, str], bool] | None = None
        self._closing = False
        self._limited = LogLimiter(log)

    # -- the Bus contract -------------------------------------------------------------------

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def follow(self, handler: Handler) -> None:
        """Run ``handler`` for each event from another node, before the subscribers see it
        (the caches that must reflect it, for snapshots and REST reads)."""
        self._followers.append(handler)

    def last_seq(self, scene: str) -> int:
        return self._seq.get(scene, 0)

    def publish(self, event: Event) -> None:
        stamp = self.stamps.issue(event.key)
        self._enqueue(self._deliver(event, self._followers_none), stamp)

    def touch(self, scene: str, key: str) -> None:
        """Tell the other nodes' caches that ``key`` changed (a record no subscriber sees)."""
        stamp = self.stamps.issue(key)
        self._enqueue(Event(scene, TOUCH, key, {}, 0, self.origin), stamp)

    def _enqueue(self, event: Event, stamp: int) -> None:
        if self._closing:
            self.stats.dropped["kafka_closing"] += 1
            return
        if len(self._queue) >= self.cfg.max_queue:
            self._queue.popleft()
            self.stats.dropped["kafka_backlog"] += 1
        self._queue.append((event, stamp, time.time_ns()))
        self._wake.set()

    _followers_none: list[Handler] = []

    def _deliver(self, event: Event, followers: list[Handler]) -> Event:
        seq = self._seq.get(event.scene, 0) + 1
        self._seq[event.scene] = seq
        event = Event(
            event.scene, event.msg_type, event.key, event.payload, seq, event.origin or self.origin,
            event.t_in,
        )  # fmt: skip
        for handler in followers:
            try:
                handler(event)
            except Exception:
                log.exception("follower failed on scene %r seq %d", event.scene, seq)
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed on scene %r seq %d", event.scene, seq)
        return event

    def _touched(self, remote: wire.Remote) -> None:
        event = Event(remote.scene, TOUCH, remote.key, remote.payload, 0, remote.origin)
        for handler in self._followers:
            try:
                handler(event)
            except Exception:
                log.exception("follower failed on a touch of %r", remote.key)

    # -- life -------------------------------------------------------------------------------

    async def start(self, partitions: int) -> None:
        """Start reading every partition from its end, and the producer task."""
        consumer = make_consumer(
            self.cfg,
            f"aesel-{self.origin}-events",
            fetch_min_bytes=1,
            max_partition_fetch_bytes=4 << 20,
        )
        await asyncio.wait_for(consumer.start(), self.cfg.connect_timeout)
        self._partitions = partitions
        tps = [TopicPartition(self.cfg.events_topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve the end now, not at the first fetch
        self._consumer = consumer
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._produce(), name="kafka-produce"),
            loop.create_task(self._consume(), name="kafka-consume"),
        ]

    async def stop(self, *, drain: float = 2.0) -> None:
        """Send what is queued (for up to ``drain`` seconds), then stop reading and writing."""
        self._closing = True
        deadline = time.monotonic() + drain
        while self._queue and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.flush(), max(0.1, deadline - time.monotonic()))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._consumer is not None:
            await quietly(self._consumer.stop())
            self._consumer = None
        if self._queue:
            self.stats.dropped["kafka_unsent"] += len(self._queue)
            self._queue.clear()

    # -- towards Kafka ----------------------------------------------------------------------

    def _sent(self, fut: asyncio.Future[Any], n: int) -> None:
        if fut.cancelled():
            self.stats.dropped["kafka_unsent"] += n
        elif fut.exception() is not None:
            self.stats.dropped["kafka_unsent"] += n
            self._limited.warning("kafka refused %d events: %r", n, fut.exception())

    async def _produce(self) -> None:
        """Write the queue to Kafka: every event queued since the last turn goes out at once,
        one record batch per partition (no per-record future, no waiting to fill a batch)."""
        topic, origin = self.cfg.events_topic, ("o", self._origin_bytes)
        queue, stats, producer = self._queue, self.stats, self.producer
        partitions = list(range(self._partitions))
        partition_of = DefaultPartitioner()
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
            expired = time.time_ns() - int(self.cfg.max_age * 1e9)
            batches: dict[int, list[Any]] = {}  # partition -> [builder, events, bytes]
            ready: list[tuple[int, Any, int, int]] = []
            while queue and len(ready) < 64:
                event, stamp, wall = queue.popleft()
                if wall < expired and event.msg_type in STREAMED:
                    stats.dropped["kafka_expired"] += 1  # Kafka was away: a newer one will do
                    continue
                value = wire.encode_event(event, stamp, wall)
                key = event.scene.encode()
                p = partition_of(key, partitions, partitions)
                entry = batches.get(p)
                if entry is None:
                    entry = batches[p] = [producer.create_batch(), 0, 0]
                headers = [origin, ("k", event.key.encode())]
                if entry[0].append(timestamp=None, key=key, value=value, headers=headers) is None:
                    ready.append((p, entry[0], entry[1], entry[2]))  # full: send, start another
                    entry[:] = [producer.create_batch(), 0, 0]
                    entry[0].append(timestamp=None, key=key, value=value, headers=headers)
                entry[1] += 1
                entry[2] += len(value)
            ready += [(p, e[0], e[1], e[2]) for p, e in batches.items() if e[1]]
            for p, builder, n, size in ready:
                try:
                    fut = await producer.send_batch(builder, topic, partition=p)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # Kafka away past its timeouts: drop, count, go on
                    stats.dropped["kafka_unsent"] += n
                    self._limited.warning("kafka: cannot send events: %r", e)
                    await asyncio.sleep(0.05)
                    continue
                fut.add_done_callback(functools.partial(self._sent, n=n))
                stats.produced += n
                stats.bytes_out += size

    # -- from Kafka -------------------------------------------------------------------------

    async def _consume(self) -> None:
        consumer, stats, own = self._consumer, self.stats, self._origin_bytes
        followers = self._followers
        wants = self.wants
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._limited.warning("kafka: reading events failed, retrying: %r", e)
                await asyncio.sleep(0.5)
                continue
            now_wall = time.time_ns()
            now = time.perf_counter_ns()
            for tp, records in batch.items():
                for r in records:
                    headers = r.headers
                    if headers and headers[0][1] == own:
                        stats.skipped += 1
                        continue
                    if (
                        wants is not None
                        and len(headers) > 1
                        and not wants(r.key.decode(), headers[1][1].decode())
                    ):
                        stats.skipped += 1  # nobody here needs it: not even decoded
                        continue
                    try:
                        remote = wire.decode_event(r.value)
                    except wire.BadRecord as e:
                        stats.dropped["kafka_bad_record"] += 1
                        self._limited.warning("kafka: %s (partition %d)", e, tp.partition)
                        continue
                    stats.observe_lag(max(0, now_wall - remote.wall) / 1e9)
                    if not self.stamps.admit(remote.key, remote.stamp, remote.origin):
                        stats.dropped["stale"] += 1
                        continue
                    if remote.msg_type == TOUCH:
                        self._touched(remote)
                        continue
                    stats.consumed += 1
                    self._deliver(
                        Event(
                            remote.scene, remote.msg_type, remote.key, remote.payload, 0,
                            remote.origin, now,
                        ),
                        followers,
                    )  # fmt: skip
                hw = consumer.highwater(tp)
                if hw is not None and records:
                    stats.behind[tp.partition] = max(0, hw - records[-1].offset - 1)
