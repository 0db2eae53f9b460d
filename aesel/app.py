"""The composition root: builds the store, bus, hub, services and servers; starts and stops.

Only this module knows which backend is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

from aesel.cluster.consul import ConsulCollector, ConsulRegistration, ConsulView
from aesel.cluster.membership import ClusterView, NodeInfo, SingleNode
from aesel.config import Settings
from aesel.errors import AeselError
from aesel.metrics import ClusterSources, Sources, make_registry
from aesel.net import ConnectionLimits, connection_caps, watch_descriptors
from aesel.realtime.bus import MemoryBus
from aesel.realtime.hub import Hub
from aesel.realtime.ws import Unauthorized as WsUnauthorized
from aesel.realtime.ws import WsServer, open_verifier
from aesel.rest import catalog as catalog_api
from aesel.rest.app import create_app
from aesel.rest.server import guarded_protocol
from aesel.services.assets import AssetService, CollectionService
from aesel.services.bundle import Services
from aesel.services.catalog import Catalog
from aesel.services.destinations import Destinations
from aesel.services.directory import SceneDirectory
from aesel.services.ingest import Ingest
from aesel.services.objects import ObjectService
from aesel.services.policy import Principal
from aesel.services.projects import ProjectService
from aesel.services.properties import PropertyService
from aesel.services.recordings import Recorder, Recordings, Replays
from aesel.services.scenes import SceneService
from aesel.services.throttle import LoginThrottle
from aesel.services.users import UserService, stored_secret
from aesel.storage.base import ContentStore, GraphStore, RecordingStore
from aesel.storage.catalog import BlobStore, CatalogStore
from aesel.storage.embedded import SqliteStore
from aesel.storage.embedded.catalog import FileBlobs, SqliteCatalog
from aesel.storage.embedded.recordings import FileRecordings
from aesel.udp.crypto import CbcCodec, UdpSecurity, cbc_key_bytes
from aesel.udp.egress import DeviceKeyIssuer, UdpEgress
from aesel.udp.floors import ReplayFloors
from aesel.udp.server import UdpEndpoint

if TYPE_CHECKING:  # the cluster needs aiokafka (pip install 'aesel[cluster]'), one node not
    from aesel.cluster.kafka import KafkaBus, KafkaConfig
    from aesel.cluster.state import ClusterState

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


CBC_KEYS = ("aes_in_key", "aes_in_iv", "aes_out_key", "aes_out_iv")


def metrics_token(s: Settings) -> str | None:
    """The bearer token ``/metrics`` requires: None = open (no ``--auth``, no token), and an
    empty string closes it (``--auth`` without ``--metrics-token``)."""
    token = s.metrics_token.get_secret_value()
    return token if token or s.auth else None


def make_security(s: Settings) -> UdpSecurity:
    """The UDP encryption state from ``--udp-security`` and the ``--aes-*`` keys."""
    modes = {m for m in s.udp_security.replace(",", "+").split("+") if m and m != "off"}
    if not modes <= {"gcm", "cbc"}:
        raise ValueError(f"udp_security is {s.udp_security!r}, expected off, gcm, cbc or gcm+cbc")
    cbc_in = cbc_out = None
    if "cbc" in modes:
        enc = s.aes_key_encoding

        def key(name: str, size: int) -> bytes:
            try:
                return cbc_key_bytes(getattr(s, name).get_secret_value(), size, enc)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None

        cbc_in = CbcCodec(key("aes_in_key", 32), key("aes_in_iv", 16))
        cbc_out = CbcCodec(key("aes_out_key", 32), key("aes_out_iv", 16))
    return UdpSecurity(gcm="gcm" in modes, cbc_in=cbc_in, cbc_out=cbc_out)


@dataclass
class Backends:
    """The stores a node uses. Embedded by default (SQLite and files in the data dir, single
    node only); with ``--mongo-url``, objects, properties, the catalog and asset bytes live in
    MongoDB, and with ``--neo4j-url`` scenes, devices, registrations and links live in Neo4j.
    Each call goes to one backend: nothing spans two, so no cross-store transaction is promised.
    """

    content: ContentStore
    scenes: GraphStore
    catalog: CatalogStore
    blobs: BlobStore
    sweep: Callable[[], Awaitable[int]] | None = None  # removes orphan asset files at start
    recordings: RecordingStore | None = None  # None: files in the data dir

    def each(self) -> list[Any]:
        """Every distinct store, in opening order."""
        out: list[Any] = []
        for store in (self.content, self.scenes, self.catalog, self.blobs, self.recordings):
            if store is None:
                continue
            if all(store is not other for other in out):
                out.append(store)
        return out


def backends(s: Settings) -> Backends:
    """The backends ``s`` names; the embedded ones where it names none."""
    mongo, neo4j = s.mongo_url.get_secret_value(), s.neo4j_url
    embedded = SqliteStore(s.data_dir) if not (mongo and neo4j) else None
    content: ContentStore | None = embedded
    scenes: GraphStore | None = embedded
    files_catalog, files = SqliteCatalog(s.data_dir), FileBlobs(s.data_dir)
    catalog: CatalogStore = files_catalog
    blobs: BlobStore = files
    recordings: RecordingStore | None = None

    async def sweep() -> int:
        return await files.collect(await files_catalog.asset_keys())

    try:
        if mongo:
            from aesel.storage.mongo import MongoBlobStore, MongoCatalogStore, MongoObjectStore
            from aesel.storage.mongo.recordings import MongoRecordings

            t = s.store_timeout
            content = MongoObjectStore(mongo, timeout=t)
            catalog = MongoCatalogStore(mongo, timeout=t)
            blobs = MongoBlobStore(mongo, timeout=t)
            owner = s.node_id or f"{socket.gethostname()}:{s.data_dir.resolve()}"
            recordings = MongoRecordings(mongo, owner=owner, timeout=t)
        if neo4j:
            from aesel.storage.neo4j import Neo4jSceneStore

            user, password = s.neo4j_user, s.neo4j_password.get_secret_value()
            auth = (user, password) if user else None
            scenes = Neo4jSceneStore(neo4j, auth=auth, timeout=s.store_timeout)
    except ImportError as e:
        raise ValueError(
            f"the MongoDB/Neo4j drivers are not installed ({e.name}): pip install 'aesel[cluster]'"
        ) from None
    assert content is not None and scenes is not None
    return Backends(content, scenes, catalog, blobs, None if mongo else sweep, recordings)


class Node:
    """One aesel process: HTTP API, UDP events, and the streaming path between them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backends = backends(settings)
        self.store = self.backends.content
        self.node_id = node_id(settings)
        self.kafka: KafkaConfig | None = None
        self.bus: MemoryBus | KafkaBus
        self._kafka_bus: KafkaBus | None = None
        if settings.kafka:
            try:
                from aesel.cluster.kafka import KafkaBus, KafkaConfig
                from aesel.cluster.state import ClusterState, SharedDirectory
            except ImportError as e:
                raise ValueError(
                    f"the Kafka client is not installed ({e.name}): pip install 'aesel[cluster]'"
                ) from None
            if not (settings.mongo_url.get_secret_value() and settings.neo4j_url):
                raise ValueError(
                    "--kafka needs --mongo-url and --neo4j-url: the nodes of a cluster share "
                    "their stores (the embedded store belongs to one process)"
                )
            if settings.auth and not settings.jwt_secret.get_secret_value():
                raise ValueError(
                    "--kafka with --auth needs --jwt-secret, the same on every node: a token "
                    "issued by one node must be valid on all"
                )
            self.kafka = KafkaConfig(settings.kafka, prefix=settings.kafka_topic_prefix)
            self.bus = self._kafka_bus = KafkaBus(self.kafka, self.node_id, producer=None)
        else:
            self.bus = MemoryBus(self.node_id)
        drops: Counter[str] = Counter()  # one count of dropped input, by reason, for every path
        self.hub = Hub(
            max_outbox=settings.max_outbox,
            slow_timeout=settings.slow_timeout,
            high_water=settings.ws_high_water,
            drops=drops,
            udp_rate=settings.udp_rate,
        )
        self.bus.subscribe(self.hub.deliver)
        self.security = make_security(settings)
        self.floors = ReplayFloors(self.security, self.store, settings.flush_interval)
        self.egress = UdpEgress(
            self.hub, self.security, enforced=settings.auth, plaintext=settings.udp_plaintext
        )
        directory = (
            SharedDirectory(self.backends.scenes)
            if self.kafka is not None
            else SceneDirectory(self.backends.scenes)
        )
        self.state: ClusterState | None = None
        sink: UdpEgress | ClusterState = self.egress
        if self.kafka is not None:
            info = NodeInfo(self.node_id, settings.advertise_host or settings.host, 0, 0, 0)
            self.state = ClusterState(
                self.kafka,
                info,
                None,
                self.egress,
                lease=settings.cluster_lease,
                beat=settings.cluster_heartbeat,
                directory=directory,
            )
            directory.on_change = self.state.scene_changed  # type: ignore[attr-defined]
            self.state.on_rejoin = self._rejoined
            sink = self.state
        flush = settings.flush_interval
        objects = ObjectService(self.store, directory, self.bus, drops, flush_interval=flush)
        properties = PropertyService(self.store, directory, self.bus, drops, flush_interval=flush)
        self.services = Services(
            objects=objects,
            properties=properties,
            scenes=SceneService(
                self.backends.scenes,
                directory=directory,
                sink=sink,
                keys=DeviceKeyIssuer(self.security),
                destinations=Destinations.parse(settings.device_networks.split(",")),
                max_devices_per_scene=settings.max_devices_per_scene,
                max_devices_per_user=settings.max_devices_per_user,
            ),
            directory=directory,
            ingest=Ingest(objects, properties, is_protected=self.security.is_protected),
            drops=drops,
        )
        if self._kafka_bus is not None:
            self._kafka_bus.follow(objects.follow)
            self._kafka_bus.follow(properties.follow)
            hub, otable, ptable = self.hub, objects.table, properties.table

            def wants(scene: str, key: str) -> bool:
                return (
                    hub.wants(scene)
                    or recorder.recording(scene)
                    or otable.peek(key) is not None
                    or ptable.peek(key) is not None
                )

        self.recording_store = self.backends.recordings or FileRecordings(settings.data_dir)
        scenes = self.services.scenes
        recorder = Recorder(self.recording_store, scenes, flush_interval=flush, drops=drops)
        self.bus.subscribe(recorder.on_event)
        if self._kafka_bus is not None:
            self._kafka_bus.wants = wants
        self.recordings = Recordings(
            recorder, Replays(self.recording_store, scenes, objects, properties)
        )
        self.catalog_store = self.backends.catalog
        self.blobs = self.backends.blobs
        self.catalog = Catalog(
            assets=AssetService(self.catalog_store, self.blobs, max_size=settings.max_asset_size),
            collections=CollectionService(self.catalog_store),
            projects=ProjectService(self.catalog_store),
            users=UserService(
                self.catalog_store,
                secret=settings.jwt_secret.get_secret_value() or stored_secret(settings.data_dir),
                previous=settings.previous_secrets(),
                throttle=LoginThrottle(
                    user_failures=settings.login_user_failures,
                    address_failures=settings.login_address_failures,
                    max_lockout=settings.login_max_lockout,
                ),
            ),
            auth=settings.auth,
        )
        if self.security.cbc:
            s = settings  # Aesel answered its configured key texts (docs/compat.md §3.7)
            keys = {k: getattr(s, k).get_secret_value() for k in CBC_KEYS}
            self.services.scenes.response_extra = {
                "encryption_key": keys["aes_in_key"], "encryption_iv": keys["aes_in_iv"],
                "encryption_password": "", "encryption_salt": "",
                "decryption_key": keys["aes_out_key"], "decryption_iv": keys["aes_out_iv"],
                "decryption_password": "", "decryption_salt": "",
            }  # fmt: skip
        # connection caps below the descriptor limit, so the API answers when the ws port is full
        refused: Counter[tuple[str, str]] = Counter()
        http_cap, ws_cap = connection_caps(
            resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            settings.http_max_connections,
            settings.ws_max_connections,
        )
        per_address = settings.max_connections_per_address
        self.http_limits = ConnectionLimits(
            "http", http_cap, per_address or max(1, http_cap // 4), refused
        )
        self.ws_limits = ConnectionLimits("ws", ws_cap, per_address or max(1, ws_cap // 4), refused)
        self.ws = WsServer(
            self.services,
            self.hub,
            self.bus.last_seq,
            drops,
            node=self.bus.origin,
            verifier=self._verify_ws_token if settings.auth else open_verifier,
            max_message=settings.ws_max_message,
            high_water=settings.ws_high_water,
            sndbuf=settings.ws_sndbuf,
            ping_interval=settings.ws_ping_interval,
            limits=self.ws_limits,
            open_timeout=settings.header_timeout,
        )
        self.catalog.users.on_revoked = self.ws.revoke
        if self.state is not None:
            state = self.state
            state.on_revoke = self.ws.revoke

            def revoked(user: str) -> None:
                self.ws.revoke(user)
                state.revoked(user)

            self.catalog.users.on_revoked = revoked
        self.cluster: ClusterView = self.state or SingleNode(
            NodeInfo(self.node_id, settings.advertise_host or settings.host, 0, 0, 0)
        )
        self.metrics = make_registry(
            Sources(
                hub=self.hub,
                drops=drops,
                udp_in=lambda: self.udp.received if self.udp is not None else 0,
                ws_in=lambda: self.ws.events_in,
                ws_connections=lambda: self.ws.connections,
                loop_lag=self.ws.lag.recent,
                udp_kernel_drops=lambda: self.udp.kernel_drops() if self.udp is not None else 0,
                unsaved=lambda: (
                    sum(
                        t.pending
                        for t in (self.services.objects.table, self.services.properties.table)
                    )
                    + len(self.security.unsaved_floors())
                ),
                connections_refused=refused,
                logins_refused=self.catalog.users.throttle.refused,
                cluster=self._cluster_sources(),
            )
        )
        self.udp: UdpEndpoint | None = None
        self._producer: Any = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._http: _Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._fd_watch: asyncio.Task[None] | None = None
        self.http_port = 0
        self.udp_port = 0
        self.ws_port = 0
        self.consul: ConsulRegistration | None = None

    async def _verify_ws_token(self, token: str | None) -> tuple[Principal, float]:
        """With ``--auth``, a WebSocket needs the same JWT as the HTTP API."""
        if token is None:
            raise WsUnauthorized("a token is required: Authorization: Bearer, cookie or ?token=")
        try:
            user, expires = await self.catalog.users.authenticate_with_expiry(token)
        except AeselError as e:
            raise WsUnauthorized(e.message) from None
        return Principal(user=user.id, admin=user.admin, enforced=True), expires

    async def start(self) -> None:
        s = self.settings
        for store in self.backends.each():
            await store.open()
        partitions = await self._join() if self.kafka is not None else 0
        await self.floors.start()  # before the registrations make the gcm channels
        if self.state is not None:
            self.state.loading = True
        n = await self.services.scenes.load_registrations()
        if self.state is not None:
            self.state.loaded()
        await self.recordings.recorder.open()
        if self.backends.sweep is not None:
            orphans = await self.backends.sweep()
            if orphans:
                log.warning(
                    "removed %d asset files that no metadata names (a crash mid-upload)", orphans
                )
        if s.auth:
            await self.catalog.users.seed_admin(s.admin_user, s.admin_password.get_secret_value())
        self.services.objects.table.start()
        self.services.properties.table.start()

        if self._kafka_bus is not None:
            await self._kafka_bus.start(partitions)  # other nodes' events, before taking any input

        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: UdpEndpoint(
                self.services.ingest,
                self.services.drops,
                self.security,
                principal=self.egress.principal,
                max_size=s.udp_max_size,
            ),
            local_addr=(s.host, s.udp_port),
        )
        _grow_buffers(transport.get_extra_info("socket"), s.udp_buffer)
        self._udp_transport = transport
        self.udp = protocol
        self.udp_port = transport.get_extra_info("sockname")[1]
        if self.state is not None:
            # fenced: every datagram goes through the fence's sendto (no sendmmsg bypass)
            self.hub.attach_udp(fenced(transport.sendto, self.state.may_send, self.services.drops))
        else:
            self.hub.attach_udp(transport.sendto, protocol.multi)
        if self.security.cbc:
            self.services.scenes.response_extra.update(
                event_destination_host=s.host, event_destination_port=self.udp_port
            )
        self._fd_watch = loop.create_task(watch_descriptors(), name="fd-watch")
        await self.ws.start(s.host, s.ws_port)
        self.ws_port = self.ws.port

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((s.host, s.http_port))
        self.http_port = sock.getsockname()[1]
        app = create_app(self.services, max_body=s.max_body)
        catalog_api.install(app, self.catalog)
        app.state.metrics = self.metrics
        app.state.ws_port = self.ws_port  # for the viewer's /viewer-config.json
        app.state.cluster = self.cluster
        app.state.recordings = self.recordings
        app.state.health = self.problem
        app.state.metrics_token = metrics_token(s)
        if app.state.metrics_token == "":
            log.warning("--auth without --metrics-token: GET /metrics answers 401 to everyone")
        config = uvicorn.Config(
            app,
            loop="none",
            http=guarded_protocol(self.http_limits, s.header_timeout),
            ws="none",
            timeout_keep_alive=s.http_keepalive,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
        )
        self._http = _Server(config)
        self._http_task = loop.create_task(self._http.serve(sockets=[sock]), name="http")
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError("http server stopped during start-up")
            await asyncio.sleep(0.01)
        info = NodeInfo(
            self.node_id, s.advertise_host or s.host, self.http_port, self.udp_port, self.ws_port,
            time.time(),
        )  # fmt: skip
        if self.state is not None:
            self.state.announce(info)
        else:
            self.cluster = SingleNode(info)
            app.state.cluster = self.cluster
        if s.consul:  # once /health answers, so the agent's first check passes
            consul = ConsulRegistration(s.consul, info, token=s.consul_token.get_secret_value())
            await consul.start()
            self.consul = consul
            self.metrics.register(ConsulCollector(consul))
            app.state.cluster = ConsulView(self.cluster, consul)
        log.info(
            "aesel serving http=%s:%d udp=%s:%d ws=%s:%d data=%s (%d registrations loaded)",
            s.host, self.http_port, s.host, self.udp_port, s.host, self.ws_port, s.data_dir, n,
        )  # fmt: skip

    def _rejoined(self) -> None:
        """Back on Kafka after an outage: other nodes' changes may have been missed, so the
        caches reload from the stores."""
        dropped = sum(
            t.evict_clean() for t in (self.services.objects.table, self.services.properties.table)
        )
        self.services.directory.clear()
        log.warning("cluster: reloading caches after the outage (%d values dropped)", dropped)

    def _cluster_sources(self) -> ClusterSources | None:
        bus, state = self._kafka_bus, self.state
        if bus is None or state is None:
            return None
        from aesel.cluster.kafka import LAG_BUCKETS

        st = bus.stats
        return ClusterSources(
            events=lambda: {
                "produced": st.produced,
                "consumed": st.consumed,
                "skipped": st.skipped,
                "bytes_out": st.bytes_out,
            },
            dropped=lambda: st.dropped,
            lag=lambda: (st.lag_counts, st.lag_sum, LAG_BUCKETS),
            offsets_behind=lambda: st.offsets_lag,
            owned_devices=state.owned,
            live_nodes=lambda: len(state.live()),
            claims=lambda: state.stats.claims,
        )

    async def _join(self) -> int:
        """Join the cluster on Kafka: the topics, the producer, and the shared state read to
        its end. Returns the events topic's partition count."""
        from aesel.cluster.kafka import KafkaUnavailable, ensure_topics, make_producer

        assert self.kafka is not None and self.state is not None
        cfg = self.kafka
        partitions = await ensure_topics(cfg)
        producer = make_producer(cfg, self.node_id)
        try:
            await asyncio.wait_for(producer.start(), cfg.connect_timeout)
        except Exception as e:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise KafkaUnavailable(f"kafka at {cfg.bootstrap} is unreachable: {e!r}") from None
        self._producer = producer
        self.state.producer = producer
        if self._kafka_bus is not None:
            self._kafka_bus.producer = producer
        try:
            await self.state.start()
        except (TimeoutError, OSError) as e:
            raise KafkaUnavailable(
                f"kafka at {cfg.bootstrap}: reading cluster state: {e!r}"
            ) from None
        return partitions

    def problem(self) -> str | None:
        """Why the node cannot serve (a store closed or failing), for ``/health``."""
        for store in self.backends.each():
            check = getattr(store, "problem", None)  # an optional capability of a store
            found = check() if check is not None else None
            if found is not None:
                return str(found)
        return None

    async def stop(self) -> None:
        """Stop taking input, then flush streamed state and close the store."""
        if self.consul is not None:  # first: no client is sent to a node that is going away
            await self.consul.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        await self.ws.stop()
        if self._fd_watch is not None:
            self._fd_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fd_watch
        if self._udp_transport is not None:
            self._udp_transport.close()
        if self._kafka_bus is not None:
            await self._kafka_bus.stop()  # sends what is queued
        if self.state is not None:
            await self.state.stop()  # leaves: the others take the devices over at once
        if self._producer is not None:
            from aesel.cluster.kafka import quietly

            await quietly(self._producer.stop())
            self._producer = None
        await self.floors.stop()
        await self.recordings.replays.close()
        await self.recordings.recorder.close()
        for table in (self.services.objects.table, self.services.properties.table):
            try:
                await table.close()
            except Exception:
                log.exception("final flush of %s failed", table.name)
        for store in reversed(self.backends.each()):
            close = getattr(store, "close", None)
            if close is not None:
                await close()
        log.info("aesel stopped")


def fenced(
    send: Callable[[bytes, Any], None], may_send: Callable[[], bool], drops: Counter[str]
) -> Callable[[bytes, Any], None]:
    """``send``, dropping (counted as ``fenced``) while a cluster node may not send: it may
    have been taken for dead, and another node may be sending to its devices."""

    def gated(data: bytes, addr: Any) -> None:
        if may_send():
            send(data, addr)
        else:
            drops["fenced"] += 1

    return gated


def node_id(s: Settings) -> str:
    """``--node-id``, else ``<hostname>-<http port>`` (stable across restarts), else with an
    any-port node a random suffix."""
    if s.node_id:
        return s.node_id
    host = socket.gethostname()
    return f"{host}-{s.http_port}" if s.http_port else f"{host}-{secrets.token_hex(3)}"


def _grow_buffers(sock: socket.socket | None, size: int) -> None:
    """Ask for large socket buffers so a burst of datagrams is queued, not dropped.

    The kernel caps the request at ``net.core.rmem_max``/``wmem_max``; what it granted is logged.
    """
    if sock is None:
        return
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
    log.debug(
        "udp buffers: rcv=%d snd=%d",
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
    )
