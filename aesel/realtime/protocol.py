"""The WebSocket session protocol, sans-I/O: messages in, commands out.

Theory of operation
-------------------
A :class:`Session` holds one connection's protocol state: which scenes it subscribes to, in
which format, with which interest filter. ``receive(message)`` parses one client message and
returns the :class:`Command` values the adapter must carry out (subscribe with a snapshot,
unsubscribe, change interest, apply an inbound event, reply, close). The session never touches
a socket, a loop or the hub; the adapter in ``aesel.realtime.ws`` does, so every rule here is
testable with plain function calls.

States (``SessionState``) and transitions::

    OPEN --receive/too many errors--> CLOSED
    OPEN --close()-------------------> CLOSED

Each subscription has a state of its own (``SubscriptionState``)::

    (none) --subscribe/resync--> SUBSCRIBING --loaded()--> LIVE --resync--> SUBSCRIBING
    SUBSCRIBING or LIVE --unsubscribe/refused()--> (none)

While SUBSCRIBING the snapshot is loading and the subscription's events are held back; the
adapter sends the snapshot and calls ``loaded(scene)``, which says whether the client still
wants the scene (it may have unsubscribed, or subscribed again, meanwhile).

Client messages are JSON text (see ``docs/realtime.md``)::

    {"type":"subscribe","scene":S,"format":"json"|"binary","interest":{"center":[x,y,z],"radius":r},
     "frame":DEVICE}
    {"type":"unsubscribe","scene":S}
    {"type":"interest","scene":S,"center":[x,y,z],"radius":r}     (radius null clears it)
    {"type":"resync","scene":S}                                  (a fresh snapshot)
    {"type":"ping"}
    {"msg_type":1,"key":K,"scene":S,"transform":[16]}            (an event, as over UDP)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import orjson

from aesel.model.codes import CloseCode
from aesel.model.stream import Format, Interest


class SubscriptionState(IntEnum):
    SUBSCRIBING = 1  # the snapshot is loading; events are held back
    LIVE = 2


SUBSCRIPTION_TRANSITIONS: dict[SubscriptionState | None, frozenset[SubscriptionState | None]] = {
    None: frozenset({SubscriptionState.SUBSCRIBING}),
    SubscriptionState.SUBSCRIBING: frozenset({SubscriptionState.LIVE, None}),
    SubscriptionState.LIVE: frozenset({SubscriptionState.SUBSCRIBING, None}),
}


class SessionState(IntEnum):
    OPEN = 1
    CLOSED = 2


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.OPEN: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


# -- commands for the adapter -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Send a snapshot of ``scene`` and subscribe from its seq on (also used for resync)."""

    scene: str
    format: Format
    interest: Interest | None
    frame: str = ""  # a device key: object transforms in that device's frame


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    scene: str


@dataclass(frozen=True, slots=True)
class SetInterest:
    scene: str
    interest: Interest | None


@dataclass(frozen=True, slots=True)
class Inbound:
    """An update with the meaning of a UDP event: ``doc`` is its parsed JSON object."""

    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this JSON text message to the client."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


Command = Subscribe | Unsubscribe | SetInterest | Inbound | Reply | Close


def error(code: str, message: str, **extra: Any) -> Reply:
    """An ``{"type":"error"}`` reply; ``code`` is a stable word, ``message`` is for people."""
    return Reply(orjson.dumps({"type": "error", "code": code, "message": message, **extra}))


def _interest(doc: Any) -> Interest | None:
    """Parse ``{"center":[x,y,z],"radius":r}``; ``None`` or a null radius means no filter."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError(f"interest is a {type(doc).__name__}, expected an object")
    radius = doc.get("radius")
    if radius is None:
        return None
    center = doc.get("center")
    if not isinstance(center, list) or len(center) != 3:
        n = len(center) if isinstance(center, list) else type(center).__name__
        raise ValueError(f"interest center has {n} numbers, expected 3")
    if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in center):
        raise ValueError("interest center holds a non-number, expected 3 numbers")
    if (
        not isinstance(radius, int | float)
        or isinstance(radius, bool)
        or not radius >= 0
        or math.isinf(radius)
    ):
        raise ValueError(f"interest radius is {radius!r}, expected a finite number >= 0")
    return Interest((float(center[0]), float(center[1]), float(center[2])), float(radius))


@dataclass
class Session:
    """One connection's protocol state; see the module docstring."""

    principal: str | None = None
    default_format: Format = Format.JSON
    max_subscriptions: int = 1000
    max_errors: int = 20
    state: SessionState = SessionState.OPEN
    scenes: dict[str, Format] = field(default_factory=dict)
    frames: dict[str, str] = field(default_factory=dict)  # scene -> device key, kept by resync
    subscriptions: dict[str, SubscriptionState] = field(default_factory=dict)
    errors_in_a_row: int = 0

    def _sub_to(self, scene: str, state: SubscriptionState | None) -> None:
        now = self.subscriptions.get(scene)
        if state not in SUBSCRIPTION_TRANSITIONS[now]:
            raise RuntimeError(f"subscription to {scene!r} cannot go from {now} to {state}")
        if state is None:
            self.subscriptions.pop(scene, None)
            self.scenes.pop(scene, None)
        else:
            self.subscriptions[scene] = state

    def loaded(self, scene: str) -> bool:
        """The snapshot of ``scene`` was sent: go LIVE. ``False`` when the client no longer
        waits for it (unsubscribed meanwhile): the adapter drops the subscription."""
        if self.subscriptions.get(scene) is not SubscriptionState.SUBSCRIBING:
            return False
        self._sub_to(scene, SubscriptionState.LIVE)
        return True

    def refused(self, scene: str) -> None:
        """The subscription was refused (no such scene, or no right to it)."""
        if scene in self.subscriptions:
            self._sub_to(scene, None)

    def _to(self, state: SessionState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"session cannot go from {self.state.name} to {state.name}")
        self.state = state

    def close(self) -> None:
        if self.state is not SessionState.CLOSED:
            self._to(SessionState.CLOSED)

    def welcome(self, epoch: int, node: str) -> Reply:
        """The first message of every connection."""
        return Reply(
            orjson.dumps(
                {"type": "welcome", "epoch": epoch, "node": node, "principal": self.principal}
            )
        )

    def receive(self, message: str | bytes) -> list[Command]:
        """Handle one client message."""
        if self.state is SessionState.CLOSED:
            return []
        if isinstance(message, bytes):
            return self._fail(
                [error("unsupported", "binary messages are not accepted, expected JSON text")],
                CloseCode.UNSUPPORTED_DATA,
            )
        try:
            doc = orjson.loads(message)
        except orjson.JSONDecodeError as e:
            return self._fail([error("malformed", f"message is not JSON: {e}")])
        if not isinstance(doc, dict):
            return self._fail(
                [error("malformed", f"message is a JSON {type(doc).__name__}, expected an object")]
            )
        try:
            out = self._dispatch(doc, message)
        except ValueError as e:
            return self._fail([error("invalid", str(e))])
        self.errors_in_a_row = 0
        return out

    def _fail(self, out: list[Command], code: CloseCode = CloseCode.BAD_REQUEST) -> list[Command]:
        self.errors_in_a_row += 1
        if code is not CloseCode.BAD_REQUEST or self.errors_in_a_row >= self.max_errors:
            self.close()
            out.append(
                Close(
                    code,
                    "too many bad messages" if code is CloseCode.BAD_REQUEST else "binary message",
                )
            )
        return out

    def _scene(self, doc: dict[str, Any]) -> str:
        scene = doc.get("scene")
        if not isinstance(scene, str) or not scene:
            raise ValueError(f"scene is {scene!r}, expected a non-empty string")
        return scene

    def _dispatch(self, doc: dict[str, Any], raw: str) -> list[Command]:
        kind = doc.get("type")
        if kind is None and "msg_type" in doc:
            return [Inbound(doc)]
        if kind == "subscribe" or kind == "resync":
            scene = self._scene(doc)
            fmt_name = doc.get("format", self.scenes.get(scene, self.default_format))
            try:
                fmt = Format(fmt_name)
            except ValueError:
                raise ValueError(f"format is {fmt_name!r}, expected 'json' or 'binary'") from None
            if fmt is Format.BATCH:
                raise ValueError(
                    "format is 'batch', expected 'json' or 'binary' (batch is for udp)"
                )
            interest = _interest(doc.get("interest"))
            frame = doc.get("frame", self.frames.get(scene, ""))
            if not isinstance(frame, str):
                raise ValueError(f"frame is {frame!r}, expected a device key")
            if scene not in self.scenes and len(self.scenes) >= self.max_subscriptions:
                self.close()
                return [
                    Close(
                        CloseCode.TOO_MANY_SUBSCRIPTIONS,
                        f"more than {self.max_subscriptions} subscriptions",
                    )
                ]
            self.scenes[scene] = fmt
            self.frames[scene] = frame
            if self.subscriptions.get(scene) is not SubscriptionState.SUBSCRIBING:
                self._sub_to(scene, SubscriptionState.SUBSCRIBING)
            return [Subscribe(scene, fmt, interest, frame)]
        if kind == "unsubscribe":
            scene = self._scene(doc)
            if scene not in self.subscriptions:
                raise ValueError(f"not subscribed to scene {scene!r}")
            self._sub_to(scene, None)
            return [
                Unsubscribe(scene),
                Reply(orjson.dumps({"type": "unsubscribed", "scene": scene})),
            ]
        if kind == "interest":
            scene = self._scene(doc)
            if scene not in self.scenes:
                raise ValueError(f"not subscribed to scene {scene!r}")
            interest = _interest({"center": doc.get("center"), "radius": doc.get("radius")})
            return [SetInterest(scene, interest)]
        if kind == "ping":
            return [Reply(b'{"type":"pong"}')]
        raise ValueError(
            f"message type is {kind!r}, expected subscribe, unsubscribe, interest, resync, "
            "ping or an event"
        )


class SeqTracker:
    """Client-side gap detection: feed it each ``(scene, epoch, seq)`` in arrival order.

    ``accept`` returns ``False`` when the stream has a gap (a missed seq) or the node's epoch
    changed (a restart: seqs start over), so the client should ask for a ``resync``.
    """

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, int]] = {}

    def reset(self, scene: str, epoch: int, seq: int) -> None:
        """Start from a snapshot taken at ``seq``."""
        self.last[scene] = (epoch, seq)

    def accept(self, scene: str, epoch: int, seq: int) -> bool:
        prev = self.last.get(scene)
        self.last[scene] = (epoch, seq)
        return prev is not None and prev[0] == epoch and seq == prev[1] + 1
