"""The sans-I/O parts: frames in, events out; the mirror's gap and interest rules."""

from __future__ import annotations

import json

import pytest

from aesel.realtime import snapframe
from aesel.realtime.codec import binary_frame, binary_record
from aesel_client.mirror import Interest, SceneMirror
from aesel_client.wire import (
    Event,
    ProtocolViolation,
    Snapshot,
    SnapshotPart,
    parse_binary,
    parse_frame,
    parse_text,
)

T = [1.0, 0, 0, 5.5, 0, 1, 0, -2, 0, 0, 1, 3, 0, 0, 0, 1]


def test_binary_frame_from_the_server_encoder_decodes_to_events() -> None:
    records = [
        binary_record(1, 7, "o1", {"msg_type": 1, "key": "o1", "scene": "s", "transform": T}),
        binary_record(9, 8, "p1", {"msg_type": 9, "key": "p1", "scene": "s", "values": [2.5]}),
    ]
    events = parse_binary(binary_frame(1, 42, "s", records))
    assert [(e.scene, e.epoch, e.seq, e.msg_type, e.key) for e in events] == [
        ("s", 42, 7, 1, "o1"),
        ("s", 42, 8, 9, "p1"),
    ]
    assert events[0].transform == tuple(float(x) for x in T)
    assert events[1].is_property and events[1].data["values"] == [2.5]
    with pytest.raises(ProtocolViolation, match="trailing"):
        parse_binary(binary_frame(1, 42, "s", records) + b"x")
    with pytest.raises(ProtocolViolation):
        parse_binary(binary_frame(1, 42, "s", records)[:-3])


def test_text_events_and_snapshot() -> None:
    msg = {"type": "events", "scene": "s", "epoch": 3,
           "events": [{"seq": 5, "data": {"msg_type": 3, "key": "o", "scene": "s"}}]}  # fmt: skip
    (ev,) = parse_text(json.dumps(msg))
    assert isinstance(ev, Event) and ev.is_delete and not ev.is_property and ev.seq == 5
    with pytest.raises(ProtocolViolation):
        parse_text("[1]")


def snapshot(seq: int, epoch: int = 1, objects: list[dict[str, object]] | None = None) -> Snapshot:
    objs = objects if objects is not None else [{"key": "o", "name": "o", "transform": T}]
    return Snapshot("s", epoch, seq, objs, [])


def event(seq: int, x: float, epoch: int = 1, key: str = "o") -> Event:
    t = (1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    return Event("s", epoch, seq, 1, key, t, {"msg_type": 1, "key": key})


def test_mirror_applies_consecutive_events_and_flags_a_gap_or_a_new_epoch() -> None:
    m = SceneMirror("s")
    m.load(snapshot(10))
    assert m.objects["o"].transform[3] == 5.5
    assert m.accept(event(11, 1.0))
    m.apply(event(11, 1.0))
    assert m.objects["o"].transform[3] == 1.0
    assert not m.accept(event(13, 2.0)) and not m.synced
    m.load(snapshot(13))
    assert not m.accept(event(14, 2.0, epoch=2))
    # seq wraps modulo 2^32 in binary records
    m.load(snapshot(2**32 - 1))
    assert m.accept(event(0, 3.0))


def test_mirror_with_interest_ignores_seq_gaps_and_drops_objects_leaving_the_radius() -> None:
    m = SceneMirror("s", Interest((0.0, 0.0, 0.0), 10.0))
    m.load(snapshot(1, objects=[{"key": "o", "transform": T}]))
    assert m.accept(event(5, 3.0))
    m.apply(event(5, 3.0))
    assert "o" in m.objects
    m.apply(event(6, 50.0))
    assert "o" not in m.objects
    m.apply(event(7, 1.0, key="n"))
    assert m.objects["n"].transform[3] == 1.0


def test_binary_snapshot_frames_from_the_server_encoder() -> None:
    objects = [{"key": f"o{i}", "name": f"n{i}", "transform": T} for i in range(5)]
    props = [{"key": "p", "name": "speed", "values": [1.5]}]
    frames = snapframe.encode(9, "s", 41, objects, props, max_records=4)
    parts = [parse_frame(f) for f in frames]
    assert all(isinstance(p, SnapshotPart) for p in parts)
    a, b = parts
    assert isinstance(a, SnapshotPart) and isinstance(b, SnapshotPart)
    assert (a.scene, a.epoch, a.seq, a.more, b.more) == ("s", 9, 41, True, False)
    got = [*a.objects, *b.objects]
    assert [o["key"] for o in got] == [f"o{i}" for i in range(5)]
    assert got[2]["name"] == "n2" and got[2]["transform"] == [float(x) for x in T]
    assert b.properties == [{"key": "p", "name": "speed", "values": [1.5]}]
    with pytest.raises(ProtocolViolation, match="snapshot"):
        parse_binary(frames[0])
