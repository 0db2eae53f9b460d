"""Binary snapshot frames: encoded and decoded without I/O."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aesel.realtime import codec, snapframe

T = [1.0, 0.0, 0.0, 1.5, 0.0, 1.0, 0.0, -2.25, 0.0, 0.0, 1.0, 0.125, 0.0, 0.0, 0.0, 1.0]
OBJ = {"key": "o1", "name": "cube", "scene": "s", "type": "mesh", "transform": T,
       "actions": [{"name": "a", "keyframes": []}]}  # fmt: skip
PROP = {"key": "p1", "name": "temp", "scene": "s", "parent": "o1", "values": [{"value": 3.5}]}


def test_a_snapshot_round_trips_with_float32_transforms_and_the_rest_as_json() -> None:
    [frame] = snapframe.encode(99, "s", 1234, [OBJ], [PROP])
    assert frame[0] == codec.BINARY_VERSION and frame[1] == codec.FRAME_SNAPSHOT
    snap = snapframe.decode(frame)
    assert (snap["epoch"], snap["scene"], snap["seq"], snap["more"]) == (99, "s", 1234, False)
    assert snap["objects"] == [OBJ]  # these numbers are exact in float32
    assert snap["properties"] == [PROP]


def test_an_empty_snapshot_still_carries_its_seq() -> None:
    [frame] = snapframe.encode(1, "empty", 7, [], [])
    assert snapframe.decode(frame) == {
        "frame_type": 2, "epoch": 1, "scene": "empty", "seq": 7, "more": False, "objects": [],
        "properties": [], "leave": [],
    }  # fmt: skip


def test_an_interest_frame_carries_entering_objects_and_leaving_keys() -> None:
    [frame] = snapframe.encode(
        5, "s", 9, [OBJ], [], frame_type=codec.FRAME_INTEREST, leave=["gone1", "gone2"]
    )
    assert frame[1] == codec.FRAME_INTEREST
    got = snapframe.decode(frame)
    assert (got["frame_type"], got["seq"], got["more"]) == (codec.FRAME_INTEREST, 9, False)
    assert got["objects"] == [OBJ] and got["leave"] == ["gone1", "gone2"]


def test_a_large_snapshot_takes_several_frames_flagged_more() -> None:
    objs = [{**OBJ, "key": f"o{i}"} for i in range(5)]
    frames = snapframe.encode(1, "s", 3, objs, [PROP], max_records=2)
    decoded = [snapframe.decode(f) for f in frames]
    assert [d["more"] for d in decoded] == [True, True, False]
    assert [o["key"] for d in decoded for o in d["objects"]] == [f"o{i}" for i in range(5)]
    assert [p["key"] for d in decoded for p in d["properties"]] == ["p1"]


def test_an_events_frame_or_trailing_bytes_are_refused() -> None:
    events = codec.binary_frame(codec.FRAME_EVENTS, 1, "s", [])
    with pytest.raises(ValueError, match="expected 1 and 2"):
        snapframe.decode(events)
    [frame] = snapframe.encode(1, "s", 3, [OBJ], [])
    with pytest.raises(ValueError, match="trailing"):
        snapframe.decode(frame + b"x")


def test_snapframe_loads_no_io() -> None:
    probe = "import sys, aesel.realtime.snapframe; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
