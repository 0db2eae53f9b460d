"""The Hub: who receives which scene, and the fan-out itself.

Theory of operation
-------------------
Two indexes and no awaits: ``scene -> {device key -> UdpTarget}`` for UDP devices and
``scene -> {subscriber id -> WsSubscriber}`` for WebSocket subscribers. Registrations change
here the moment the REST call commits, so the very next event sees them.

``deliver`` (the bus handler) only appends the event to a pending list and, if none is
scheduled yet, schedules ``flush`` with ``loop.call_soon``: the flush runs at the end of the
current event-loop turn, so events that arrive together (one ``recvfrom`` batch, one REST
bulk create) leave together, and no timer adds latency. ``flush`` groups the pending events by
scene and encodes each event at most once per wire format, lazily (no binary encoding unless a
binary subscriber exists). Then:

- UDP ``json`` devices get one datagram per event (Aesel compatibility); ``batch`` devices get
  the events newline-separated and ``binary`` devices the binary frames, packed into datagrams
  under 1200 bytes. The datagram list of each format is built once per scene per flush, and
  once per distinct frame for devices that receive object transforms in their own frame
  (``UdpTarget.frame``, ``M_SD``: the transform goes out as ``M_SD @ transform``).
  Encrypted devices (GCM, CBC) need their own ciphertext, so they cost one encryption each.
- WebSocket subscribers get one frame with all of the turn's events of that scene. The frame
  bytes (WebSocket header included) are built once per format and written to every subscriber
  that has no interest filter and no events to skip; the others get a frame of their own.

Isolation: one event or one recipient can never cost the others. An event that cannot be
encoded in a format (a finite float beyond float32 reaches the binary encoder, say) is left
out of that format's datagrams and frames and counted as ``encode_error``; a write that
raises (a connection closing under us, a socket error) is counted (``closed``,
``send_error``) and that recipient skipped. A WebSocket subscriber whose connection is
closing is unsubscribed instead of written to. Every such failure is logged rate-limited.

Outbound rate: each UDP destination address has a token bucket of ``udp_rate`` bytes a
second (the same address registered by many devices shares one bucket), refilled once per
flush. A destination with no tokens left gets nothing from that flush (counted
``rate_limited``); a batch may overdraw the bucket once, so a large flush still leaves.

Slow consumers: a WebSocket subscriber whose transport buffer is above the high watermark
does not get writes; its events go to a bounded outbox that keeps only the latest event per
object. When the transport drains (``on_writable``) the outbox leaves as one frame. A
subscriber behind for longer than ``slow_timeout`` seconds, or with more than ``max_outbox``
objects pending, is disconnected with close code 4008 (``slow``). Nothing in a broadcast ever
awaits, so a stalled client costs the others one buffer-size check.

The latency histogram observes, for each event, the time from ``Event.t_in`` (ingress) to the
end of the flush that wrote it to its last recipient.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aesel.logutil import LogLimiter
from aesel.model.codes import CloseCode, MsgType
from aesel.model.event import Event
from aesel.model.stream import Format, Interest
from aesel.model.transform import Matrix
from aesel.realtime import codec

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Sender = Callable[[bytes, Addr], None]
Scheduler = Callable[[Callable[[], None]], None]


class DatagramCipher(Protocol):
    """Encrypts one outbound datagram for one device (see ``aesel.udp.crypto``)."""

    def seal(self, data: bytes) -> bytes: ...


@dataclass(slots=True)
class UdpTarget:
    addr: Addr
    format: Format = Format.JSON
    cipher: DatagramCipher | None = None
    frame: Matrix | None = None  # M_SD: object transforms go out as M_SD @ transform


def _in_frame(cache: dict[Matrix, list[Encoded]], m: Matrix, items: list[Encoded]) -> list[Encoded]:
    """``items`` in frame ``m``: the products are made once per flush and distinct frame."""
    done = cache.get(m)
    if done is None:
        done = cache[m] = [e.in_frame(m) for e in items]
    return done


def in_frame(m: Matrix, t: list[float]) -> list[float]:
    """``m @ t`` for row-major 4x4 matrices (an object transform in a device's frame).

    Unrolled: twice as fast as the loop (3.3 against 6.4 us), and it runs once per event per
    distinct frame.
    """
    a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 = m
    b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = t
    return [
        a0 * b0 + a1 * b4 + a2 * b8 + a3 * b12,
        a0 * b1 + a1 * b5 + a2 * b9 + a3 * b13,
        a0 * b2 + a1 * b6 + a2 * b10 + a3 * b14,
        a0 * b3 + a1 * b7 + a2 * b11 + a3 * b15,
        a4 * b0 + a5 * b4 + a6 * b8 + a7 * b12,
        a4 * b1 + a5 * b5 + a6 * b9 + a7 * b13,
        a4 * b2 + a5 * b6 + a6 * b10 + a7 * b14,
        a4 * b3 + a5 * b7 + a6 * b11 + a7 * b15,
        a8 * b0 + a9 * b4 + a10 * b8 + a11 * b12,
        a8 * b1 + a9 * b5 + a10 * b9 + a11 * b13,
        a8 * b2 + a9 * b6 + a10 * b10 + a11 * b14,
        a8 * b3 + a9 * b7 + a10 * b11 + a11 * b15,
        a12 * b0 + a13 * b4 + a14 * b8 + a15 * b12,
        a12 * b1 + a13 * b5 + a14 * b9 + a15 * b13,
        a12 * b2 + a13 * b6 + a14 * b10 + a15 * b14,
        a12 * b3 + a13 * b7 + a14 * b11 + a15 * b15,
    ]


class Writer(Protocol):
    """What the hub needs of a WebSocket connection: all synchronous."""

    def write(self, data: bytes) -> None:
        """Queue bytes on the connection's transport (never blocks)."""

    def buffered(self) -> int:
        """Bytes waiting in the transport's write buffer."""

    def close_slow(self, code: int, reason: str) -> None:
        """Close the connection because it fell behind."""

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed: it must not be written to."""


@dataclass(eq=False, slots=True)
class WsSubscriber:
    """One WebSocket connection's subscription to one scene."""

    id: int
    scene: str
    writer: Writer
    format: Format = Format.JSON
    interest: Interest | None = None
    min_seq: int = 0  # events up to this seq are already in the client's snapshot
    loading: bool = False  # its snapshot is loading: events wait in the outbox (see ws.py)
    outbox: dict[str, Encoded] = field(default_factory=dict)
    behind_since: float = 0.0
    # with an interest filter: the objects the client was last told are inside it
    inside: set[str] = field(default_factory=set)
    frame: Matrix | None = None  # M_SD of the device named by the subscription's "frame"
    frame_device: str = ""

    def wants(self, e: Encoded) -> bool:
        """Whether event ``e`` goes to this subscriber (after its snapshot, and of interest).

        An object that moves out of the interest radius is sent once more, with its position
        outside, so the client can drop it; then nothing until it comes back in.
        """
        event = e.event
        if event.seq <= self.min_seq:
            return False
        interest = self.interest
        if interest is None:
            return True
        pos = e.position
        if pos is None:  # not positioned (properties, deletes): always relevant
            if event.msg_type == MsgType.OBJ_DEL:
                self.inside.discard(event.key)
            return True
        if interest.contains(pos):
            self.inside.add(event.key)
            return True
        if event.key in self.inside:
            self.inside.discard(event.key)
            return True
        return False


ENCODE_ERRORS = (ValueError, TypeError, OverflowError, struct.error)
"""What an encoder raises on a value its format cannot hold (orjson's errors are TypeErrors)."""


class Encoded:
    """One event with its encodings, each computed on first use."""

    __slots__ = ("_binary", "_json", "_pos", "_ws", "event", "failed", "reported")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._json: bytes | None = None
        self._ws: bytes | None = None
        self._binary: bytes | None = None
        self._pos: tuple[float, float, float] | bool | None = False
        # "json" or "binary" (json and batch share one encoding) -> why it cannot be encoded
        self.failed: dict[str, str] = {}
        self.reported: set[str] = set()  # failures already counted as drops

    def encodes(self, fmt: Format) -> bool:
        """Whether the event can be encoded in ``fmt`` (the encoding is computed and kept)."""
        kind = "binary" if fmt is Format.BINARY else "json"
        if kind in self.failed:
            return False
        try:
            if fmt is Format.BINARY:
                self.binary  # noqa: B018 - computes and caches it
            else:
                self.ws  # noqa: B018 - holds the Aesel JSON, computed first
        except ENCODE_ERRORS as e:
            self.failed[kind] = f"{type(e).__name__}: {e}"
            return False
        return True

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = codec.aesel_json(self.event.payload)
        return self._json

    @property
    def ws(self) -> bytes:
        if self._ws is None:
            self._ws = codec.ws_item(self.event.seq, self.json)
        return self._ws

    @property
    def binary(self) -> bytes:
        if self._binary is None:
            e = self.event
            self._binary = codec.binary_record(e.msg_type, e.seq, e.key, e.payload)
        return self._binary

    def in_frame(self, m: Matrix) -> Encoded:
        """The event as a device whose frame is ``m`` receives it (itself if it has no
        transform)."""
        e = self.event
        try:
            if self.position is None:
                return self
            payload = {**e.payload, "transform": in_frame(m, e.payload["transform"])}
        except ENCODE_ERRORS as err:  # not numbers: it encodes in no format (counted)
            broken = Encoded(e)
            broken.failed = dict.fromkeys(("json", "binary"), f"{type(err).__name__}: {err}")
            return broken
        return Encoded(Event(e.scene, e.msg_type, e.key, payload, e.seq, e.origin, e.t_in))

    @property
    def position(self) -> tuple[float, float, float] | None:
        if self._pos is False:
            t = self.event.payload.get("transform")
            self._pos = (
                (float(t[3]), float(t[7]), float(t[11]))
                if isinstance(t, list) and len(t) == 16
                else None
            )
        return self._pos  # type: ignore[return-value]


LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


@dataclass(slots=True)
class HubStats:
    """Counters read by the metrics collector at scrape time (no per-event metric calls)."""

    events: int = 0
    udp_datagrams: int = 0
    udp_deliveries: int = 0
    ws_frames: int = 0
    ws_deliveries: int = 0
    send_errors: int = 0
    coalesced: int = 0
    slow_disconnects: int = 0
    flushes: int = 0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    latency_count: int = 0

    @property
    def deliveries(self) -> int:
        return self.udp_deliveries + self.ws_deliveries

    def observe(self, seconds: float) -> None:
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1


def _call_soon(fn: Callable[[], None]) -> None:
    asyncio.get_running_loop().call_soon(fn)


class Hub:
    """Fan-out of bus events to UDP devices and WebSocket subscribers; see the module doc."""

    def __init__(
        self,
        *,
        epoch: int | None = None,
        schedule: Scheduler = _call_soon,
        max_outbox: int = 4096,
        slow_timeout: float = 2.0,
        high_water: int = 256 * 1024,
        drops: Counter[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        udp_rate: int = 4 << 20,
    ) -> None:
        self.epoch = epoch if epoch is not None else time.time_ns()
        self._udp: dict[str, dict[str, UdpTarget]] = {}
        self._ws: dict[str, dict[int, WsSubscriber]] = {}
        self._send: Sender | None = None
        self._schedule = schedule
        self._pending: list[Event] = []
        self._scheduled = False
        self.max_outbox = max_outbox
        self.slow_timeout = slow_timeout
        self.high_water = high_water
        self.drops = drops if drops is not None else Counter()
        self.clock = clock
        self.stats = HubStats()
        self.udp_rate = udp_rate  # bytes a second per destination address; 0: no cap
        self._buckets: dict[Addr, list[float]] = {}  # addr -> [tokens, last refill]
        self._now = 0.0  # the clock, read once per flush
        self._limited = LogLimiter(log)

    def attach_udp(self, send: Sender) -> None:
        """Set the function that writes one datagram (the UDP endpoint's ``sendto``)."""
        self._send = send

    # -- UDP registrations ------------------------------------------------------------------

    def add_device(
        self,
        scene: str,
        device: str,
        addr: Addr,
        *,
        format: Format = Format.JSON,
        cipher: DatagramCipher | None = None,
    ) -> None:
        """Send the scene's events to ``addr`` from the next event on."""
        self._udp.setdefault(scene, {})[device] = UdpTarget(addr, Format(format), cipher)

    def set_frame(self, scene: str, device: str, m_sd: Matrix | None) -> None:
        """Send the device's object transforms in its own frame (``M_SD @ transform``) from the
        next event on; ``None``: in the scene's frame."""
        target = self._udp.get(scene, {}).get(device)
        if target is not None:
            target.frame = None if m_sd is None else tuple(float(x) for x in m_sd)

    def reframe(self, scene: str, device: str, m_sd: Matrix) -> None:
        """The subscribers that asked for ``device``'s frame get ``m_sd`` from the next event."""
        for sub in self._ws.get(scene, {}).values():
            if sub.frame_device == device:
                sub.frame = m_sd

    def remove_device(self, scene: str, device: str) -> None:
        devices = self._udp.get(scene)
        if devices is not None:
            devices.pop(device, None)
            if not devices:
                del self._udp[scene]

    def remove_scene(self, scene: str) -> None:
        self._udp.pop(scene, None)

    def devices(self, scene: str) -> dict[str, Addr]:
        return {k: t.addr for k, t in self._udp.get(scene, {}).items()}

    # -- WebSocket subscriptions ------------------------------------------------------------

    def subscribe(self, sub: WsSubscriber) -> None:
        """Add (or replace) a WebSocket subscription; events after ``sub.min_seq`` reach it."""
        self._ws.setdefault(sub.scene, {})[sub.id] = sub

    def unsubscribe(self, scene: str, sub_id: int) -> WsSubscriber | None:
        subs = self._ws.get(scene)
        if subs is None:
            return None
        sub = subs.pop(sub_id, None)
        if not subs:
            del self._ws[scene]
        return sub

    def subscriber(self, scene: str, sub_id: int) -> WsSubscriber | None:
        return self._ws.get(scene, {}).get(sub_id)

    def wants(self, scene: str) -> bool:
        """Whether any device or subscriber here receives ``scene``'s events."""
        return scene in self._udp or scene in self._ws

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._ws.values())

    def device_count(self) -> int:
        return sum(len(s) for s in self._udp.values())

    def outbox_depth(self) -> int:
        return sum(len(sub.outbox) for subs in self._ws.values() for sub in subs.values())

    # -- fan-out ----------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """The bus handler: queue the event for the flush at the end of this loop turn."""
        self.stats.events += 1
        if event.scene not in self._udp and event.scene not in self._ws:
            return
        self._pending.append(event)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        """Write every pending event to every recipient. Synchronous; never awaits."""
        self._scheduled = False
        events, self._pending = self._pending, []
        if not events:
            return
        self.stats.flushes += 1
        self._now = self.clock()
        by_scene: dict[str, list[Encoded]] = {}
        for e in events:
            by_scene.setdefault(e.scene, []).append(Encoded(e))
        for scene, encoded in by_scene.items():
            try:
                udp = self._udp.get(scene)
                if udp and self._send is not None:
                    self._fan_udp(scene, encoded, udp, self._send)
                ws = self._ws.get(scene)
                if ws:
                    self._fan_ws(scene, encoded, ws)
            except Exception as exc:  # a bug, never a bad value: still, the other scenes go out
                self.drops["internal"] += len(encoded)
                self._limited.warning("hub: fan-out of scene %r failed: %r", scene, exc)
        now = time.perf_counter_ns()
        observe = self.stats.observe
        for e in events:
            if e.t_in:
                observe((now - e.t_in) / 1e9)

    def _usable(self, scene: str, encoded: list[Encoded], fmt: Format) -> list[Encoded]:
        """The events that encode in ``fmt``; each one that does not is counted and logged once."""
        ok = []
        for e in encoded:
            if e.encodes(fmt):
                ok.append(e)
                continue
            kind = "binary" if fmt is Format.BINARY else "json"
            if kind not in e.reported:
                e.reported.add(kind)
                self.drops["encode_error"] += 1
                self._limited.warning(
                    "hub: event %d of %r in scene %r cannot be encoded as %s: %s",
                    e.event.seq, e.event.key, scene, kind, e.failed[kind],
                )  # fmt: skip
        return ok

    def _spend(self, addr: Addr, size: int) -> bool:
        """Take ``size`` bytes from ``addr``'s bucket; ``False`` when it has none left."""
        rate = self.udp_rate
        if rate <= 0:
            return True
        bucket = self._buckets.get(addr)
        now = self._now
        if bucket is None:
            if len(self._buckets) >= 65536:
                self._prune_buckets()
            bucket = self._buckets[addr] = [float(rate), now]
        elif bucket[1] != now:  # refilled once per flush
            bucket[0] = min(float(rate), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
        if bucket[0] <= 0:
            return False
        bucket[0] -= size  # may overdraw once: a large batch still leaves, then the addr waits
        return True

    def _prune_buckets(self) -> None:
        """Forget buckets that are full again (their destinations have been quiet)."""
        rate, now = self.udp_rate, self._now
        self._buckets = {
            a: b for a, b in self._buckets.items() if b[0] + (now - b[1]) * rate < rate
        }

    def _fan_udp(
        self, scene: str, encoded: list[Encoded], targets: dict[str, UdpTarget], send: Sender
    ) -> None:
        # encoded once per wire format and frame: devices sharing a frame share the bytes
        per_format: dict[tuple[Format, Matrix | None], tuple[list[bytes], int, int]] = {}
        framed: dict[Matrix, list[Encoded]] = {}
        stats = self.stats
        for target in list(targets.values()):
            fmt, m = target.format, target.frame
            prepared = per_format.get((fmt, m))
            if prepared is None:
                items = encoded if m is None else _in_frame(framed, m, encoded)
                usable = self._usable(scene, items, fmt)
                if fmt is Format.JSON:
                    datagrams = [e.json for e in usable]
                elif fmt is Format.BATCH:
                    datagrams = codec.pack_datagrams(e.json for e in usable)
                else:
                    datagrams = codec.pack_binary_datagrams(
                        self.epoch, scene, [e.binary for e in usable]
                    )
                prepared = (datagrams, len(usable), sum(map(len, datagrams)))
                per_format[fmt, m] = prepared
            datagrams, n, size = prepared
            if not datagrams:
                continue
            addr = target.addr
            if not self._spend(addr, size):
                self.drops["rate_limited"] += n
                continue
            cipher = target.cipher
            try:
                if cipher is None:
                    for d in datagrams:
                        send(d, addr)
                else:
                    for d in datagrams:
                        send(cipher.seal(d), addr)
            except Exception as e:  # OSError from the socket; anything a cipher raises
                stats.send_errors += 1
                self.drops["send_error"] += 1
                self._limited.warning("hub: udp send to %s:%s failed: %r", addr[0], addr[1], e)
                continue
            stats.udp_datagrams += len(datagrams)
            stats.udp_deliveries += n

    def _frame(self, scene: str, fmt: Format, items: list[Encoded]) -> bytes:
        if fmt is Format.BINARY:
            body = codec.binary_frame(
                codec.FRAME_EVENTS, self.epoch, scene, [e.binary for e in items]
            )
            return codec.ws_frame(body, codec.OP_BINARY)
        return codec.ws_frame(codec.ws_events(scene, self.epoch, [e.ws for e in items]))

    def _fan_ws(self, scene: str, encoded: list[Encoded], subs: dict[int, WsSubscriber]) -> None:
        # frames shared by the subscribers of one format and device frame that get every event
        shared: dict[tuple[Format, Matrix | None], bytes] = {}
        usable: dict[tuple[Format, Matrix | None], list[Encoded]] = {}
        framed: dict[Matrix, list[Encoded]] = {}
        first_seq = encoded[0].event.seq
        high = self.high_water
        stats = self.stats
        slow: list[WsSubscriber] = []
        for sub in list(subs.values()):
            fmt, m = sub.format, sub.frame
            good = usable.get((fmt, m))
            if good is None:
                items = encoded if m is None else _in_frame(framed, m, encoded)
                good = usable[fmt, m] = self._usable(scene, items, fmt)
            writer = sub.writer
            if writer.is_closing():
                self.unsubscribe(scene, sub.id)
                continue
            if sub.interest is None and sub.min_seq < first_seq:
                items = good
                frame = shared.get((fmt, m))
            else:
                items = [e for e in good if sub.wants(e)]
                frame = None
            if not items:
                continue
            if sub.loading:
                self._coalesce(sub, items)
                continue
            if sub.outbox or writer.buffered() > high:
                self._coalesce(sub, items)
                if (
                    len(sub.outbox) > self.max_outbox
                    or self.clock() - sub.behind_since > self.slow_timeout
                ):
                    slow.append(sub)
                continue
            if frame is None:
                frame = self._frame(scene, fmt, items)
                if items is good:
                    shared[fmt, m] = frame
            if not self._write(sub, frame):
                continue
            stats.ws_frames += 1
            stats.ws_deliveries += len(items)
        for sub in slow:
            self.disconnect_slow(sub)

    def _write(self, sub: WsSubscriber, frame: bytes) -> bool:
        """Write one frame; a connection that fails the write is unsubscribed, not retried."""
        try:
            sub.writer.write(frame)
        except Exception as e:  # RuntimeError/OSError from a transport that is closing
            self.unsubscribe(sub.scene, sub.id)
            self.drops["closed"] += 1
            self._limited.warning(
                "hub: write to subscriber %d of scene %r failed, unsubscribed: %r",
                sub.id, sub.scene, e,
            )  # fmt: skip
            return False
        return True

    def _coalesce(self, sub: WsSubscriber, items: list[Encoded]) -> None:
        if not sub.outbox:
            sub.behind_since = self.clock()
        for e in items:
            if sub.outbox.pop(e.event.key, None) is not None:
                self.stats.coalesced += 1
                self.drops["coalesced"] += 1
            sub.outbox[e.event.key] = e

    def on_writable(self, sub: WsSubscriber) -> None:
        """The subscriber's transport drained below its low watermark: send its outbox."""
        if not sub.outbox or sub.loading or self.subscriber(sub.scene, sub.id) is not sub:
            return
        items = sorted(sub.outbox.values(), key=lambda e: e.event.seq)
        sub.outbox.clear()
        if not self._write(sub, self._frame(sub.scene, sub.format, items)):
            return
        self.stats.ws_frames += 1
        self.stats.ws_deliveries += len(items)

    def disconnect_slow(self, sub: WsSubscriber) -> None:
        """Drop a subscriber that stayed behind, closing its connection with 4008."""
        self.unsubscribe(sub.scene, sub.id)
        self.drops["slow_consumer"] += len(sub.outbox)
        sub.outbox.clear()
        self.stats.slow_disconnects += 1
        log.warning("ws: subscriber %d of scene %r disconnected: slow consumer", sub.id, sub.scene)
        sub.writer.close_slow(int(CloseCode.SLOW), "slow consumer")


def latency_quantile(stats: HubStats, q: float) -> float:
    """An upper bound of the ``q`` quantile of the latency histogram in seconds (nan if empty)."""
    total = stats.latency_count
    if not total:
        return math.nan
    target = q * total
    acc = 0
    for i, c in enumerate(stats.latency_counts):
        acc += c
        if acc >= target:
            return LATENCY_BUCKETS[i] if i < len(LATENCY_BUCKETS) else math.inf
    return math.inf


__all__ = ["Encoded", "Format", "Hub", "HubStats", "Interest", "UdpTarget", "WsSubscriber"]
