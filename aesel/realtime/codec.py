"""Outbound wire encodings, pure functions over bytes (no I/O).

Three encodings of an event, each computed at most once per event and reused for every
recipient of that encoding (see ``docs/realtime.md`` for the layouts):

- **Aesel JSON**: the object/property JSON a UDP device receives, one event per datagram
  (Aesel compatibility), or several newline-separated in one datagram for ``batch`` devices.
- **WebSocket JSON**: ``{"type":"events","scene":S,"epoch":E,"events":[{"seq":N,"data":{..}},..]}``,
  built by joining the per-event items, so the Aesel JSON is encoded once.
- **Binary**: a little-endian frame of fixed-layout records; object transforms travel as
  12 float32 (the top three rows of the row-major 4x4), everything else as embedded JSON.

WebSocket frames are built here too (server frames are never masked, so one frame's bytes
can be written to every connection unchanged).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

MAX_DATAGRAM = 1200
"""Batched and binary datagrams stay under this size (Photon's MTU-safe cap)."""

BINARY_VERSION = 1
FRAME_EVENTS = 1
FRAME_SNAPSHOT = 2
FRAME_INTEREST = 3

FLAG_TRANSFORM = 1
_TRANSFORM_FIELDS = frozenset(
    {"msg_type", "key", "scene", "transform", "name", "type", "subtype", "owner", "assets",
     "actions", "parent", "asset_sub_id"}
)  # fmt: skip

_HEADER = struct.Struct("<BBQH")  # version, frame type, epoch, record count
_REC = struct.Struct("<BIB")  # msg_type, seq (mod 2**32), key length
_MAT = struct.Struct("<12f")
_LEN = struct.Struct("<I")


def aesel_json(payload: dict[str, Any]) -> bytes:
    """The Aesel JSON of one event, as UDP devices have always received it."""
    return orjson.dumps(payload)


def ws_item(seq: int, data: bytes) -> bytes:
    """One element of a WebSocket JSON ``events`` array, reusing the encoded Aesel JSON."""
    return b'{"seq":%d,"data":%b}' % (seq, data)


def ws_events(scene: str, epoch: int, items: Sequence[bytes]) -> bytes:
    """A WebSocket JSON ``events`` message from pre-encoded items."""
    head = orjson.dumps({"type": "events", "scene": scene, "epoch": epoch})
    return head[:-1] + b',"events":[' + b",".join(items) + b"]}"


def binary_record(msg_type: int, seq: int, key: str, payload: dict[str, Any]) -> bytes:
    """One binary record: transform events as float32, the rest as embedded JSON."""
    k = key.encode()[:255]
    head = _REC.pack(msg_type & 0xFF, seq & 0xFFFFFFFF, len(k)) + k
    transform = payload.get("transform")
    if (
        isinstance(transform, list)
        and len(transform) == 16
        and set(payload) <= _TRANSFORM_FIELDS
        and not payload.get("actions")
    ):
        return head + bytes((FLAG_TRANSFORM,)) + _MAT.pack(*transform[:12])
    body = orjson.dumps(payload)
    return head + b"\x00" + _LEN.pack(len(body)) + body


def binary_frame(frame_type: int, epoch: int, scene: str, records: Sequence[bytes]) -> bytes:
    """A binary frame: header, scene key, then the records."""
    s = scene.encode()[:255]
    return (
        _HEADER.pack(BINARY_VERSION, frame_type, epoch & 0xFFFFFFFFFFFFFFFF, len(records))
        + bytes((len(s),))
        + s
        + b"".join(records)
    )


def decode_binary(data: bytes) -> tuple[int, int, str, list[dict[str, Any]]]:
    """Decode a binary frame to ``(frame_type, epoch, scene, records)`` (for clients and tests).

    Each record is ``{"msg_type", "seq", "key", "transform"}`` (12 floats) or
    ``{"msg_type", "seq", "key", "data"}`` (the embedded JSON).
    """
    if len(data) < _HEADER.size + 1:
        raise ValueError(
            f"binary frame has {len(data)} bytes, expected at least {_HEADER.size + 1}"
        )
    version, frame_type, epoch, count = _HEADER.unpack_from(data, 0)
    if version != BINARY_VERSION:
        raise ValueError(f"binary frame version is {version}, expected {BINARY_VERSION}")
    pos = _HEADER.size
    n = data[pos]
    scene = data[pos + 1 : pos + 1 + n].decode()
    pos += 1 + n
    out: list[dict[str, Any]] = []
    for _ in range(count):
        msg_type, seq, klen = _REC.unpack_from(data, pos)
        pos += _REC.size
        key = data[pos : pos + klen].decode()
        pos += klen
        flags = data[pos]
        pos += 1
        rec: dict[str, Any] = {"msg_type": msg_type, "seq": seq, "key": key}
        if flags & FLAG_TRANSFORM:
            m = _MAT.unpack_from(data, pos)
            pos += _MAT.size
            rec["transform"] = [*m, 0.0, 0.0, 0.0, 1.0]
        else:
            (length,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            rec["data"] = orjson.loads(data[pos : pos + length])
            pos += length
        out.append(rec)
    if pos != len(data):
        raise ValueError(f"binary frame has {len(data) - pos} trailing bytes, expected 0")
    return frame_type, epoch, scene, out


def pack_datagrams(
    parts: Iterable[bytes], *, sep: bytes = b"\n", limit: int = MAX_DATAGRAM
) -> list[bytes]:
    """Join parts with ``sep`` into as few datagrams as fit under ``limit`` bytes.

    A part larger than the limit on its own travels alone (it cannot be split).
    """
    out: list[bytes] = []
    cur: list[bytes] = []
    size = 0
    for p in parts:
        extra = len(p) + (len(sep) if cur else 0)
        if cur and size + extra > limit:
            out.append(sep.join(cur))
            cur, size = [], 0
            extra = len(p)
        cur.append(p)
        size += extra
    if cur:
        out.append(sep.join(cur))
    return out


def pack_binary_datagrams(
    epoch: int, scene: str, records: Sequence[bytes], limit: int = MAX_DATAGRAM
) -> list[bytes]:
    """Binary event frames, each under ``limit`` bytes (a lone oversize record travels alone)."""
    base = _HEADER.size + 1 + len(scene.encode()[:255])
    out: list[bytes] = []
    cur: list[bytes] = []
    size = base
    for r in records:
        if cur and size + len(r) > limit:
            out.append(binary_frame(FRAME_EVENTS, epoch, scene, cur))
            cur, size = [], base
        cur.append(r)
        size += len(r)
    if cur:
        out.append(binary_frame(FRAME_EVENTS, epoch, scene, cur))
    return out


# -- WebSocket framing (RFC 6455, server side: never masked) --------------------------------

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8


def ws_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, unmasked WebSocket frame holding ``payload``."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def ws_close_frame(code: int, reason: str) -> bytes:
    """A close frame with ``code`` and a reason of at most 123 bytes."""
    return ws_frame(struct.pack("!H", code) + reason.encode()[:123], OP_CLOSE)
