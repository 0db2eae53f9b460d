"""The recording file codec, bytes in and out, without I/O."""

from __future__ import annotations

import struct

import pytest

from aesel.model import recording as rec

META = rec.Meta("r1", "scene-a", 1_700_000_000_000_000_000)
EVENTS = [
    (0, {"msg_type": 0, "key": "o1", "scene": "scene-a", "transform": [1.0] * 16}),
    (5_000_000, {"msg_type": 1, "key": "o1", "transform": [2.0] * 16}),
    (5_000_000, {"msg_type": 9, "key": "p1", "values": [{"value": 3.0}]}),
    (9_000_000, {"msg_type": 3, "key": "o1"}),
]


def recording() -> bytes:
    return rec.start(META) + b"".join(rec.event(t, p) for t, p in EVENTS)


def test_round_trip_keeps_meta_order_times_and_payloads() -> None:
    meta, entries = rec.decode(recording())
    assert meta == META
    assert [(e.t, e.payload) for e in entries] == EVENTS


def test_layout_is_magic_version_then_length_crc_payload() -> None:
    data = recording()
    assert data[:8] == b"AESELREC"
    assert struct.unpack_from("<H", data, 8)[0] == rec.VERSION
    length, _ = struct.unpack_from("<II", data, 12)
    kind, t = struct.unpack_from("<BQ", data, 20)
    assert (kind, t) == (rec.Kind.META, 0)
    assert rec.complete_prefix(data) == len(data)
    assert len(data) > 20 + length


@pytest.mark.parametrize("cut", [1, 5, 9, 30])
def test_a_truncated_recording_is_refused_and_its_whole_prefix_found(cut: int) -> None:
    data = recording()
    whole = rec.start(META) + b"".join(rec.event(t, p) for t, p in EVENTS[:3])
    torn = data[: len(data) - cut]
    with pytest.raises(rec.CorruptRecording, match=r"truncated|length"):
        rec.decode(torn)
    assert rec.complete_prefix(torn) == len(whole)
    assert len(rec.decode(torn[: rec.complete_prefix(torn)])[1]) == 3


def test_a_flipped_byte_fails_the_checksum() -> None:
    data = bytearray(recording())
    data[-3] ^= 0x20
    with pytest.raises(rec.CorruptRecording, match=r"record 4 .* fails its checksum"):
        rec.decode(bytes(data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "expected a 12-byte header"),
        (b"NOTAREC!" + bytes(4), "expected b'AESELREC'"),
        (struct.pack("<8sHH", b"AESELREC", 9, 0), "version is 9, expected 1"),
        (rec.header(), "META record first"),
        (rec.header() + rec.event(0, {"msg_type": 1}), "META record first"),
        (
            rec.start(META) + rec.event(5, {"msg_type": 1}) + rec.event(4, {"msg_type": 1}),
            "goes back in time",
        ),
        (rec.start(META) + rec.record(rec.Kind.EVENT, 0, b"{nope"), "not JSON"),
        (rec.start(META) + rec.event(0, {"key": "x"}), "no msg_type"),
        (rec.start(META) + struct.pack("<II", 1 << 30, 0), "length 1073741824"),
    ],
)
def test_invalid_recordings_are_refused_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(rec.CorruptRecording, match=why.replace("(", r"\(")):
        rec.decode(data)
