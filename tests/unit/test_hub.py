"""The hub's fan-out logic with fake senders and writers: batching, formats, slow consumers."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from aesel.model.event import Event
from aesel.realtime import codec
from aesel.realtime.hub import Encoded, Format, Hub, Interest, WsSubscriber, latency_quantile
from aesel.realtime.protocol import CloseCode


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def ev(seq: int, key: str = "k", x: float = 0.0, scene: str = "s") -> Event:
    payload = {"msg_type": 1, "key": key, "scene": scene, "transform": at(x), "actions": []}
    return Event(scene, 1, key, payload, seq=seq, t_in=1)


class FakeWriter:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.backlog = 0
        self.closed: tuple[int, str] | None = None
        self.closing = False
        self.fail: Exception | None = None

    def write(self, data: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.frames.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def buffered(self) -> int:
        return self.backlog

    def offer(self, data: bytes, high: int) -> int:
        if self.closing:
            return 2
        if self.backlog > high:
            return 1
        self.write(data)
        return 0

    def close_slow(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def messages(self) -> list[dict[str, object]]:
        out = []
        for f in self.frames:
            n = f[1] & 0x7F
            body = f[2:] if n < 126 else f[4:] if n == 126 else f[10:]
            out.append(orjson.loads(body))
        return out


class Turn:
    """Stands in for the loop: collects the scheduled flush, runs it on ``end()``."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], None]] = []

    def __call__(self, fn: Callable[[], None]) -> None:
        self.calls.append(fn)

    def end(self) -> None:
        calls, self.calls = self.calls, []
        for fn in calls:
            fn()


def make_hub(**kw: object) -> tuple[Hub, Turn, list[tuple[bytes, tuple[str, int]]]]:
    turn = Turn()
    hub = Hub(epoch=7, schedule=turn, **kw)  # type: ignore[arg-type]
    sent: list[tuple[bytes, tuple[str, int]]] = []
    hub.attach_udp(lambda d, a: sent.append((d, a)))
    return hub, turn, sent


def test_events_of_one_turn_are_flushed_once_at_the_end_of_the_turn() -> None:
    hub, turn, sent = make_hub()
    hub.add_device("s", "json", ("h", 1))
    hub.add_device("s", "batch", ("h", 2), format=Format.BATCH)
    hub.add_device("s", "bin", ("h", 3), format=Format.BINARY)
    for i in range(1, 4):
        hub.deliver(ev(i, f"k{i}"))
    assert sent == [] and len(turn.calls) == 1
    turn.end()
    by_port: dict[int, list[bytes]] = {}
    for data, addr in sent:
        by_port.setdefault(addr[1], []).append(data)
    assert [orjson.loads(d)["key"] for d in by_port[1]] == ["k1", "k2", "k3"]  # one per datagram
    (batch,) = by_port[2]
    assert [orjson.loads(x)["key"] for x in batch.split(b"\n")] == ["k1", "k2", "k3"]
    (binary,) = by_port[3]
    assert [r["seq"] for r in codec.decode_binary(binary)[3]] == [1, 2, 3]
    assert hub.stats.udp_deliveries == 9 and hub.stats.udp_datagrams == 5
    assert hub.stats.flushes == 1 and hub.stats.latency_count == 3


def test_each_format_is_encoded_once_for_all_its_recipients() -> None:
    hub, turn, sent = make_hub()
    for i in range(3):
        hub.add_device("s", f"d{i}", ("h", i))
    w1, w2 = FakeWriter(), FakeWriter()
    hub.subscribe(WsSubscriber(1, "s", w1))
    hub.subscribe(WsSubscriber(2, "s", w2))
    hub.deliver(ev(1))
    turn.end()
    assert sent[0][0] is sent[1][0] is sent[2][0]
    assert w1.frames[0] is w2.frames[0]


def test_events_already_in_a_snapshot_are_skipped() -> None:
    hub, turn, _ = make_hub()
    w = FakeWriter()
    hub.subscribe(WsSubscriber(1, "s", w, min_seq=2))
    for i in (1, 2, 3):
        hub.deliver(ev(i, f"k{i}"))
    turn.end()
    (msg,) = w.messages()
    assert [e["seq"] for e in msg["events"]] == [3]  # type: ignore[index]


def test_interest_filter() -> None:
    hub, turn, _ = make_hub()
    w = FakeWriter()
    sub = WsSubscriber(1, "s", w, interest=Interest((0.0, 0.0, 0.0), 10.0))
    hub.subscribe(sub)
    hub.deliver(ev(1, "near", 5.0))
    hub.deliver(ev(2, "far", 50.0))
    turn.end()
    sub.interest = Interest((50.0, 0.0, 0.0), 1.0)
    hub.deliver(ev(3, "near", 5.0))  # "near" leaves the moved radius: sent once more
    hub.deliver(ev(4, "far", 50.5))
    hub.deliver(ev(5, "near", 6.0))  # still outside: not sent
    turn.end()
    keys = [[e["data"]["key"] for e in m["events"]] for m in w.messages()]  # type: ignore[attr-defined]
    assert keys == [["near"], ["near", "far"]]
    assert sub.inside == {"far"}


def test_a_subscriber_behind_gets_the_latest_state_per_object_when_it_drains() -> None:
    hub, turn, _ = make_hub(high_water=100)
    slow, fast = FakeWriter(), FakeWriter()
    sub = WsSubscriber(1, "s", slow)
    hub.subscribe(sub)
    hub.subscribe(WsSubscriber(2, "s", fast))
    slow.backlog = 1000
    for i, (key, x) in enumerate([("a", 1.0), ("b", 1.0), ("a", 2.0), ("a", 3.0)], start=1):
        hub.deliver(ev(i, key, x))
        turn.end()
    assert slow.frames == [] and len(fast.frames) == 4  # the fast one is not held up
    assert set(sub.outbox) == {"a", "b"} and hub.outbox_depth() == 2
    slow.backlog = 0
    hub.on_writable(sub)
    (msg,) = slow.messages()
    got = [(e["seq"], e["data"]["transform"][3]) for e in msg["events"]]  # type: ignore[attr-defined]
    assert got == [(2, 1.0), (4, 3.0)]
    assert hub.stats.coalesced == 2 and sub.outbox == {}


def test_a_subscriber_that_stays_behind_is_disconnected_with_4008() -> None:
    hub, turn, _ = make_hub(high_water=100, max_outbox=3)
    slow, fast = FakeWriter(), FakeWriter()
    hub.subscribe(WsSubscriber(1, "s", slow))
    hub.subscribe(WsSubscriber(2, "s", fast))
    slow.backlog = 1000
    for i in range(1, 6):
        hub.deliver(ev(i, f"k{i}"))
        turn.end()
    assert slow.closed == (CloseCode.SLOW, "slow consumer")
    assert hub.subscriber_count() == 1 and hub.stats.slow_disconnects == 1
    assert len(fast.frames) == 5


def test_a_subscriber_behind_for_too_long_is_disconnected() -> None:
    now = [100.0]
    hub, turn, _ = make_hub(high_water=100, slow_timeout=2.0, clock=lambda: now[0])
    slow = FakeWriter()
    hub.subscribe(WsSubscriber(1, "s", slow))
    slow.backlog = 1000
    hub.deliver(ev(1))
    turn.end()
    now[0] += 1.9
    hub.deliver(ev(2))
    turn.end()
    assert slow.closed is None  # behind, but not for long yet
    now[0] += 0.2
    hub.deliver(ev(3))
    turn.end()
    assert slow.closed is not None and slow.closed[0] == 4008


def test_no_recipients_means_no_flush() -> None:
    hub, turn, _ = make_hub()
    hub.deliver(ev(1))
    assert turn.calls == [] and hub.stats.events == 1


def test_latency_quantile() -> None:
    hub, _, _ = make_hub()
    for s in (0.00004, 0.0003, 0.0003, 0.003):
        hub.stats.observe(s)
    assert latency_quantile(hub.stats, 0.5) == 0.0005
    assert latency_quantile(hub.stats, 0.99) == 0.005


# -- isolation: one bad event or one failing recipient costs no one else ---------------------


def binary_events(frame: bytes) -> list[dict[str, object]]:
    n = frame[1] & 0x7F
    body = frame[2:] if n < 126 else frame[4:] if n == 126 else frame[10:]
    return codec.decode_binary(body)[3]


def test_a_value_beyond_float32_costs_only_its_own_event_in_the_binary_format() -> None:
    hub, turn, sent = make_hub()
    binary, json_a, other = FakeWriter(), FakeWriter(), FakeWriter()
    hub.subscribe(WsSubscriber(1, "a", binary, Format.BINARY))
    hub.subscribe(WsSubscriber(2, "a", json_a))
    hub.subscribe(WsSubscriber(3, "b", other))
    hub.add_device("a", "bin", ("h", 1), format=Format.BINARY)
    hub.add_device("b", "json", ("h", 2))
    hub.deliver(ev(1, "poison", x=1e300, scene="a"))
    hub.deliver(ev(2, "fine", x=1.0, scene="a"))
    for i in range(3, 6):
        hub.deliver(ev(i, f"b{i}", scene="b"))
    turn.end()  # before: OverflowError out of flush, every scene's events lost
    assert [r["key"] for r in binary_events(binary.frames[0])] == ["fine"]
    assert [e["seq"] for e in json_a.messages()[0]["events"]] == [1, 2]  # type: ignore[index]
    assert [e["seq"] for e in other.messages()[0]["events"]] == [3, 4, 5]  # type: ignore[index]
    assert sorted(addr[1] for _, addr in sent) == [1, 2, 2, 2]
    (datagram,) = [d for d, addr in sent if addr[1] == 1]
    assert [r["key"] for r in codec.decode_binary(datagram)[3]] == ["fine"]
    assert hub.drops["encode_error"] == 1  # one event lost to one format, counted once


def test_a_write_that_raises_skips_that_subscriber_and_unsubscribes_it() -> None:
    hub, turn, sent = make_hub()
    broken, ok, other = FakeWriter(), FakeWriter(), FakeWriter()
    broken.fail = RuntimeError("Cannot call write() after write_eof()")
    hub.subscribe(WsSubscriber(1, "a", broken))
    hub.subscribe(WsSubscriber(2, "a", ok))
    hub.subscribe(WsSubscriber(3, "b", other))
    hub.add_device("b", "d", ("h", 9))
    hub.deliver(ev(1, scene="a"))
    hub.deliver(ev(2, scene="b"))
    turn.end()
    assert len(ok.frames) == 1 and len(other.frames) == 1 and len(sent) == 1
    assert hub.subscriber("a", 1) is None and hub.drops["closed"] == 1
    hub.deliver(ev(3, scene="a"))
    turn.end()
    assert len(ok.frames) == 2 and hub.drops["closed"] == 1  # not written to again


def test_a_closing_connection_is_unsubscribed_not_written_to() -> None:
    hub, turn, _ = make_hub()
    closing, ok = FakeWriter(), FakeWriter()
    closing.closing = True
    hub.subscribe(WsSubscriber(1, "a", closing))
    hub.subscribe(WsSubscriber(2, "a", ok))
    hub.deliver(ev(1, scene="a"))
    turn.end()
    assert closing.frames == [] and len(ok.frames) == 1
    assert hub.subscriber("a", 1) is None


def test_a_udp_send_that_raises_skips_that_device_only() -> None:
    turn = Turn()
    hub = Hub(epoch=7, schedule=turn)
    sent: list[tuple[str, int]] = []

    def send(data: bytes, addr: tuple[str, int]) -> None:
        if addr[1] == 1:
            raise OSError("network unreachable")
        sent.append(addr)

    hub.attach_udp(send)
    hub.add_device("a", "bad", ("h", 1))
    hub.add_device("a", "good", ("h", 2))
    hub.deliver(ev(1, scene="a"))
    turn.end()
    assert sent == [("h", 2)] and hub.drops["send_error"] == 1


# -- outbound rate per destination -----------------------------------------------------------


def test_udp_rate_is_capped_per_destination_and_refilled_per_flush() -> None:
    now = [0.0]
    hub, turn, sent = make_hub(udp_rate=2000, clock=lambda: now[0])
    for i in range(50):  # many devices, one victim address: one bucket
        hub.add_device("a", f"d{i}", ("victim", 1))
    hub.add_device("a", "other", ("other", 2))
    hub.deliver(ev(1, scene="a"))
    turn.end()
    to_victim = sum(len(d) for d, a in sent if a[0] == "victim")
    size = len(sent[0][0])
    assert to_victim <= 2000 + size  # one overdraw at most
    assert [a for _, a in sent].count(("other", 2)) == 1
    assert hub.drops["rate_limited"] == 50 - to_victim // size
    sent.clear()
    hub.deliver(ev(2, scene="a"))
    turn.end()  # same instant: no refill
    assert [a for _, a in sent] == [("other", 2)]
    now[0] += 1.0  # a second later the bucket is full again
    sent.clear()
    hub.deliver(ev(3, scene="a"))
    turn.end()
    assert 0 < sum(len(d) for d, a in sent if a[0] == "victim") <= 2000 + size


def test_udp_rate_zero_means_no_cap() -> None:
    hub, turn, sent = make_hub(udp_rate=0)
    for i in range(100):
        hub.add_device("a", f"d{i}", ("victim", 1))
    hub.deliver(ev(1, scene="a"))
    turn.end()
    assert len(sent) == 100 and "rate_limited" not in hub.drops


def test_moving_the_interest_point_returns_what_enters_and_what_leaves() -> None:
    hub, turn, _ = make_hub()
    w = FakeWriter()
    sub = WsSubscriber(1, "s", w, interest=Interest((0.0, 0.0, 0.0), 10.0), inside={"a", "b"})
    hub.subscribe(sub)
    sub.moving = set()
    hub.deliver(ev(1, "c", 500.0))  # outside the old filter: not sent, but noted
    turn.end()
    assert sub.moving == {"c"} and w.frames == []
    sub.outbox["a"] = sub.outbox["c"] = Encoded(ev(2, "a"))
    positions = {"a": (1.0, 0.0, 0.0), "b": (50.0, 0.0, 0.0), "c": (51.0, 0.0, 0.0)}
    enter, leave = sub.move_interest(Interest((50.0, 0.0, 0.0), 5.0), positions)
    assert (enter, leave) == (["c"], ["a"])
    assert sub.inside == {"b", "c"} and sub.moving is None and not sub.outbox
    # no filter: the client knew b and c, so a enters; then a filter on an unfiltered one
    assert sub.move_interest(None, positions) == (["a"], [])
    assert sub.move_interest(Interest((0.0, 0.0, 0.0), 2.0), positions) == ([], ["b", "c"])
