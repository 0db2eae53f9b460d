"""Bus and hub logic, without sockets."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from aesel.model.event import Event
from aesel.realtime.bus import MemoryBus
from aesel.realtime.hub import Hub


def now(flush: Callable[[], None]) -> None:
    """Flush at once instead of at the end of the loop turn (no loop in these tests)."""
    flush()


def ev(scene: str, key: str = "k") -> Event:
    return Event(scene, 1, key, {"msg_type": 1, "key": key, "scene": scene})


def test_bus_numbers_events_per_scene() -> None:
    bus = MemoryBus(origin="n1")
    got: list[Event] = []
    bus.subscribe(got.append)
    for scene in ("a", "a", "b", "a"):
        bus.publish(ev(scene))
    assert [(e.scene, e.seq) for e in got] == [("a", 1), ("a", 2), ("b", 1), ("a", 3)]
    assert {e.origin for e in got} == {"n1"}


def test_a_failing_handler_does_not_stop_the_others() -> None:
    bus = MemoryBus()
    got: list[Event] = []

    def boom(_: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(boom)
    bus.subscribe(got.append)
    bus.publish(ev("a"))
    assert len(got) == 1


def test_hub_sends_the_same_bytes_to_every_device_of_the_scene() -> None:
    hub = Hub(schedule=now)
    sent: list[tuple[bytes, tuple[str, int]]] = []
    hub.attach_udp(lambda data, addr: sent.append((data, addr)))
    hub.add_device("a", "d1", ("127.0.0.1", 1))
    hub.add_device("a", "d2", ("127.0.0.1", 2))
    hub.add_device("b", "d3", ("127.0.0.1", 3))
    hub.deliver(ev("a"))
    assert [addr for _, addr in sent] == [("127.0.0.1", 1), ("127.0.0.1", 2)]
    assert sent[0][0] is sent[1][0]
    assert orjson.loads(sent[0][0])["scene"] == "a"
    assert hub.stats.deliveries == 2


def test_hub_registration_changes_apply_to_the_next_event() -> None:
    hub = Hub(schedule=now)
    sent: list[tuple[str, int]] = []
    hub.attach_udp(lambda _data, addr: sent.append(addr))
    hub.add_device("a", "d1", ("127.0.0.1", 1))
    hub.deliver(ev("a"))
    hub.remove_device("a", "d1")
    hub.deliver(ev("a"))
    hub.add_device("a", "d2", ("127.0.0.1", 2))
    hub.deliver(ev("a"))
    assert sent == [("127.0.0.1", 1), ("127.0.0.1", 2)]


def test_hub_counts_send_errors_and_goes_on() -> None:
    hub = Hub(schedule=now)
    sent: list[int] = []

    def send(_data: bytes, addr: tuple[str, int]) -> None:
        if addr[1] == 1:
            raise OSError("unreachable")
        sent.append(addr[1])

    hub.attach_udp(send)
    hub.add_device("a", "d1", ("127.0.0.1", 1))
    hub.add_device("a", "d2", ("127.0.0.1", 2))
    hub.deliver(ev("a"))
    assert sent == [2] and hub.stats.send_errors == 1
