"""The recording file format: pure functions over bytes (no I/O).

A recording is a scene's event stream with the time of each event, as written by the
recorder and read back by a replay. Layout (little-endian)::

    header   magic b"AESELREC" (8) | version u16 = 1 | reserved u16 = 0
    record   length u32 | crc32 u32 (of the payload) | payload (length bytes)
    payload  kind u8 | t u64 (nanoseconds since the recording started) | JSON body

The first record is the ``META`` record (``{"id", "scene", "started"}``, ``started`` in Unix
nanoseconds, ``t`` = 0); every later one is an ``EVENT`` record whose body is the event's
Aesel JSON (``msg_type`` included) and whose ``t`` never decreases.

Every record carries its own length and checksum, so a reader tells a complete file from a
torn or altered one: :func:`decode` refuses anything but a whole, valid file (a replay validates
the whole file before it sends one event), and :func:`complete_prefix` finds how much of a file
a crash left intact (the recorder appends whole records, so a crash tears at most the last).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from aesel.errors import BadRequest

MAGIC = b"AESELREC"
VERSION = 1
HEADER = struct.Struct("<8sHH")
FRAME = struct.Struct("<II")  # length, crc32
PAYLOAD = struct.Struct("<BQ")  # kind, t
MAX_RECORD = 16 << 20


class Kind(IntEnum):
    META = 1
    EVENT = 2


class CorruptRecording(BadRequest):
    """The bytes are not a whole, valid recording (the message says where and why)."""

    reason = "corrupt_recording"


@dataclass(frozen=True, slots=True)
class Meta:
    id: str
    scene: str
    started: int  # Unix nanoseconds


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded event: ``t`` nanoseconds after the start, and its Aesel JSON."""

    t: int
    payload: dict[str, Any]


def header() -> bytes:
    return HEADER.pack(MAGIC, VERSION, 0)


def record(kind: Kind, t: int, body: bytes) -> bytes:
    """One framed record: length, checksum, payload."""
    payload = PAYLOAD.pack(int(kind), t) + body
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def start(meta: Meta) -> bytes:
    """The first bytes of a recording: the header and its META record."""
    body = orjson.dumps({"id": meta.id, "scene": meta.scene, "started": meta.started})
    return header() + record(Kind.META, 0, body)


def event(t: int, payload: dict[str, Any]) -> bytes:
    return record(Kind.EVENT, t, orjson.dumps(payload))


def _records(data: bytes) -> tuple[list[tuple[int, int, bytes]], int, str]:
    """The valid records from the start: ``[(kind, t, body)]``, the end of the last one, and
    why reading stopped there (``""`` at the end of the data)."""
    if len(data) < HEADER.size:
        return [], 0, f"recording has {len(data)} bytes, expected a {HEADER.size}-byte header"
    magic, version, _ = HEADER.unpack_from(data)
    if magic != MAGIC:
        return [], 0, f"recording starts with {magic!r}, expected {MAGIC!r}"
    if version != VERSION:
        return [], 0, f"recording format version is {version}, expected {VERSION}"
    out: list[tuple[int, int, bytes]] = []
    pos = HEADER.size
    while pos < len(data):
        if len(data) - pos < FRAME.size:
            return out, pos, f"record {len(out)} at byte {pos} is truncated (no length)"
        length, crc = FRAME.unpack_from(data, pos)
        begin = pos + FRAME.size
        if length < PAYLOAD.size or length > MAX_RECORD:
            return (
                out,
                pos,
                (
                    f"record {len(out)} at byte {pos} has length {length}, expected "
                    f"{PAYLOAD.size} to {MAX_RECORD}"
                ),
            )
        if len(data) - begin < length:
            return (
                out,
                pos,
                (
                    f"record {len(out)} at byte {pos} is truncated: {len(data) - begin} of "
                    f"{length} bytes"
                ),
            )
        payload = data[begin : begin + length]
        if zlib.crc32(payload) != crc:
            return out, pos, f"record {len(out)} at byte {pos} fails its checksum"
        kind, t = PAYLOAD.unpack_from(payload)
        out.append((kind, t, payload[PAYLOAD.size :]))
        pos = begin + length
    return out, pos, ""


def complete_prefix(data: bytes) -> int:
    """How many leading bytes of ``data`` are whole, valid records (0: not even the header)."""
    _, end, _ = _records(data)
    return end


def decode(data: bytes) -> tuple[Meta, list[Entry]]:
    """The recording in ``data``; :class:`CorruptRecording` unless the whole file is valid."""
    records, _, why = _records(data)
    if why:
        raise CorruptRecording(f"corrupt recording: {why}")
    if not records or records[0][0] != Kind.META:
        raise CorruptRecording("corrupt recording: expected a META record first")
    try:
        m = orjson.loads(records[0][2])
        meta = Meta(str(m["id"]), str(m["scene"]), int(m["started"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise CorruptRecording("corrupt recording: the META record is not valid") from None
    entries: list[Entry] = []
    last = 0
    for i, (kind, t, body) in enumerate(records[1:], 1):
        if kind != Kind.EVENT:
            raise CorruptRecording(f"corrupt recording: record {i} has kind {kind}, expected 2")
        if t < last:
            raise CorruptRecording(f"corrupt recording: record {i} goes back in time")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise CorruptRecording(f"corrupt recording: record {i} is not JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("msg_type"), int):
            raise CorruptRecording(f"corrupt recording: record {i} has no msg_type")
        entries.append(Entry(t, payload))
        last = t
    return meta, entries
