"""sendmmsg through ctypes, on real loopback sockets, and the hub's use of it (both twins)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from aesel.model.event import Event
from aesel.realtime.hub import Hub
from aesel.udp import mmsg

pytestmark = pytest.mark.skipif(mmsg._SENDMMSG is None, reason="no sendmmsg here")


@pytest.fixture
def receivers() -> Iterator[list[socket.socket]]:
    socks = []
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        socks.append(s)
    yield socks
    for s in socks:
        s.close()


def test_one_datagram_reaches_every_address_in_one_call(receivers: list[socket.socket]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.setblocking(False)
        sender = mmsg.for_socket(tx)
        assert sender is not None
        addrs = tuple(r.getsockname() for r in receivers)
        assert sender.send(b"hello\x00world", addrs) == 3
        assert sender.send(b"again", addrs) == 3
        assert sender.calls == 2
        for r in receivers:
            assert r.recv(100) == b"hello\x00world"
            assert r.recv(100) == b"again"
        # a host name is not for sendmmsg: nothing sent, the caller uses sendto
        assert sender.send(b"x", (("localhost", addrs[0][1]),)) == 0


def test_sockaddr_of_ipv4_and_ipv6() -> None:
    assert len(mmsg.sockaddr(("127.0.0.1", 9))) == 16
    assert len(mmsg.sockaddr(("::1", 9))) == 28


class FakeMulti:
    def __init__(self, take: int) -> None:
        self.take = take
        self.calls: list[tuple[bytes, tuple[tuple[str, int], ...]]] = []

    def send(self, data: bytes, addrs: tuple[tuple[str, int], ...]) -> int:
        self.calls.append((data, addrs))
        return min(self.take, len(addrs))


def ev(seq: int) -> Event:
    t = [1.0, 0, 0, float(seq), 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    return Event("s", 1, "k", {"msg_type": 1, "key": "k", "transform": t}, seq=seq, t_in=1)


@pytest.mark.parametrize("take", [3, 1, 0])
def test_the_hub_sends_json_datagrams_to_all_plain_devices_at_once(take: int) -> None:
    calls: list[object] = []
    hub = Hub(epoch=1, schedule=calls.append)  # type: ignore[arg-type]
    sent: list[tuple[bytes, tuple[str, int]]] = []
    multi = FakeMulti(take)
    hub.attach_udp(lambda d, a: sent.append((d, a)), multi)
    for i in range(3):
        hub.add_device("s", f"d{i}", ("127.0.0.1", 1000 + i))
    hub.add_device("s", "batch", ("127.0.0.1", 2000), format="batch")  # type: ignore[arg-type]
    hub.deliver(ev(1))
    hub.deliver(ev(2))
    hub.flush()
    assert [len(a) for _, a in multi.calls] == [3, 3]  # one call per datagram, all 3 devices
    # what the call did not take went by sendto, in order; the batch device by sendto too
    per_addr = {a: [d for d, b in sent if b == a] for a in {a for _, a in sent}}
    assert len(per_addr.pop(("127.0.0.1", 2000))) == 1
    assert sum(len(v) for v in per_addr.values()) == 2 * (3 - take)
    assert hub.stats.udp_deliveries == 3 * 2 + 2


def test_without_udp_mmsg_the_hub_keeps_its_sendto_loop() -> None:
    calls: list[object] = []
    hub = Hub(epoch=1, schedule=calls.append, udp_mmsg=False)  # type: ignore[arg-type]
    sent: list[tuple[bytes, tuple[str, int]]] = []
    multi = FakeMulti(3)
    hub.attach_udp(lambda d, a: sent.append((d, a)), multi)
    for i in range(3):
        hub.add_device("s", f"d{i}", ("127.0.0.1", 1000 + i))
    hub.deliver(ev(1))
    hub.flush()
    assert multi.calls == [] and len(sent) == 3 and hub.stats.udp_deliveries == 3
