"""The WebSocket endpoint over real sockets: snapshot, events, resync, interest, slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from aesel.app import Node
from aesel.config import Settings
from aesel.realtime import codec, snapframe
from aesel.realtime.protocol import CloseCode, SeqTracker
from aesel.realtime.ws import Unauthorized
from aesel.services.policy import Principal
from tests.conftest import register

pytestmark = pytest.mark.integration


def at(x: float, y: float = 0.0, z: float = 0.0) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, y, 0.0, 0.0, 1.0, z, 0.0, 0.0, 0.0, 1.0]


async def new_object(http: httpx.AsyncClient, scene: str, name: str, x: float = 0.0) -> str:
    r = await http.post(
        f"/v1/scene/{scene}/object",
        json={"objects": [{"name": name, "scene": scene, "transform": at(x)}]},
    )
    assert r.status_code == 200, r.text
    key: str = r.json()["objects"][0]["key"]
    return key


async def move(http: httpx.AsyncClient, scene: str, key: str, x: float) -> None:
    r = await http.post(f"/v1/scene/{scene}/object/{key}", json={"objects": [{"transform": at(x)}]})
    assert r.status_code == 200, r.text


class Client:
    """A WebSocket client that reads JSON messages with a deadline."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def recv(self, within: float = 3.0) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), within)
        if isinstance(data, bytes) and data[1] == codec.FRAME_SNAPSHOT:
            return {"type": "snapshot", "format": "binary", **snapframe.decode(data)}
        if isinstance(data, bytes) and data[1] == codec.FRAME_INTEREST:
            got = snapframe.decode(data)
            return {"type": "interest", "format": "binary", "enter": got["objects"], **got}
        if isinstance(data, bytes):
            _, epoch, scene, records = codec.decode_binary(data)
            return {"type": "binary", "epoch": epoch, "scene": scene, "records": records}
        doc: dict[str, Any] = orjson.loads(data)
        return doc

    async def expect(self, kind: str, within: float = 3.0) -> dict[str, Any]:
        msg = await self.recv(within)
        assert msg["type"] == kind, msg
        return msg

    async def send(self, doc: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(doc).decode())

    async def subscribe(self, scene: str, **extra: Any) -> dict[str, Any]:
        await self.send({"type": "subscribe", "scene": scene, **extra})
        return await self.expect("snapshot")


@pytest.fixture
async def ws_client(node: Node) -> AsyncIterator[Callable[..., Any]]:
    opened: list[ClientConnection] = []

    async def open_client(query: str = "") -> Client:
        ws = await connect(f"ws://127.0.0.1:{node.ws_port}/{query}", compression=None)
        opened.append(ws)
        c = Client(ws)
        await c.expect("welcome")
        return c

    yield open_client
    for ws in opened:
        await ws.close()


async def test_snapshot_then_live_events_with_seq_and_epoch(
    http: httpx.AsyncClient, ws_client: Any, node: Node
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    key = await new_object(http, "s", "cube", 1.0)
    c = await ws_client()
    snap = await c.subscribe("s")
    assert [o["key"] for o in snap["objects"]] == [key]
    assert snap["objects"][0]["transform"] == at(1.0)
    assert snap["epoch"] == node.hub.epoch
    await move(http, "s", key, 2.0)
    await move(http, "s", key, 3.0)
    got: list[dict[str, Any]] = []
    while len(got) < 2:
        msg = await c.expect("events")
        assert msg["epoch"] == snap["epoch"] and msg["scene"] == "s"
        got += msg["events"]
    assert [e["seq"] for e in got] == [snap["seq"] + 1, snap["seq"] + 2]
    assert [e["data"]["transform"][3] for e in got] == [2.0, 3.0]
    assert got[0]["data"]["msg_type"] == 1


async def test_a_missed_event_is_detected_and_resync_restores_state(
    http: httpx.AsyncClient, ws_client: Any
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    key = await new_object(http, "s", "cube")
    c = await ws_client()
    tracker = SeqTracker()
    snap = await c.subscribe("s")
    tracker.reset("s", snap["epoch"], snap["seq"])
    for x in (1.0, 2.0, 3.0):
        await move(http, "s", key, x)
    events: list[dict[str, Any]] = []
    while len(events) < 3:
        events += (await c.expect("events"))["events"]
    # the client loses the second event (as a UDP-like path could): the tracker notices
    assert tracker.accept("s", snap["epoch"], events[0]["seq"])
    assert not tracker.accept("s", snap["epoch"], events[2]["seq"])
    await c.send({"type": "resync", "scene": "s"})
    again = await c.expect("snapshot")
    assert again["seq"] == events[2]["seq"]
    assert again["objects"][0]["transform"] == at(3.0)
    tracker.reset("s", again["epoch"], again["seq"])
    await move(http, "s", key, 4.0)
    nxt = (await c.expect("events"))["events"][0]
    assert tracker.accept("s", again["epoch"], nxt["seq"])


async def test_interest_filter_and_moving_the_point(
    http: httpx.AsyncClient, ws_client: Any
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    near = await new_object(http, "s", "near", 0.0)
    far = await new_object(http, "s", "far", 100.0)
    c = await ws_client()
    snap = await c.subscribe("s", interest={"center": [0, 0, 0], "radius": 10})
    assert [o["key"] for o in snap["objects"]] == [near]
    await move(http, "s", far, 101.0)
    await move(http, "s", near, 1.0)
    msg = await c.expect("events")
    assert [e["data"]["key"] for e in msg["events"]] == [near]
    # moving the point: far arrives at once, as it is now (101), and near is dropped
    await c.send({"type": "interest", "scene": "s", "center": [100, 0, 0], "radius": 10})
    answer = await c.expect("interest")
    assert answer["epoch"] == snap["epoch"] and answer["seq"] == msg["events"][-1]["seq"]
    assert [(o["key"], o["transform"]) for o in answer["enter"]] == [(far, at(101.0))]
    assert answer["enter"][0]["name"] == "far"
    assert answer["leave"] == [near]
    await move(http, "s", near, 2.0)  # outside: the client dropped it, nothing is sent
    await move(http, "s", far, 102.0)
    nxt = (await c.expect("events"))["events"]
    assert [(e["data"]["key"], e["data"]["transform"][3]) for e in nxt] == [(far, 102.0)]
    assert nxt[0]["seq"] == answer["seq"] + 2  # after the answer's seq, with near's gap
    await move(http, "s", near, 99.0)  # near comes in by itself: sent, as before
    nxt = (await c.expect("events"))["events"]
    assert [(e["data"]["key"], e["data"]["transform"][3]) for e in nxt] == [(near, 99.0)]


async def test_removing_and_setting_the_filter_sends_only_the_difference(
    http: httpx.AsyncClient, ws_client: Any
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    keys = [await new_object(http, "s", f"o{x}", float(x)) for x in (0, 5, 50, 500)]
    c = await ws_client()
    snap = await c.subscribe("s", interest={"center": [0, 0, 0], "radius": 10})
    assert [o["key"] for o in snap["objects"]] == sorted(keys[:2])
    await c.send({"type": "interest", "scene": "s", "center": [0, 0, 0], "radius": None})
    answer = await c.expect("interest")  # no filter: everything the client lacks
    assert sorted(o["key"] for o in answer["enter"]) == sorted(keys[2:])
    assert answer["leave"] == [] and answer["seq"] == snap["seq"]
    await c.send({"type": "interest", "scene": "s", "center": [50, 0, 0], "radius": 1})
    answer = await c.expect("interest")  # a filter again: all but o50 leave
    assert answer["enter"] == [] and answer["leave"] == sorted(keys[:2] + keys[3:])
    await c.send({"type": "interest", "scene": "s", "center": [50, 0, 0], "radius": 1})
    answer = await c.expect("interest")  # the same filter: nothing changes
    assert answer["enter"] == [] and answer["leave"] == []


async def test_moving_the_point_in_binary_sends_an_interest_frame(
    http: httpx.AsyncClient, ws_client: Any
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    near = await new_object(http, "s", "near", 0.0)
    far = await new_object(http, "s", "far", 100.0)
    c = await ws_client("?format=binary")
    snap = await c.subscribe("s", interest={"center": [0, 0, 0], "radius": 10})
    assert [o["key"] for o in snap["objects"]] == [near]
    await move(http, "s", far, 101.5)  # outside: not sent, but the node keeps its state
    await c.send({"type": "interest", "scene": "s", "center": [100, 0, 0], "radius": 10})
    answer = await c.expect("interest")
    assert answer["frame_type"] == codec.FRAME_INTEREST and answer["more"] is False
    assert answer["seq"] == snap["seq"] + 1 and answer["epoch"] == snap["epoch"]
    assert [(o["key"], o["transform"]) for o in answer["objects"]] == [(far, at(101.5))]
    assert answer["objects"][0]["name"] == "far"
    assert answer["leave"] == [near]
    await move(http, "s", far, 102.5)
    msg = await c.expect("binary")
    (rec,) = msg["records"]
    assert rec["key"] == far and rec["seq"] == answer["seq"] + 1
    assert rec["transform"] == at(102.5)


async def test_an_object_that_moves_while_the_point_moves_is_not_lost(
    http: httpx.AsyncClient, ws_client: Any, node: Node
) -> None:
    """Events published while the move loads the scene are flushed under the old filter;
    the answer then carries each entering object's state as of its seq."""
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    far = await new_object(http, "s", "far", 100.0)
    c = await ws_client()
    await c.subscribe("s", interest={"center": [0, 0, 0], "radius": 10})
    load = node.ws.snapshots.load

    async def slow_load(scene: str, who: Any) -> Any:
        loaded = await load(scene, who)
        await move(http, "s", far, 105.0)  # published while the move is loading
        return loaded

    node.ws.snapshots.load = slow_load  # type: ignore[method-assign]
    await c.send({"type": "interest", "scene": "s", "center": [100, 0, 0], "radius": 10})
    answer = await c.expect("interest")
    assert [(o["key"], o["transform"]) for o in answer["enter"]] == [(far, at(105.0))]
    await move(http, "s", far, 106.0)
    nxt = (await c.expect("events"))["events"]
    assert [e["data"]["transform"][3] for e in nxt] == [106.0]
    assert nxt[0]["seq"] == answer["seq"] + 1


async def test_inbound_event_over_websocket_reaches_udp_devices(
    http: httpx.AsyncClient, ws_client: Any, make_device: Any, node: Node
) -> None:
    dev = await make_device()
    await register(http, "s", dev, "d")
    key = await new_object(http, "s", "cube")
    await dev.recv()  # the create event
    c = await ws_client()
    await c.send({"msg_type": 1, "key": key, "scene": "s", "transform": at(7.0)})
    got = await dev.recv()
    assert got["key"] == key and got["transform"] == at(7.0)
    await c.send({"msg_type": 1, "key": key, "scene": "s", "transform": [1.0] * 12})
    err = await c.expect("error")
    assert "transform has 12 numbers, expected 16" in err["message"]
    assert node.ws.events_in == 2


async def test_binary_format_carries_float32_transforms(
    http: httpx.AsyncClient, ws_client: Any
) -> None:
    await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
    key = await new_object(http, "s", "cube")
    c = await ws_client("?format=binary")
    snap = await c.subscribe("s")
    assert snap["format"] == "binary"
    await move(http, "s", key, 1.5)
    msg = await c.expect("binary")
    (rec,) = msg["records"]
    assert rec["key"] == key and rec["seq"] == snap["seq"] + 1
    assert rec["transform"] == at(1.5)


async def test_bad_messages_get_errors_then_a_close(ws_client: Any) -> None:
    c = await ws_client()
    await c.ws.send("not json")
    assert (await c.expect("error"))["code"] == "malformed"
    await c.send({"type": "subscribe", "scene": "s", "format": "xml"})
    assert "expected 'json' or 'binary'" in (await c.expect("error"))["message"]
    await c.ws.send(b"\x00binary")
    await c.expect("error")
    with pytest.raises(Exception):  # noqa: B017 - any ConnectionClosed
        await c.recv()
    assert c.ws.close_code == CloseCode.UNSUPPORTED_DATA


async def test_token_verifier_refuses_the_handshake(node: Node) -> None:
    async def verify(token: str | None) -> tuple[Principal, float]:
        if token != "good":
            raise Unauthorized("token is missing or invalid")
        return Principal(user="alice", enforced=True), math.inf

    node.ws.verifier = verify
    with pytest.raises(InvalidStatus) as e:
        await connect(f"ws://127.0.0.1:{node.ws_port}/")
    assert e.value.response.status_code == 401
    ws = await connect(f"ws://127.0.0.1:{node.ws_port}/?token=good")
    welcome = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
    assert welcome["principal"] == "alice"
    await ws.close()


# -- slow consumers ---------------------------------------------------------------------------


@pytest.fixture
async def tight_node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node with small buffers and a short slow-consumer timeout."""
    s = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "tight",
        ws_high_water=16 * 1024, ws_sndbuf=4096, slow_timeout=0.3,
    )  # fmt: skip
    n = Node(s)
    await n.start()
    yield n
    await n.stop()


def raw_ws(port: int) -> socket.socket:
    """A WebSocket client on a raw socket with a tiny receive buffer, that we can stop reading."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
    s.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head
    return s


def masked_text(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return head + mask + body


def close_code_in(stream: bytes) -> int | None:
    """Walk the server's frames in ``stream`` and return the close code, if a close came."""
    pos = 0
    while pos + 2 <= len(stream):
        op, n = stream[pos] & 0x0F, stream[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", stream, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", stream, pos)
            pos += 8
        if op == codec.OP_CLOSE and pos + 2 <= len(stream):
            code: int = struct.unpack_from("!H", stream, pos)[0]
            return code
        pos += n
    return None


async def test_a_client_that_stops_reading_is_disconnected_and_others_keep_up(
    tight_node: Node, make_device: Any
) -> None:
    node = tight_node
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as http:
        await http.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        objs = [{"name": f"o{i}", "scene": "s", "transform": at(0)} for i in range(50)]
        r = await http.post("/v1/scene/s/object", json={"objects": objs})
        keys = [o["key"] for o in r.json()["objects"]]
    loop = asyncio.get_running_loop()
    slow = await loop.run_in_executor(None, raw_ws, node.ws_port)
    slow.sendall(masked_text(b'{"type":"subscribe","scene":"s"}'))
    until = time.monotonic() + 5
    while node.hub.subscriber_count() < 1:  # the slow client's subscription is in place
        assert time.monotonic() < until, "the slow client never subscribed"
        await asyncio.sleep(0.005)
    fast_ws = await connect(f"ws://127.0.0.1:{node.ws_port}/", compression=None)
    fast = Client(fast_ws)
    await fast.expect("welcome")
    snap = await fast.subscribe("s")
    dev = await make_device()
    udp = dev.transport
    worst = 0.0
    expected = snap["seq"]
    deadline = time.monotonic() + 10
    # stream object updates; the fast client must get every one promptly
    while node.hub.stats.slow_disconnects == 0:
        assert time.monotonic() < deadline, "the slow client was never disconnected"
        t0 = loop.time()
        for k in keys:
            udp.sendto(
                orjson.dumps({"msg_type": 1, "key": k, "scene": "s", "transform": at(t0)}),
                ("127.0.0.1", node.udp_port),
            )
        expected += len(keys)
        got = 0
        while got < len(keys):
            msg = await fast.expect("events")
            got += len(msg["events"])
            assert msg["events"][-1]["seq"] <= expected
        worst = max(worst, loop.time() - t0)
    assert node.hub.subscriber_count() == 1  # only the fast one is left
    assert worst < 1.0, f"the fast client waited {worst:.3f} s for a round"
    # the slow client, reading again, finds the close frame 4008 behind its backlog
    data = b""
    with contextlib.suppress(OSError):
        while chunk := await loop.run_in_executor(None, slow.recv, 1 << 20):
            data += chunk
    slow.close()
    assert close_code_in(data) == CloseCode.SLOW
    assert node.services.drops["slow_consumer"] > 0
    await fast_ws.close()


async def test_a_client_that_does_not_answer_pings_is_dropped(tmp_path: Path) -> None:
    s = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "data", ws_ping_interval=0.1
    )
    node = Node(s)
    await node.start()
    try:
        loop = asyncio.get_running_loop()
        mute = await loop.run_in_executor(None, raw_ws, node.ws_port)  # never answers pings
        good = await connect(f"ws://127.0.0.1:{node.ws_port}/", compression=None)  # answers
        deadline = time.monotonic() + 5
        while node.ws.connections != 1:
            assert time.monotonic() < deadline, "the mute client was never dropped"
            await asyncio.sleep(0.02)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := await loop.run_in_executor(None, mute.recv, 65536):
                data += chunk
        mute.close()
        assert b"\x89\x04" in data  # it was pinged (a 4-byte ping)
        await good.ping()  # the answering one is still open
        await good.close()
    finally:
        await node.stop()
