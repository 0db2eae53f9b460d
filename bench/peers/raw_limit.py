"""The physical limit: UDP events in, the same bytes out by a bare sendto/write loop.

``udp`` mode sends each datagram to every target address; ``ws`` mode writes one prebuilt
WebSocket frame to every connection's transport. No decoding, no validation, no state: what
any server on this loop and these sockets cannot beat.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

import uvloop
from websockets.asyncio.server import ServerConnection, serve

from aesel.realtime.codec import ws_frame


def scene_of(data: bytes) -> str:
    i = data.find(b'"scene":"')
    if i < 0:
        return ""
    j = data.find(b'"', i + 9)
    return data[i + 9 : j].decode()


class Forward(asyncio.DatagramProtocol):
    def __init__(self, targets: list[tuple[str, int]], subs: dict[str, set[Any]] | None) -> None:
        self.targets = targets
        self.subs = subs
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.subs is None:
            send = self.transport.sendto
            for t in self.targets:
                send(data, t)
        else:
            frame = ws_frame(data)
            for conn in self.subs.get(scene_of(data), ()):
                conn.transport.write(frame)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["udp", "ws"])
    p.add_argument("--udp-port", type=int, required=True)
    p.add_argument("--ws-port", type=int, default=0)
    p.add_argument("--targets", default="", help="host:base_port:count for udp mode")
    a = p.parse_args()
    targets: list[tuple[str, int]] = []
    if a.targets:
        host, base, count = a.targets.split(":")
        targets = [(host, int(base) + i) for i in range(int(count))]
    subs: dict[str, set[Any]] | None = defaultdict(set) if a.mode == "ws" else None
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Forward(targets, subs), local_addr=("127.0.0.1", a.udp_port)
    )
    if subs is not None:

        async def handler(conn: ServerConnection) -> None:
            scene = [*conn.request.path.split("scene="), ""][1] if conn.request else ""
            subs[scene].add(conn)
            try:
                await conn.wait_closed()
            finally:
                subs[scene].discard(conn)

        await serve(handler, "127.0.0.1", a.ws_port, compression=None, backlog=4096)
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main())
