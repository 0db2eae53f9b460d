"""The WebSocket protocol as data: parse server messages into typed events (no I/O).

See aesel's ``docs/realtime.md``. Text messages are JSON (``welcome``, ``snapshot``, ``events``,
``error`` and acknowledgements); binary messages are event frames::

    u8 version=1 | u8 frame type | u64 epoch | u16 count | u8 len + scene | [u32 seq | u8 more]
    | records, each u8 msg_type | u32 seq | u8 len + key | u8 flags | then 12 x f32 (flag 1)
    and/or u32 len + JSON (flag 2, or no flag 1)

Frame type 1 carries events; type 2 (with the seq and more fields) a binary subscription's
snapshot, objects (msg_type 0) with their transform and JSON, properties (8) with their JSON.

Everything is little-endian; a transform record carries the top three rows of the row-major 4x4.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Transform = tuple[float, ...]
"""A row-major 4x4 matrix as 16 numbers; the translation is at indexes 3, 7 and 11."""

IDENTITY: Transform = (
    1.0,
    0.0,
    0.0,
    0.0,
    0.0,
    1.0,
    0.0,
    0.0,
    0.0,
    0.0,
    1.0,
    0.0,
    0.0,
    0.0,
    0.0,
    1.0,
)

OBJECT_DELETE = 3
PROPERTY_DELETE = 11
PROPERTY_TYPES = frozenset({8, 9, 10, 11, 12, *range(23, 31)})
"""msg_types of property events; every other event is about an object."""

SEQ_MOD = 2**32
"""Binary records carry seq modulo 2^32; gap checks compare modulo this."""

_HEADER = struct.Struct("<BBQH")
_SNAP = struct.Struct("<IB")
_REC = struct.Struct("<BIB")
_MAT = struct.Struct("<12f")
_LEN = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Welcome:
    """First message of every connection."""

    epoch: int
    node: str
    principal: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A scene's state as of ``seq``; events with a larger seq follow."""

    scene: str
    epoch: int
    seq: int
    objects: Sequence[Mapping[str, Any]]
    properties: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Event:
    """One live change of a scene.

    ``data`` is the Aesel JSON of the event; a binary transform record has only ``msg_type``,
    ``key``, ``scene`` and ``transform`` in it.
    """

    scene: str
    epoch: int
    seq: int
    msg_type: int
    key: str
    transform: Transform | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_property(self) -> bool:
        return self.msg_type in PROPERTY_TYPES

    @property
    def is_delete(self) -> bool:
        return self.msg_type in (OBJECT_DELETE, PROPERTY_DELETE)


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    """One binary snapshot frame; ``more`` says another frame of the same snapshot follows."""

    scene: str
    epoch: int
    seq: int
    more: bool
    objects: Sequence[Mapping[str, Any]]
    properties: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ServerError:
    """``{"type":"error"}``: a message of ours was refused (``code`` is e.g. ``invalid``)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Ack:
    """Any other server message (``pong``, ``unsubscribed``, ``interest``)."""

    type: str
    scene: str | None


Message = Welcome | Snapshot | SnapshotPart | Event | ServerError | Ack


class ProtocolViolation(ValueError):
    """The server sent something this client cannot read."""


def parse_text(text: str | bytes) -> list[Message]:
    """Parse one JSON text message; an ``events`` message gives one Event per element."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ProtocolViolation(f"message is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ProtocolViolation(f"message is a {type(doc).__name__}, expected an object")
    kind = doc.get("type")
    if kind == "events":
        scene, epoch = str(doc["scene"]), int(doc["epoch"])
        return [_event(scene, epoch, int(e["seq"]), e["data"]) for e in doc["events"]]
    if kind == "snapshot":
        return [
            Snapshot(
                scene=str(doc["scene"]),
                epoch=int(doc["epoch"]),
                seq=int(doc["seq"]),
                objects=doc.get("objects", []),
                properties=doc.get("properties", []),
            )
        ]
    if kind == "welcome":
        return [Welcome(int(doc["epoch"]), str(doc.get("node", "")), doc.get("principal"))]
    if kind == "error":
        return [ServerError(str(doc.get("code", "")), str(doc.get("message", "")))]
    if isinstance(kind, str):
        return [Ack(kind, doc.get("scene"))]
    raise ProtocolViolation(f"message has no type: {str(text)[:80]!r}")


def _event(scene: str, epoch: int, seq: int, data: Mapping[str, Any]) -> Event:
    t = data.get("transform")
    transform = tuple(float(x) for x in t) if isinstance(t, list) and len(t) == 16 else None
    return Event(scene, epoch, seq, int(data.get("msg_type", -1)), str(data.get("key", "")),
                 transform, data)  # fmt: skip


def parse_binary(data: bytes) -> list[Event]:
    """Parse one binary event frame (type 1) into its events."""
    parsed = parse_frame(data)
    if isinstance(parsed, SnapshotPart):
        raise ProtocolViolation("binary frame is a snapshot (type 2), expected events (type 1)")
    return parsed


def parse_frame(data: bytes) -> list[Event] | SnapshotPart:
    """Parse one binary frame: the events of a type 1 frame, or a type 2 snapshot part."""
    try:
        version, frame_type, epoch, count = _HEADER.unpack_from(data, 0)
        if version != 1 or frame_type not in (1, 2):
            raise ProtocolViolation(
                f"binary frame is version {version} type {frame_type}, expected 1 and 1 or 2"
            )
        pos = _HEADER.size
        n = data[pos]
        scene = data[pos + 1 : pos + 1 + n].decode()
        pos += 1 + n
        snap_seq = more = 0
        if frame_type == 2:
            snap_seq, more = _SNAP.unpack_from(data, pos)
            pos += _SNAP.size
        events: list[Event] = []
        objects: list[dict[str, Any]] = []
        properties: list[dict[str, Any]] = []
        for _ in range(count):
            msg_type, seq, klen = _REC.unpack_from(data, pos)
            pos += _REC.size
            key = data[pos : pos + klen].decode()
            flags = data[pos + klen]
            pos += klen + 1
            doc: dict[str, Any] = {}
            m: Transform | None = None
            if flags & 1:
                m = (*_MAT.unpack_from(data, pos), 0.0, 0.0, 0.0, 1.0)
                pos += _MAT.size
            if flags & 2 or not flags & 1:
                (length,) = _LEN.unpack_from(data, pos)
                pos += _LEN.size
                doc = json.loads(data[pos : pos + length])
                pos += length
            if frame_type == 2:
                doc = {**doc, "key": key}
                if m is not None:
                    doc["transform"] = list(m)
                (properties if msg_type in PROPERTY_TYPES else objects).append(doc)
            elif m is not None:
                doc = {"msg_type": msg_type, "key": key, "scene": scene, "transform": list(m)}
                events.append(Event(scene, epoch, seq, msg_type, key, m, doc))
            else:
                events.append(_event(scene, epoch, seq, doc))
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, ProtocolViolation):
            raise
        raise ProtocolViolation(f"bad binary frame of {len(data)} bytes: {e}") from None
    if pos != len(data):
        raise ProtocolViolation(f"binary frame has {len(data) - pos} trailing bytes, expected 0")
    if frame_type == 2:
        return SnapshotPart(scene, epoch, snap_seq, bool(more), objects, properties)
    return events


def is_next(last: int, seq: int) -> bool:
    """``seq`` directly follows ``last`` (modulo 2^32, as binary records carry it)."""
    return (seq - last - 1) % SEQ_MOD == 0


def translation(transform: Sequence[float]) -> tuple[float, float, float]:
    return (transform[3], transform[7], transform[11])
