"""WebSocket streaming: subscriptions, live mirrors, gap resync and reconnection.

Theory of operation. One task owns the connection. It connects, reads the ``welcome``,
subscribes every scene the caller asked for, then reads messages until the connection ends.
Each message is parsed (``wire``), applied to the scene's mirror and queued for iteration:

- a ``snapshot`` replaces the mirror and restarts its ``(epoch, seq)``;
- an event whose seq does not follow, or whose epoch changed, marks the mirror unsynced and
  sends ``resync``; events of that scene are ignored until the new snapshot arrives (every
  one of them is in it);
- when the connection is lost the task waits (exponential backoff with jitter, ``min_backoff``
  doubling up to ``max_backoff``) and connects again; the new snapshots bring the mirrors back.
  With ``cluster`` (the HTTP address of a node), the stream knows the nodes from
  ``GET /v1/cluster`` (asked at start, every ``refresh_interval`` and after a loss; from the
  ``cluster`` address first, then from every node known) and connects to the next live node in
  that list each time, so a lost node is left for another at once. Seq and epoch are per node:
  the other node's snapshot carries its own epoch and replaces the mirror (a resync, never a
  loss: the events missed in between are in that snapshot).
  A refused token (HTTP 401 at the handshake) or a close with 1008/4001/4003 stops the stream
  with ``StreamError``: retrying would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from aesel_client.cluster import Node, parse_cluster
from aesel_client.errors import AeselError, NotFound, StreamError
from aesel_client.mirror import Interest, SceneMirror
from aesel_client.wire import (
    Event,
    Message,
    ProtocolViolation,
    ServerError,
    Snapshot,
    SnapshotPart,
    Welcome,
    parse_frame,
    parse_text,
)

log = logging.getLogger("aesel_client.stream")

Format = Literal["json", "binary"]
State = Literal["idle", "connecting", "open", "reconnecting", "closed"]
FATAL_CLOSES = frozenset({1008, 4001, 4003})


class Stream:
    """A live WebSocket stream of one or more scenes.

    ::

        async with Stream("ws://127.0.0.1:8081/") as stream:
            scene = await stream.subscribe("s1")
            async for item in stream:        # Snapshot or Event, in order
                print(scene.objects[item.key].transform if isinstance(item, Event) else item)

    ``cluster="http://node-a:8080"`` fails over to the other live nodes of ``GET /v1/cluster``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        format: Format = "binary",
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        queue_size: int = 10_000,
        cluster: str | None = None,
        refresh_interval: float = 30.0,
    ) -> None:
        self.url = url
        """The node the stream starts with."""
        self.current_url = url
        """The node the stream is connected to, or tries next."""
        self.cluster = cluster.rstrip("/") if cluster else None
        """Where ``GET /v1/cluster`` is asked first (an HTTP base URL), or None: one node only."""
        self.refresh_interval = refresh_interval
        self.nodes: list[Node] = []
        """The nodes as ``/v1/cluster`` last listed them."""
        self.node = ""
        """The id of the node connected to (from its ``welcome``)."""
        self.failovers = 0
        """Connections made to another node than the one before."""
        self.token = token
        self.format: Format = format
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.scenes: dict[str, SceneMirror] = {}
        self.state: State = "idle"
        self.epoch = 0
        self.connects = 0
        self.resyncs = 0
        self.dropped = 0
        """Items dropped from the iteration queue because nobody read it (mirrors are exact)."""
        self.errors: list[ServerError] = []
        self.failure: StreamError | None = None
        self._queue: asyncio.Queue[Snapshot | Event | None] = asyncio.Queue(queue_size)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._endpoints: list[str] = [url]
        self._connected_to = ""
        self._changed = asyncio.Event()
        self._parts: dict[str, list[SnapshotPart]] = {}

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="aesel-stream")
            if self.cluster is not None:
                self._refresher = loop.create_task(self._refresh_loop(), name="aesel-nodes")

    async def close(self) -> None:
        for task in (self._task, self._refresher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._refresher = None
        self._set_state("closed")
        self._offer(None)

    # -- subscriptions and inbound updates -------------------------------------------------

    async def subscribe(
        self,
        scene: str,
        *,
        center: Sequence[float] | None = None,
        radius: float | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 (a subscription's deadline)
    ) -> SceneMirror:
        """Subscribe to a scene and wait for its first snapshot; returns its live mirror.

        Raises ``NotFound`` when the scene does not exist or the caller may not see it.
        """
        interest = _interest(center, radius)
        mirror = self.scenes.get(scene) or SceneMirror(scene, interest)
        mirror.interest = interest
        self.scenes[scene] = mirror
        self.start()
        errors = len(self.errors)
        mirror.synced = False  # until this subscription's snapshot (events before it are in it)
        await self._send_if_open(self._subscribe_message(mirror))
        await self.wait_for(lambda: mirror.synced or len(self.errors) > errors, timeout)
        if not mirror.synced:
            del self.scenes[scene]
            e = self.errors[-1]
            raise (NotFound if e.code == "not_found" else AeselError)(e.message, 102, 0)
        return mirror

    async def unsubscribe(self, scene: str) -> None:
        if self.scenes.pop(scene, None) is not None:
            await self._send_if_open({"type": "unsubscribe", "scene": scene})

    async def set_interest(
        self, scene: str, center: Sequence[float] | None, radius: float | None
    ) -> None:
        """Move the interest point (``radius=None`` removes the filter), then resync."""
        mirror = self.scenes[scene]
        mirror.interest = _interest(center, radius)
        msg: dict[str, Any] = {"type": "interest", "scene": scene, "radius": radius}
        if center is not None:
            msg["center"] = list(center)
        await self._send_if_open(msg)
        await self._resync(mirror)

    async def send(self, update: Mapping[str, Any]) -> None:
        """Send an inbound update (an Aesel event such as ``{"msg_type": 1, ...}``)."""
        if self._ws is None:
            raise ConnectionError("the stream is not connected")
        await self._ws.send(json.dumps(update))

    async def send_transform(
        self, scene: str, key: str, transform: Sequence[float], *, device: str | None = None
    ) -> None:
        msg: dict[str, Any] = {
            "msg_type": 1, "key": key, "scene": scene, "transform": [float(x) for x in transform]
        }  # fmt: skip
        if device is not None:
            msg["device"] = device
        await self.send(msg)

    # -- reading ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Snapshot | Event]:
        return self._items()

    async def _items(self) -> AsyncIterator[Snapshot | Event]:
        while True:
            item = await self._queue.get()
            if item is None:
                if self.failure is not None:
                    raise self.failure
                return
            yield item

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate()`` holds; it is checked after every message and state change."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self.failure is not None:
                    raise self.failure
                self._changed.clear()
                await self._changed.wait()

    # -- the connection task ---------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.min_backoff
        if self.cluster is not None:
            await self.refresh_nodes()
        while True:
            self._set_state("connecting" if self.connects == 0 else "reconnecting")
            url = self.current_url
            try:
                await self._session(url)
            except InvalidStatus as e:
                if e.response.status_code in (401, 403):
                    return self._fail(f"handshake refused: {e.response.body!r}", 101, 401)
            except ConnectionClosed as e:
                if e.rcvd is not None and e.rcvd.code in FATAL_CLOSES:
                    return self._fail(f"closed: {e.rcvd.reason}", e.rcvd.code, 0)
            except (OSError, InvalidHandshake, TimeoutError, ProtocolViolation) as e:
                log.debug("stream connection failed: %r", e)
            if self._ws is not None:  # it was open: start the backoff over
                delay = self.min_backoff
            self._ws = None
            self._parts.clear()
            for mirror in self.scenes.values():
                mirror.synced = False
            self._set_state("reconnecting")
            if self.cluster is not None:
                await self.refresh_nodes()
            self.current_url = self._after(url)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_backoff)

    async def _session(self, url: str) -> None:
        async with connect(
            url, additional_headers=self._auth(), compression=None, max_size=None, open_timeout=5
        ) as ws:
            for m in self._decode(await ws.recv()):
                if isinstance(m, Welcome):
                    self.epoch = m.epoch
                    self.node = m.node
            self._ws = ws
            self.connects += 1
            if self._connected_to and url != self._connected_to:
                self.failovers += 1
            self._connected_to = url
            for mirror in list(self.scenes.values()):
                await ws.send(json.dumps(self._subscribe_message(mirror)))
            self._set_state("open")
            async for raw in ws:
                resync = self._handle(self._decode(raw))
                for mirror in resync:
                    await self._resync(mirror)
                self._changed.set()
        # a clean close (1000/1001, the node shutting down) ends here: reconnect

    def _auth(self) -> dict[str, str] | None:
        return {"Authorization": f"Bearer {self.token}"} if self.token else None

    # -- the nodes of a cluster ------------------------------------------------------------

    async def refresh_nodes(self) -> list[Node]:
        """Ask ``/v1/cluster`` for the nodes: the ``cluster`` address first, then each node known.

        Keeps the last list when nobody answers. The stream connects to the live ones in turn.
        """
        secure = self.url.startswith("wss:")
        sources = [self.cluster] if self.cluster else []
        sources += [n.http_url(secure) for n in self.nodes if n.http_url(secure) not in sources]
        async with httpx.AsyncClient(timeout=2.0) as http:
            for base in sources:
                try:
                    r = await http.get(f"{base}/v1/cluster", headers=self._auth())
                    r.raise_for_status()
                    nodes = parse_cluster(r.json())
                except (httpx.HTTPError, ValueError) as e:
                    log.debug("no node list from %s: %r", base, e)
                    continue
                self._set_nodes(nodes, secure)
                return nodes
        return self.nodes

    def _set_nodes(self, nodes: list[Node], secure: bool) -> None:
        self.nodes = nodes
        live = list(dict.fromkeys(n.ws_url(secure) for n in nodes if n.live))
        self._endpoints = live or [self.url]
        self._changed.set()

    def _after(self, url: str) -> str:
        """The node to try after ``url`` failed: the next live one in the list."""
        ends = self._endpoints
        if url not in ends:
            return ends[0]
        return ends[(ends.index(url) + 1) % len(ends)]

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            await self.refresh_nodes()

    def _decode(self, raw: str | bytes) -> list[Message]:
        """Parse one message (the seam tests use to lose a frame on purpose)."""
        if isinstance(raw, bytes):
            parsed = parse_frame(raw)
            return [parsed] if isinstance(parsed, SnapshotPart) else [*parsed]
        return parse_text(raw)

    def _handle(self, messages: list[Message]) -> list[SceneMirror]:
        """Apply parsed messages; returns the mirrors that need a resync."""
        resync: list[SceneMirror] = []
        for m in messages:
            if isinstance(m, SnapshotPart):  # a binary snapshot: whole once its last part is in
                parts = self._parts.setdefault(m.scene, [])
                parts.append(m)
                if m.more:
                    continue
                del self._parts[m.scene]
                m = Snapshot(m.scene, m.epoch, m.seq,
                             [o for p in parts for o in p.objects],
                             [o for p in parts for o in p.properties])  # fmt: skip
            if isinstance(m, Event):
                mirror = self.scenes.get(m.scene)
                if mirror is None or not mirror.synced:
                    continue
                if not mirror.accept(m):
                    resync.append(mirror)
                    continue
                mirror.apply(m)
                self._offer(m)
            elif isinstance(m, Snapshot):
                if (mirror := self.scenes.get(m.scene)) is not None:
                    mirror.load(m)
                    self.epoch = m.epoch
                    self._offer(m)
            elif isinstance(m, ServerError):
                log.warning("server refused a message: %s %s", m.code, m.message)
                self.errors.append(m)
        return resync

    async def _resync(self, mirror: SceneMirror) -> None:
        mirror.synced = False
        self.resyncs += 1
        await self._send_if_open({"type": "resync", "scene": mirror.scene})

    def _subscribe_message(self, mirror: SceneMirror) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "subscribe", "scene": mirror.scene, "format": self.format}
        if mirror.interest is not None:
            i = mirror.interest
            msg["interest"] = {"center": list(i.center), "radius": i.radius}
        return msg

    async def _send_if_open(self, msg: Mapping[str, Any]) -> None:
        """Send now when connected; otherwise the next connection subscribes everything."""
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps(msg))

    def _offer(self, item: Snapshot | Event | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    def _set_state(self, state: State) -> None:
        self.state = state
        self._changed.set()

    def _fail(self, message: str, code: int, status: int) -> None:
        self.failure = StreamError(message, code, status)
        self._set_state("closed")
        self._offer(None)


def _interest(center: Sequence[float] | None, radius: float | None) -> Interest | None:
    if radius is None:
        return None
    c = tuple(center or (0.0, 0.0, 0.0))
    if len(c) != 3:
        raise ValueError(f"center has {len(c)} numbers, expected 3")
    return Interest((float(c[0]), float(c[1]), float(c[2])), float(radius))
