"""Devices that receive object transforms in their own frame: the numbers, and one encoding
per distinct frame."""

from __future__ import annotations

import math

import orjson
import pytest

from aesel.model import transform as tf
from aesel.model.event import Event
from aesel.realtime import codec
from aesel.realtime.hub import Format, Hub, WsSubscriber, in_frame
from tests.unit.test_hub import FakeWriter, Turn

T = list(
    tf.matmul(
        tf.rigid((4.0, -2.0, 0.5), (0.1, 0.2, 0.3)),
        (2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 1.0),
    )
)
M1 = tf.rigid((1.0, 2.0, 3.0), (0.3, 0.0, 0.5))
M2 = tf.rigid((-5.0, 0.0, 1.0), (0.0, math.pi / 2, 0.0))


def close(a: list[float], b: tuple[float, ...] | list[float], tol: float = 1e-9) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_in_frame_is_the_matrix_product_and_inverts() -> None:
    assert close(in_frame(M1, T), tf.matmul(M1, tuple(T)))
    assert close(in_frame(tf.inverse(M1), in_frame(M1, T)), T)
    assert in_frame(tf.IDENTITY, T) == T


def hub_with(
    devices: dict[str, tuple[Format, tuple[float, ...] | None]],
) -> tuple[Hub, Turn, list[tuple[bytes, str]]]:
    turn = Turn()
    hub = Hub(epoch=7, schedule=turn)
    sent: list[tuple[bytes, str]] = []
    ports = {}
    for i, (key, (fmt, frame)) in enumerate(devices.items()):
        ports[9000 + i] = key
        hub.add_device("s", key, ("127.0.0.1", 9000 + i), format=fmt)
        hub.set_frame("s", key, frame)
    hub.attach_udp(lambda data, addr: sent.append((data, ports[addr[1]])))
    return hub, turn, sent


def event(seq: int, transform: list[float] | None = None) -> Event:
    payload: dict[str, object] = {"msg_type": 1, "key": "o", "scene": "s"}
    if transform is not None:
        payload["transform"] = transform
    return Event("s", 1, "o", payload, seq=seq)


def test_each_device_gets_its_frame_and_devices_sharing_a_frame_share_the_bytes() -> None:
    hub, turn, sent = hub_with(
        {
            "a": (Format.JSON, M1),
            "b": (Format.JSON, M1),
            "c": (Format.JSON, M2),
            "plain": (Format.JSON, None),
        }
    )
    hub.deliver(event(1, T))
    turn.end()
    got = {key: data for data, key in sent}
    assert close(orjson.loads(got["a"])["transform"], tf.matmul(M1, tuple(T)))
    assert close(orjson.loads(got["c"])["transform"], tf.matmul(M2, tuple(T)))
    assert orjson.loads(got["plain"])["transform"] == T
    assert got["a"] is got["b"]  # encoded once for the frame, not once per device
    assert got["a"] is not got["c"]


@pytest.mark.parametrize("fmt", [Format.BATCH, Format.BINARY])
def test_batch_and_binary_devices_get_their_frame(fmt: Format) -> None:
    hub, turn, sent = hub_with({"a": (fmt, M1)})
    hub.deliver(event(1, T))
    hub.deliver(event(2, None))  # no transform: passes unchanged
    turn.end()
    [(data, _)] = sent
    want = tf.matmul(M1, tuple(T))
    if fmt is Format.BINARY:
        _, _, _, records = codec.decode_binary(data)
        assert close(records[0]["transform"], want, 1e-4)
        assert records[1]["data"] == {"msg_type": 1, "key": "o", "scene": "s"}
    else:
        first, second = data.split(b"\n")
        assert close(orjson.loads(first)["transform"], want)
        assert orjson.loads(second) == {"msg_type": 1, "key": "o", "scene": "s"}


def test_a_new_frame_applies_from_the_next_event() -> None:
    hub, turn, sent = hub_with({"a": (Format.JSON, M1)})
    hub.deliver(event(1, T))
    turn.end()
    hub.set_frame("s", "a", M2)
    hub.deliver(event(2, T))
    turn.end()
    hub.set_frame("s", "a", None)
    hub.deliver(event(3, T))
    turn.end()
    xs = [orjson.loads(d)["transform"] for d, _ in sent]
    assert close(xs[0], tf.matmul(M1, tuple(T)))
    assert close(xs[1], tf.matmul(M2, tuple(T)))
    assert xs[2] == T


def test_websocket_subscribers_in_one_frame_share_one_frame_of_bytes() -> None:
    turn = Turn()
    hub = Hub(epoch=7, schedule=turn)
    writers = [FakeWriter() for _ in range(3)]
    for i, (w, m) in enumerate(zip(writers, (M1, M1, None), strict=True)):
        hub.subscribe(WsSubscriber(i, "s", w, frame=m, frame_device="d" if m else ""))
    hub.deliver(event(1, T))
    turn.end()
    a, b, plain = (w.frames[0] for w in writers)
    assert a is b and a is not plain
    data = writers[0].messages()[0]["events"][0]["data"]  # type: ignore[index]
    assert close(data["transform"], tf.matmul(M1, tuple(T)))
    hub.reframe("s", "d", M2)
    hub.deliver(event(2, T))
    turn.end()
    data = writers[1].messages()[1]["events"][0]["data"]  # type: ignore[index]
    assert close(data["transform"], tf.matmul(M2, tuple(T)))
    assert writers[2].messages()[1]["events"][0]["data"]["transform"] == T  # type: ignore[index]


def test_a_transform_that_cannot_be_multiplied_is_dropped_for_framed_devices_only() -> None:
    hub, turn, sent = hub_with({"a": (Format.JSON, M1), "plain": (Format.JSON, None)})
    hub.deliver(event(1, [*T[:15], "x"]))  # type: ignore[list-item]
    hub.deliver(event(2, T))
    turn.end()
    got = [(key, orjson.loads(data)) for data, key in sent]
    assert [key for key, _ in got] == ["a", "plain", "plain"]
    assert close(got[0][1]["transform"], tf.matmul(M1, tuple(T)))
    assert hub.drops["encode_error"] == 1
