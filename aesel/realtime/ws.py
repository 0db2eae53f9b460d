"""The WebSocket endpoint (:8081): the asyncio adapter around ``protocol.Session``.

The connection handler owns the socket: it reads messages, feeds them to the session and
carries out the commands. Outbound bytes never go through ``await send()``: snapshots, replies
and the hub's event frames are prebuilt WebSocket frames written straight to the transport,
so a broadcast writes the same bytes to every subscriber and never awaits. The ``websockets``
library does the handshake, reads, pings and closes; compression is off (permessage-deflate
measured ~27 us per frame against ~9-15 us without, and 46-64 KiB per idle connection against
~14 KiB).

Authentication is a pluggable :data:`TokenVerifier`: it receives the bearer token (the
``Authorization: Bearer`` header, the ``access_token`` cookie or the ``token`` query
parameter) and returns the caller as a :class:`Principal` with the token's expiry, or raises
:class:`Unauthorized`, which answers the handshake with HTTP 401. The default accepts
everyone, as with auth off. An open connection whose user is deleted or deactivated, or whose
token expires, is closed with 4001.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from aesel.errors import AeselError
from aesel.model import inbound
from aesel.model.codes import CloseCode, MsgType
from aesel.model.stream import Format, Interest
from aesel.model.transform import Matrix
from aesel.net import REFUSED, ConnectionLimits
from aesel.realtime import codec, snapframe
from aesel.realtime.hub import BEHIND, CLOSING, WRITTEN, Hub, WsSubscriber, in_frame
from aesel.realtime.protocol import (
    Close,
    Inbound,
    Reply,
    Session,
    SetInterest,
    Subscribe,
    Unsubscribe,
    error,
)
from aesel.services.bundle import Services
from aesel.services.ingest import LoopLag, is_behind, stale
from aesel.services.policy import OPEN, Principal
from aesel.services.snapshot import Snapshots
from aesel.tokens import bearer

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """Raised by a token verifier to refuse a connection."""


TokenVerifier = Callable[[str | None], Awaitable[tuple[Principal, float]]]
SeqSource = Callable[[str], int]


async def open_verifier(token: str | None) -> tuple[Principal, float]:
    """The default verifier: auth off, everyone may do everything; nothing expires."""
    return OPEN, math.inf


def bearer_token(request: Request) -> str | None:
    """The handshake's token: ``Authorization: Bearer``, ``access_token`` cookie or ``?token=``."""
    token = bearer(request.headers.get("Authorization"), request.headers.get("Cookie"))
    if token is None:
        q = parse_qs(urlsplit(request.path).query).get("token")
        token = q[0] if q else None
    return token


def framed(obj: dict[str, Any], m_sd: Matrix | None) -> dict[str, Any]:
    """An object's JSON with its transform in a device's frame (``m_sd @ transform``)."""
    if m_sd is not None:
        obj["transform"] = in_frame(m_sd, obj["transform"])
    return obj


class AeselConnection(ServerConnection):
    """A ``websockets`` connection that the hub can write to synchronously (a hub ``Writer``)."""

    hub: Hub
    subs: dict[str, WsSubscriber]
    who: Principal = OPEN
    expires: float = math.inf  # the token's expiry (Unix time)
    pending_pong: asyncio.Future[float] | None = None
    slow = False  # marked slow: nothing more is written, so the 4008 frame is next in line
    tokens = 0.0  # the command budget (see WsServer.command_rate)
    refilled = 0.0
    limits: ConnectionLimits | None = None  # set on the per-server subclass (WsServer.start)
    open_timeout = 10.0
    _address = ""
    _admitted = False
    _accepted_at = 0.0

    # -- admission: a refused connection is answered 503 and closed before websockets sees it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if peer else ""
        if self.limits is not None and not self.limits.admit(self._address):
            cast(asyncio.Transport, transport).write(REFUSED)
            transport.close()
            return
        self._admitted = True
        self._accepted_at = time.monotonic()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            super().data_received(data)

    def eof_received(self) -> None:
        if self._admitted:
            super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        if self.limits is not None:
            self.limits.release(self._address)
            if self.request is None and time.monotonic() - self._accepted_at >= self.open_timeout:
                self.limits.count("handshake_timeout")  # websockets' open_timeout aborted it
        super().connection_lost(exc)

    def write(self, data: bytes) -> None:
        if not self.slow and not self.transport.is_closing():
            self.transport.write(data)

    def buffered(self) -> int:
        return int(self.transport.get_write_buffer_size())

    def offer(self, data: bytes, high: int) -> int:
        transport = self.transport
        if self.slow or transport.is_closing() or self.protocol.state is not State.OPEN:
            return CLOSING
        if transport.get_write_buffer_size() > high:
            return BEHIND
        transport.write(data)
        return WRITTEN

    def is_closing(self) -> bool:
        # after a close frame either way the transport may already refuse writes (write_eof)
        return self.slow or self.transport.is_closing() or self.protocol.state is not State.OPEN

    def close_slow(self, code: int, reason: str) -> None:
        if self.slow:
            return
        self.slow = True
        for sub in list(getattr(self, "subs", {}).values()):
            self.hub.unsubscribe(sub.scene, sub.id)
        with contextlib.suppress(Exception):
            self.protocol.fail(code, reason)
            self.send_data()
        # the close frame waits behind what is already buffered (nothing is added after it);
        # a client that does not read within a second sees the connection aborted (1006)
        self.loop.call_later(1.0, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        for sub in list(getattr(self, "subs", {}).values()):
            self.hub.on_writable(sub)


def _queued(conn: ServerConnection) -> int:
    """Frames the library has read from the connection and not handed over yet (0 if unknown:
    then every inbound event is applied as it comes)."""
    frames = getattr(getattr(conn, "recv_messages", None), "frames", None)
    try:
        return len(frames) if frames is not None else 0
    except TypeError:
        return 0


def _costs(cmds: list[Any]) -> bool:
    """Whether a message takes from the command budget: all do but events and unsubscribes."""
    return any(not isinstance(c, Close) for c in cmds) and not any(
        isinstance(c, Inbound | Unsubscribe) for c in cmds
    )


class WsServer:
    """Serves WebSocket clients; see the module docstring and ``docs/realtime.md``."""

    def __init__(
        self,
        services: Services,
        hub: Hub,
        last_seq: SeqSource,
        drops: Counter[str],
        *,
        node: str = "local",
        verifier: TokenVerifier = open_verifier,
        max_message: int = 1 << 16,
        high_water: int = 256 * 1024,
        sndbuf: int = 0,
        snapshot_limit: int = 100_000,
        ping_interval: float = 20.0,
        command_rate: float = 20.0,
        command_burst: int = 40,
        limits: ConnectionLimits | None = None,
        open_timeout: float = 10.0,
        max_batch: int = 1024,
    ) -> None:
        self.services = services
        self.max_batch = max_batch  # inbound events applied together at most (see _ingest)
        self.lag = LoopLag()  # how late the loop runs: how long inbound bytes may have waited
        self.hub = hub
        self.snapshots = Snapshots(
            services.scenes,
            services.objects,
            services.properties,
            last_seq,
            limit=snapshot_limit,
        )
        self.last_seq = last_seq
        self.drops = drops
        self.node = node
        self.verifier = verifier
        self.max_message = max_message
        self.high_water = high_water
        self.sndbuf = sndbuf
        self.snapshot_limit = snapshot_limit
        self.ping_interval = ping_interval
        # commands (subscribe, resync, ping, ...; not inbound events) a connection may send a
        # second, with a burst: one resync can cost a store query and megabytes of snapshot
        self.command_rate = command_rate
        self.command_burst = command_burst
        self.limits = limits
        self.open_timeout = open_timeout
        self._open: set[AeselConnection] = set()
        self._keepalive_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self.port = 0
        self.connections = 0
        self.received = 0
        self.events_in = 0

    async def start(self, host: str, port: int) -> None:
        self.lag.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        # one subclass per server carries its admission limits and handshake timeout
        conn_class = type(
            "AeselConnection",
            (AeselConnection,),
            {"limits": self.limits, "open_timeout": self.open_timeout},
        )
        self._server = await serve(
            self._handle,
            sock=sock,
            compression=None,
            max_size=self.max_message,
            max_queue=16,
            write_limit=(self.high_water, self.high_water // 4),
            process_request=self._authenticate,
            create_connection=conn_class,
            open_timeout=self.open_timeout,  # the whole handshake, as the HTTP header timeout
            ping_interval=None,  # one keepalive task for all connections, not one each
            backlog=4096,
        )
        if self.ping_interval > 0:
            self._keepalive_task = asyncio.get_running_loop().create_task(
                self._keepalive(), name="ws-keepalive"
            )

    async def _keepalive(self) -> None:
        """Ping every connection each interval; drop those that did not answer the last ping.

        One task for the whole node: a task per connection (the library's default) costs
        ~3 KiB of memory per connection.
        """
        while True:
            await asyncio.sleep(self.ping_interval)
            now = time.time()
            for conn in list(self._open):
                if conn.expires <= now:
                    self._close(conn, CloseCode.UNAUTHORIZED, "token expired")
                    continue
                pong = conn.pending_pong
                if pong is not None and not pong.done():
                    log.info("ws: connection %s did not answer a ping: closing", conn.id)
                    conn.transport.abort()
                    continue
                try:
                    waiter = cast("asyncio.Future[float]", await conn.ping())
                except Exception:
                    continue
                # retrieve the waiter's outcome so a closed connection logs nothing
                waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
                conn.pending_pong = waiter

    async def stop(self) -> None:
        self.lag.stop()
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive_task
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()

    def _close(self, conn: AeselConnection, code: CloseCode, reason: str) -> None:
        for sub in list(conn.subs.values()):
            self.hub.unsubscribe(sub.scene, sub.id)
        conn.subs.clear()
        conn.loop.create_task(conn.close(int(code), reason))

    def revoke(self, user: str) -> int:
        """Close every connection of ``user`` (deleted or deactivated) with 4001."""
        gone = [c for c in self._open if c.who.user == user]
        for conn in gone:
            self._close(conn, CloseCode.UNAUTHORIZED, "user deleted or deactivated")
        return len(gone)

    async def _authenticate(self, conn: ServerConnection, request: Request) -> Response | None:
        try:
            who, expires = await self.verifier(bearer_token(request))
        except Unauthorized as e:
            body = orjson.dumps({"err_code": 101, "err_msg": str(e) or "unauthorized"})
            headers = Headers(
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return Response(HTTPStatus.UNAUTHORIZED, "Unauthorized", headers, body)
        assert isinstance(conn, AeselConnection)
        conn.who = who
        conn.expires = expires
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert isinstance(conn, AeselConnection)
        conn.hub = self.hub
        conn.subs = {}
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.sndbuf:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        fmt = (
            Format.BINARY
            if "format=binary" in (conn.request.path if conn.request else "")
            else Format.JSON
        )
        session = Session(principal=conn.who.user, default_format=fmt)
        self.connections += 1
        self._open.add(conn)
        conn.write(codec.ws_frame(session.welcome(self.hub.epoch, self.node).data))
        conn.tokens, conn.refilled = float(self.command_burst), time.monotonic()
        # inbound events read while more messages are already queued, applied together
        inbound_batch: list[tuple[Inbound, int]] = []
        # when this reader last woke up to a message after waiting for one (the message was read
        # from the socket in that loop turn), and how late the loop was running then: how long
        # its bytes may have waited in the kernel
        idle, woke, woke_late = True, 0, 0.0
        try:
            async for message in conn:
                if idle:
                    idle, woke, woke_late = False, time.perf_counter_ns(), self.lag.recent()
                self.received += 1
                if not await self._writable(conn):
                    break
                cmds = session.receive(message)
                if _costs(cmds) and not self._budget(conn):
                    cmds = self._refuse(conn, session, cmds)
                for cmd in cmds:
                    if isinstance(cmd, Inbound):
                        inbound_batch.append((cmd, time.perf_counter_ns()))
                        if _queued(conn) and len(inbound_batch) < self.max_batch:
                            continue  # more messages wait: read them before applying these
                    if inbound_batch:
                        waited = (inbound_batch[0][1] - woke) / 1e9 + woke_late
                        self._ingest(conn, inbound_batch, is_behind(len(inbound_batch), waited))
                        inbound_batch = []
                    if not isinstance(cmd, Inbound):
                        await self._run(conn, session, cmd)
                if session.state is not session.state.OPEN:
                    break
                idle = not _queued(conn)  # then the next message is one it waits for
        except ConnectionClosed:
            pass
        finally:
            if inbound_batch:
                self._ingest(conn, inbound_batch, True)
            self.connections -= 1
            self._open.discard(conn)
            session.close()
            for sub in conn.subs.values():
                self.hub.unsubscribe(sub.scene, sub.id)
            conn.subs.clear()

    async def _writable(self, conn: AeselConnection) -> bool:
        """Wait until the connection's buffer drains below its watermark before the next
        command, whose reply or snapshot counts against the same limit as events: a client
        that stops reading stops being read, and is closed with 4008 after ``slow_timeout``."""
        if not conn.paused:
            return not conn.slow
        try:
            await asyncio.wait_for(conn.drain(), self.hub.slow_timeout)
        except TimeoutError:
            self.hub.stats.slow_disconnects += 1
            self.drops["slow_consumer"] += 1
            log.warning("ws: connection %s disconnected: slow consumer (not reading)", conn.id)
            conn.close_slow(4008, "slow consumer")
            return False
        return not conn.slow

    def _budget(self, conn: AeselConnection) -> bool:
        """Take one command from the connection's token bucket; ``False`` when it is empty."""
        now = time.monotonic()
        conn.tokens = min(
            float(self.command_burst), conn.tokens + (now - conn.refilled) * self.command_rate
        )
        conn.refilled = now
        if conn.tokens < 1.0:
            return False
        conn.tokens -= 1.0
        return True

    def _refuse(self, conn: AeselConnection, session: Session, cmds: list[Any]) -> list[Any]:
        """Answer an over-budget message with an error; returns what must still run (a close)."""
        self.drops["rate_limited"] += 1
        for cmd in cmds:
            if isinstance(cmd, Subscribe) and cmd.scene not in conn.subs:
                session.scenes.pop(cmd.scene, None)  # never subscribed: the session forgets it
        message = f"more than {self.command_rate:g} commands a second, expected fewer"
        conn.write(codec.ws_frame(error("rate_limited", message).data))
        return [c for c in cmds if isinstance(c, Close)]

    async def _run(self, conn: AeselConnection, session: Session, cmd: Any) -> None:
        if isinstance(cmd, Reply):
            conn.write(codec.ws_frame(cmd.data))
        elif isinstance(cmd, Inbound):
            self._ingest(conn, [(cmd, time.perf_counter_ns())])
        elif isinstance(cmd, Subscribe):
            await self._subscribe(conn, session, cmd)
        elif isinstance(cmd, Unsubscribe):
            sub = conn.subs.pop(cmd.scene, None)
            if sub is not None:
                self.hub.unsubscribe(sub.scene, sub.id)
        elif isinstance(cmd, SetInterest):
            sub = conn.subs.get(cmd.scene)
            if sub is not None:
                await self._move_interest(conn, sub, cmd.interest)
        elif isinstance(cmd, Close):
            await conn.close(int(cmd.code), cmd.reason)

    def _ingest(
        self, conn: AeselConnection, batch: list[tuple[Inbound, int]], behind: bool = False
    ) -> None:
        """Apply inbound events read together, in order; when the node is ``behind``, shed
        the stale ones (a bare transform update of an object followed in the batch by another:
        ``stale`` drops)."""
        self.events_in += len(batch)
        decoded: list[tuple[Any, int]] = []
        for cmd, t_in in batch:
            try:
                decoded.append((inbound.decode_doc(cmd.doc), t_in))
            except AeselError as e:
                self.drops[e.reason] += 1
                conn.write(codec.ws_frame(error(e.reason, e.message).data))
        shed = stale([(ev, None) for ev, _ in decoded]) if behind else [False] * len(decoded)
        apply = self.services.ingest.apply
        for (ev, t_in), is_stale in zip(decoded, shed, strict=True):
            if is_stale:
                self.drops["stale"] += 1
                continue
            try:
                apply(ev, conn.who, t_in)
            except AeselError as e:
                self.drops[e.reason] += 1
                conn.write(codec.ws_frame(error(e.reason, e.message).data))

    async def _move_interest(
        self, conn: AeselConnection, sub: WsSubscriber, interest: Interest | None
    ) -> None:
        """Move a subscription's interest filter: objects now inside arrive at once, from the
        node's current state, and the client is told which ones to drop; no full resync.

        Like a snapshot, without sending one: the scene is loaded while events keep flowing
        under the old filter (their keys noted in ``sub.moving``); then, without awaiting,
        the hub flushes what is pending, the current state of every object is overlaid on
        what was loaded, the filter switches, and the answer carries the scene's seq ``N``:
        the entering objects' state as of ``N``, every later event after it.
        """
        scene = sub.scene
        sub.moving = set()
        try:
            loaded = await self.snapshots.load(scene, conn.who)
        except AeselError as e:
            sub.moving = None
            conn.write(codec.ws_frame(error(e.reason, e.message, scene=scene).data))
            return
        if self.hub.subscriber(scene, sub.id) is not sub:
            return  # unsubscribed or closed meanwhile
        # from here on nothing awaits
        self.hub.flush()
        touched = [(k, int(MsgType.OBJ_UPD)) for k in sub.moving or ()]
        snap = self.snapshots.assemble(scene, loaded, touched, None)
        objects = {o.key: o for o in snap.objects}
        enter, leave = sub.move_interest(
            interest,
            {k: (o.transform[3], o.transform[7], o.transform[11]) for k, o in objects.items()},
        )
        entered = [framed(objects[k].to_json(actions=True), sub.frame) for k in enter]
        if sub.format is Format.BINARY:  # interest frames (docs/realtime.md §3)
            for f in snapframe.encode(
                self.hub.epoch, scene, snap.seq, entered, [],
                frame_type=codec.FRAME_INTEREST, leave=leave,
            ):  # fmt: skip
                conn.write(codec.ws_frame(f, codec.OP_BINARY))
            return
        answer = {
            "type": "interest",
            "scene": scene,
            "epoch": self.hub.epoch,
            "seq": snap.seq,
            "enter": entered,
            "leave": leave,
        }
        conn.write(codec.ws_frame(orjson.dumps(answer)))

    async def _subscribe(self, conn: AeselConnection, session: Session, cmd: Subscribe) -> None:
        """Snapshot, then live events after the snapshot's seq (no gap, no duplicate).

        The fence (see ``aesel.services.snapshot``): subscribe first, holding events back while
        the snapshot loads; then assemble it without awaiting and go live after its seq.
        """
        scene = cmd.scene
        old = conn.subs.pop(scene, None)
        if old is not None:
            self.hub.unsubscribe(scene, old.id)
        sub = WsSubscriber(next(self._ids), scene, conn, cmd.format, cmd.interest, loading=True)
        try:
            if cmd.frame:  # object transforms in this device's frame (docs/realtime.md §2)
                sub.frame = await self.services.scenes.device_frame(scene, cmd.frame, conn.who)
                sub.frame_device = cmd.frame
            self.hub.subscribe(sub)
            loaded = await self.snapshots.load(scene, conn.who)
        except AeselError as e:
            self.hub.unsubscribe(scene, sub.id)
            session.refused(scene)
            conn.write(codec.ws_frame(error(e.reason, e.message, scene=scene).data))
            return
        if self.hub.subscriber(scene, sub.id) is not sub or not session.loaded(scene):
            self.hub.unsubscribe(scene, sub.id)  # unsubscribed, or closed, meanwhile
            return
        # from here on nothing awaits: the snapshot and the subscription share one seq
        touched = [(k, e.event.msg_type) for k, e in sub.outbox.items()]
        sub.outbox.clear()
        snap = self.snapshots.assemble(scene, loaded, touched, cmd.interest)
        sub.min_seq = snap.seq
        sub.loading = False
        if cmd.interest is not None:
            sub.inside = {o.key for o in snap.objects}
        conn.subs[scene] = sub
        objects = [framed(o.to_json(actions=True), sub.frame) for o in snap.objects]
        properties = [p.to_json() for p in snap.properties]
        if cmd.format is Format.BINARY:  # binary snapshot frames (docs/realtime.md §3)
            for f in snapframe.encode(self.hub.epoch, scene, snap.seq, objects, properties):
                conn.write(codec.ws_frame(f, codec.OP_BINARY))
            return
        snapshot = {
            "type": "snapshot",
            "scene": scene,
            "epoch": self.hub.epoch,
            "seq": snap.seq,
            "format": str(cmd.format),
            "objects": objects,
            "properties": properties,
        }
        conn.write(codec.ws_frame(orjson.dumps(snapshot)))
