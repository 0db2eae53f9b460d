"""Outbound encodings and WebSocket framing, bytes only."""

from __future__ import annotations

import struct

import orjson
import pytest

from aesel.realtime import codec

T = [1.0, 0.0, 0.0, 1.5, 0.0, 1.0, 0.0, -2.25, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 1.0]


def obj(key: str = "k", **extra: object) -> dict[str, object]:
    return {"msg_type": 1, "key": key, "scene": "s", "name": "n", "transform": T, "assets": [],
            "actions": [], **extra}  # fmt: skip


def test_ws_events_reuses_the_encoded_aesel_json() -> None:
    data = codec.aesel_json(obj())
    item = codec.ws_item(7, data)
    assert data in item
    msg = orjson.loads(codec.ws_events("s", 42, [item, codec.ws_item(8, data)]))
    assert msg["type"] == "events" and msg["epoch"] == 42 and msg["scene"] == "s"
    assert [e["seq"] for e in msg["events"]] == [7, 8]
    assert msg["events"][0]["data"] == obj()


def test_binary_transform_record_is_float32_and_round_trips() -> None:
    rec = codec.binary_record(1, 9, "key", obj("key"))
    assert len(rec) == 4 + 1 + 1 + 3 + 1 + 48
    frame = codec.binary_frame(codec.FRAME_EVENTS, 5, "s", [rec])
    kind, epoch, scene, records = codec.decode_binary(frame)
    assert (kind, epoch, scene) == (codec.FRAME_EVENTS, 5, "s")
    assert records == [{"msg_type": 1, "seq": 9, "key": "key", "transform": T}]


def test_binary_falls_back_to_json_for_other_events() -> None:
    prop = {"msg_type": 9, "key": "p", "scene": "s", "values": [1.0]}
    withactions = obj("o", actions=[{"name": "a"}])
    frame = codec.binary_frame(
        1,
        0,
        "s",
        [codec.binary_record(9, 1, "p", prop), codec.binary_record(1, 2, "o", withactions)],
    )
    _, _, _, records = codec.decode_binary(frame)
    assert records[0]["data"] == prop and records[1]["data"] == withactions


def test_decode_binary_rejects_trailing_bytes_and_bad_versions() -> None:
    frame = codec.binary_frame(1, 0, "s", [codec.binary_record(1, 1, "k", obj())])
    with pytest.raises(ValueError, match="trailing bytes"):
        codec.decode_binary(frame + b"x")
    with pytest.raises(ValueError, match="version is 9, expected 1"):
        codec.decode_binary(b"\x09" + frame[1:])


def test_datagrams_are_packed_under_the_limit_and_keep_order() -> None:
    parts = [codec.aesel_json(obj(f"k{i}")) for i in range(40)]
    datagrams = codec.pack_datagrams(parts)
    assert all(len(d) < codec.MAX_DATAGRAM for d in datagrams)
    assert b"\n".join(datagrams).split(b"\n") == parts
    assert len(datagrams) < len(parts)
    big = b"x" * 3000
    assert codec.pack_datagrams([b"a", big, b"b"]) == [b"a", big, b"b"]


def test_binary_datagrams_are_packed_under_the_limit() -> None:
    recs = [codec.binary_record(1, i, f"key-{i}", obj()) for i in range(100)]
    datagrams = codec.pack_binary_datagrams(1, "scene", recs)
    assert all(len(d) <= codec.MAX_DATAGRAM for d in datagrams)
    seqs = [r["seq"] for d in datagrams for r in codec.decode_binary(d)[3]]
    assert seqs == list(range(100))


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_ws_frame_lengths(n: int) -> None:
    frame = codec.ws_frame(b"a" * n)
    assert frame[0] == 0x81
    if n < 126:
        assert frame[1] == n and len(frame) == 2 + n
    elif n < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == n
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == n


def test_close_frame() -> None:
    f = codec.ws_close_frame(4008, "slow consumer")
    assert f[0] == 0x88 and struct.unpack("!H", f[2:4])[0] == 4008 and f[4:] == b"slow consumer"


def test_core_modules_import_no_io() -> None:
    import ast
    import inspect

    from aesel.realtime import protocol
    from aesel.udp import crypto

    for mod in (codec, protocol, crypto):
        tree = ast.parse(inspect.getsource(mod))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not names & {"asyncio", "socket", "websockets", "uvloop"}, mod.__name__
