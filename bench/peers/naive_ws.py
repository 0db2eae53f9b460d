"""A naive fan-out server: UDP events in, ``websockets.broadcast`` out (compression off)."""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

import uvloop
import websockets
from raw_limit import scene_of  # type: ignore[import-not-found]
from websockets.asyncio.server import ServerConnection, serve


class Broadcast(asyncio.DatagramProtocol):
    def __init__(self, subs: dict[str, set[Any]]) -> None:
        self.subs = subs

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        websockets.broadcast(self.subs.get(scene_of(data), ()), data.decode())


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--udp-port", type=int, required=True)
    p.add_argument("--ws-port", type=int, required=True)
    a = p.parse_args()
    subs: dict[str, set[Any]] = defaultdict(set)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Broadcast(subs), local_addr=("127.0.0.1", a.udp_port)
    )

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
