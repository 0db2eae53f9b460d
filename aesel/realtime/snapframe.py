"""Binary snapshot frames (frame type 2), pure functions over bytes (no I/O).

The binary layout of ``docs/realtime.md`` §3, for the snapshot a binary WebSocket subscriber
receives after ``subscribe``/``resync``. After the scene key, a snapshot frame carries the
snapshot's ``seq`` (u32, modulo 2^32) and a ``more`` byte (1: another snapshot frame of the
same snapshot follows; 0: the last one); a snapshot larger than ``MAX_RECORDS`` records takes
several frames. Then the records, every one with the snapshot's seq:

- an object: msg_type 0, flags 3 (transform and JSON): the 12 float32 of the transform, then
  the object's JSON without its key and transform (name, type, actions, ...);
- a property: msg_type 8, flags 0: the property's JSON without its key.

Interest frames (frame type 3) answer an interest move with the same header and records: the
objects that entered the radius, as object records with their current state, and one record
per object that left it: msg_type 255 (``LEAVE``), flags 0, the JSON ``{}``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import orjson

from aesel.realtime.codec import BINARY_VERSION, FLAG_TRANSFORM, FRAME_INTEREST, FRAME_SNAPSHOT

FLAG_JSON = 2
"""With ``FLAG_TRANSFORM``: the record has the transform *and* embedded JSON."""

MAX_RECORDS = 0xFFFF
OBJECT, PROPERTY, LEAVE = 0, 8, 255

_HEADER = struct.Struct("<BBQH")  # version, frame type, epoch, record count
_SNAP = struct.Struct("<IB")  # seq, more
_REC = struct.Struct("<BIB")  # msg_type, seq, key length
_MAT = struct.Struct("<12f")
_LEN = struct.Struct("<I")


def _record(msg_type: int, seq: int, doc: dict[str, Any]) -> bytes:
    rest = dict(doc)
    k = str(rest.pop("key", "")).encode()[:255]
    head = _REC.pack(msg_type, seq & 0xFFFFFFFF, len(k)) + k
    transform = rest.pop("transform", None) if msg_type == OBJECT else None
    body = orjson.dumps(rest)
    if isinstance(transform, list) and len(transform) == 16:
        flags = bytes((FLAG_TRANSFORM | FLAG_JSON,))
        return head + flags + _MAT.pack(*transform[:12]) + _LEN.pack(len(body)) + body
    return head + b"\x00" + _LEN.pack(len(body)) + body


def encode(
    epoch: int,
    scene: str,
    seq: int,
    objects: Sequence[dict[str, Any]],
    properties: Sequence[dict[str, Any]],
    *,
    max_records: int = MAX_RECORDS,
    frame_type: int = FRAME_SNAPSHOT,
    leave: Sequence[str] = (),
) -> list[bytes]:
    """The snapshot as binary frames (one, unless it holds more than ``max_records``);
    with ``frame_type=FRAME_INTEREST``, the answer to an interest move (``leave``: keys)."""
    records = [_record(OBJECT, seq, o) for o in objects]
    records += [_record(PROPERTY, seq, p) for p in properties]
    records += [_record(LEAVE, seq, {"key": k}) for k in leave]
    s = scene.encode()[:255]
    chunks = [records[i : i + max_records] for i in range(0, len(records), max_records)] or [[]]
    return [
        _HEADER.pack(BINARY_VERSION, frame_type, epoch & (2**64 - 1), len(chunk))
        + bytes((len(s),))
        + s
        + _SNAP.pack(seq & 0xFFFFFFFF, int(i < len(chunks) - 1))
        + b"".join(chunk)
        for i, chunk in enumerate(chunks)
    ]


def decode(data: bytes) -> dict[str, Any]:
    """A snapshot or interest frame as ``{"frame_type", "epoch", "scene", "seq", "more", "objects",
    "properties", "leave"}``, objects and properties as their JSON (the transform as 16
    numbers), ``leave`` as keys, ``frame_type`` 2 or 3, for clients and tests."""
    if len(data) < _HEADER.size + 1:
        raise ValueError(f"snapshot frame has {len(data)} bytes, expected at least 13")
    version, frame_type, epoch, count = _HEADER.unpack_from(data)
    if version != BINARY_VERSION or frame_type not in (FRAME_SNAPSHOT, FRAME_INTEREST):
        raise ValueError(f"frame is version {version} type {frame_type}, expected 1 and 2 or 3")
    pos = _HEADER.size
    n = data[pos]
    scene = data[pos + 1 : pos + 1 + n].decode()
    pos += 1 + n
    seq, more = _SNAP.unpack_from(data, pos)
    pos += _SNAP.size
    objects: list[dict[str, Any]] = []
    properties: list[dict[str, Any]] = []
    leave: list[str] = []
    for _ in range(count):
        msg_type, _seq, klen = _REC.unpack_from(data, pos)
        pos += _REC.size
        doc: dict[str, Any] = {"key": data[pos : pos + klen].decode()}
        pos += klen
        flags = data[pos]
        pos += 1
        if flags & FLAG_TRANSFORM:
            doc["transform"] = [*_MAT.unpack_from(data, pos), 0.0, 0.0, 0.0, 1.0]
            pos += _MAT.size
        (length,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        doc.update(orjson.loads(data[pos : pos + length]))
        pos += length
        if msg_type == LEAVE:
            leave.append(doc["key"])
        else:
            (objects if msg_type == OBJECT else properties).append(doc)
    if pos != len(data):
        raise ValueError(f"snapshot frame has {len(data) - pos} trailing bytes, expected 0")
    return {
        "frame_type": frame_type,
        "epoch": epoch,
        "scene": scene,
        "seq": seq,
        "more": bool(more),
        "objects": objects,
        "properties": properties,
        "leave": leave,
    }
