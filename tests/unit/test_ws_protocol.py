"""The WebSocket session, sans-I/O: messages in, commands out."""

from __future__ import annotations

import orjson
import pytest

from aesel.realtime.hub import Format, Interest
from aesel.realtime.protocol import (
    Close,
    CloseCode,
    Inbound,
    Reply,
    SeqTracker,
    Session,
    SessionState,
    SetInterest,
    Subscribe,
    Unsubscribe,
)


def msg(**doc: object) -> str:
    return orjson.dumps(doc).decode()


def reply(cmds: list[object]) -> dict[str, object]:
    (r,) = [c for c in cmds if isinstance(c, Reply)]
    doc: dict[str, object] = orjson.loads(r.data)
    return doc


def test_subscribe_with_format_and_interest() -> None:
    s = Session()
    cmds = s.receive(msg(type="subscribe", scene="a", format="binary",
                         interest={"center": [1, 2, 3], "radius": 5}))  # fmt: skip
    assert cmds == [Subscribe("a", Format.BINARY, Interest((1.0, 2.0, 3.0), 5.0))]
    assert s.scenes == {"a": Format.BINARY}


def test_default_format_resync_and_unsubscribe() -> None:
    s = Session(default_format=Format.BINARY)
    assert s.receive(msg(type="subscribe", scene="a")) == [Subscribe("a", Format.BINARY, None)]
    assert s.receive(msg(type="resync", scene="a")) == [Subscribe("a", Format.BINARY, None)]
    cmds = s.receive(msg(type="unsubscribe", scene="a"))
    assert cmds[0] == Unsubscribe("a") and reply(cmds)["type"] == "unsubscribed"
    assert "not subscribed" in str(reply(s.receive(msg(type="unsubscribe", scene="a")))["message"])


def test_interest_moves_and_clears() -> None:
    s = Session()
    s.receive(msg(type="subscribe", scene="a"))
    assert s.receive(msg(type="interest", scene="a", center=[0, 0, 0], radius=2)) == [
        SetInterest("a", Interest((0.0, 0.0, 0.0), 2.0))
    ]
    assert s.receive(msg(type="interest", scene="a", radius=None)) == [SetInterest("a", None)]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"type": "subscribe"}, "scene is None, expected a non-empty string"),
        ({"type": "subscribe", "scene": "a", "format": "batch"}, "batch is for udp"),
        ({"type": "subscribe", "scene": "a", "interest": {"center": [1], "radius": 1}},
         "interest center has 1 numbers, expected 3"),
        ({"type": "subscribe", "scene": "a", "interest": {"center": [0, 0, 0], "radius": -1}},
         "expected a finite number >= 0"),
        ({"type": "dance"}, "message type is 'dance', expected subscribe"),
    ],
)  # fmt: skip
def test_invalid_messages_get_an_error_saying_what_was_expected(
    doc: dict[str, object], expected: str
) -> None:
    s = Session()
    r = reply(s.receive(orjson.dumps(doc).decode()))
    assert r["type"] == "error" and expected in str(r["message"])
    assert s.state is SessionState.OPEN


def test_events_pass_through_as_udp_datagrams() -> None:
    s = Session()
    raw = msg(msg_type=1, key="k", scene="a", transform=[0] * 16)
    assert s.receive(raw) == [Inbound(orjson.loads(raw))]


def test_too_many_bad_messages_close_the_session() -> None:
    s = Session(max_errors=3)
    s.receive("{")
    s.receive("[]")
    cmds = s.receive("nope")
    assert Close(CloseCode.BAD_REQUEST, "too many bad messages") in cmds
    assert s.state is SessionState.CLOSED and s.receive(msg(type="ping")) == []


def test_a_good_message_resets_the_error_count() -> None:
    s = Session(max_errors=2)
    s.receive("{")
    assert reply(s.receive(msg(type="ping"))) == {"type": "pong"}
    s.receive("{")
    assert s.state is SessionState.OPEN


def test_binary_messages_close_with_1003() -> None:
    s = Session()
    cmds = s.receive(b"\x00")
    assert any(isinstance(c, Close) and c.code == CloseCode.UNSUPPORTED_DATA for c in cmds)


def test_subscription_limit() -> None:
    s = Session(max_subscriptions=1)
    s.receive(msg(type="subscribe", scene="a"))
    cmds = s.receive(msg(type="subscribe", scene="b"))
    assert isinstance(cmds[0], Close) and cmds[0].code == CloseCode.TOO_MANY_SUBSCRIPTIONS


def test_seq_tracker_detects_gaps_and_epoch_changes() -> None:
    t = SeqTracker()
    t.reset("a", 1, 10)
    assert t.accept("a", 1, 11)
    assert not t.accept("a", 1, 13)  # 12 was missed
    assert not t.accept("a", 2, 14)  # a new epoch: the node restarted
    assert not t.accept("b", 1, 1)  # no snapshot yet


def test_a_subscription_is_subscribing_until_its_snapshot_is_sent() -> None:
    from aesel.realtime.protocol import SubscriptionState

    s = Session()
    s.receive(msg(type="subscribe", scene="a"))
    assert s.subscriptions == {"a": SubscriptionState.SUBSCRIBING}
    assert s.loaded("a") and s.subscriptions == {"a": SubscriptionState.LIVE}
    assert not s.loaded("a")  # only once
    s.receive(msg(type="resync", scene="a"))
    assert s.subscriptions["a"] is SubscriptionState.SUBSCRIBING
    s.receive(msg(type="unsubscribe", scene="a"))
    assert not s.loaded("a") and s.subscriptions == {} and s.scenes == {}
    s.receive(msg(type="subscribe", scene="b"))
    s.refused("b")
    assert s.subscriptions == {} and s.scenes == {}
