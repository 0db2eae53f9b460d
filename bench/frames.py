"""What receiving updates in the device's own frame costs per delivery (hub fan-out, in process).

One scene, ``--devices`` UDP devices (JSON format), ``--events`` object updates per loop turn,
each datagram written with a real ``sendto`` to one local socket that nobody reads (the kernel
drops what overflows), or with ``--no-send`` handed to a function that drops it (the hub's own
work only). Three cases in one run: no device asks for its frame; every device
asks and they share ``--frames`` distinct frames; every device has a frame of its own.

    .venv/bin/python bench/frames.py [--devices 100] [--events 20] [--turns 300]
                                     [--frames 4] [--no-send]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import time
from collections.abc import Callable

from aesel.model import transform as tf
from aesel.model.event import Event
from aesel.model.stream import Format
from aesel.realtime.hub import Hub

T = list(tf.rigid((1.0, 2.0, 3.0), (0.1, 0.2, 0.3)))


def run(devices: int, events: int, turns: int, frames: int | None, send: bool) -> float:
    """Seconds of CPU per delivery."""
    pending: list[Callable[[], None]] = []
    # every device is the same sink address here: no per-destination cap, or it would drop
    hub = Hub(epoch=1, schedule=pending.append, udp_rate=0)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    port = sink.getsockname()[1]

    def sendto(data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(BlockingIOError):
            out.sendto(data, addr)

    hub.attach_udp(sendto if send else lambda data, addr: None)
    for d in range(devices):
        hub.add_device("s", f"d{d}", ("127.0.0.1", port), format=Format.JSON)
        if frames is not None:
            hub.set_frame("s", f"d{d}", tf.rigid((float(d % frames), 0.0, 0.0), (0.0, 0.0, 0.1)))
    seq = 0
    start = time.process_time()
    for _ in range(turns):
        for k in range(events):
            seq += 1
            payload = {"msg_type": 1, "key": f"o{k}", "scene": "s", "transform": T}
            hub.deliver(Event("s", 1, f"o{k}", payload, seq=seq))
        fn = pending.pop()
        fn()
    spent = time.process_time() - start
    sink.close()
    out.close()
    return spent / hub.stats.udp_deliveries


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--turns", type=int, default=300)
    p.add_argument("--frames", type=int, default=4, help="distinct frames in the shared case")
    p.add_argument("--no-send", dest="send", action="store_false", help="no sendto")
    a = p.parse_args()
    base = run(a.devices, a.events, a.turns, None, a.send)
    shared = run(a.devices, a.events, a.turns, a.frames, a.send)
    own = run(a.devices, a.events, a.turns, a.devices, a.send)
    how = "sendto" if a.send else "no send"
    print(f"{a.devices} json devices, {a.events} events per turn, {a.turns} turns, {how}")
    print(f"scene frame (no option)        {base * 1e6:6.2f} us/delivery")
    print(f"device frame, {a.frames} distinct frames {shared * 1e6:6.2f} us/delivery  "
          f"x{shared / base:.2f}")  # fmt: skip
    print(f"device frame, one per device   {own * 1e6:6.2f} us/delivery  x{own / base:.2f}")


if __name__ == "__main__":
    main()
