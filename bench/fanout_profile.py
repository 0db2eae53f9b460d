"""Where a streamed update's CPU goes, in process: ingest, then the hub's flush and fan-out.

A real node (embedded store, uvloop) with S scenes x M objects and N WebSocket subscribers per
scene whose writers only count bytes (no socket: the hub's own per-scene and per-subscriber
costs, without the kernel's). Each tick sends one update per object as real UDP datagrams to
the node's port, all at once (as ``bench/loadgen`` does; ``--batch B``: B at a time, as a
node that is not behind reads them), then runs the loop until the hub has flushed them.
Prints the CPU per event in and per delivery out, and with ``--profile`` the top functions by
own time (cProfile). The garbage collector is set up as ``aesel serve`` sets it once serving
(``--gc default``: CPython's defaults; ``--gc off``: none, for comparison).

    .venv/bin/python bench/fanout_profile.py [--scenes 100 --objects 5 --subs 10 --ticks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import socket
import tempfile
import time
from pathlib import Path

import orjson
import uvloop

from aesel.app import Node
from aesel.cli import settle_gc
from aesel.config import Settings
from aesel.model.stream import Format
from aesel.realtime.hub import WsSubscriber


class CountingWriter:
    """A hub ``Writer`` that keeps nothing: the hub's cost without the socket's."""

    def __init__(self) -> None:
        self.bytes = 0
        self.frames = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.frames += 1

    def buffered(self) -> int:
        return 0

    def offer(self, data: bytes, high: int) -> int:
        self.write(data)
        return 0

    def close_slow(self, code: int, reason: str) -> None:
        raise AssertionError("a counting writer is never slow")

    def is_closing(self) -> bool:
        return False


async def run(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(Settings(http_port=0, udp_port=0, ws_port=0, data_dir=Path(tmp) / "d"))
        await node.start()
        try:
            keys: list[tuple[str, str]] = []
            from aesel.model.wire import ObjectIn
            from aesel.services.policy import OPEN

            for s in range(a.scenes):
                scene = f"s{s}"
                objs = [ObjectIn(name=f"o{o}", scene=scene) for o in range(a.objects)]
                for obj in await node.services.objects.create(objs, scene, OPEN):
                    keys.append((scene, obj.key))
                for i in range(a.subs):
                    node.hub.subscribe(
                        WsSubscriber(s * a.subs + i + 1, scene, CountingWriter(), Format(a.format))
                    )
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            dest = ("127.0.0.1", node.udp_port)
            ticks = [
                [
                    orjson.dumps(
                        {
                            "msg_type": 1,
                            "key": k,
                            "scene": sc,
                            "transform": [1, 0, 0, t, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
                        }
                    )
                    for sc, k in keys
                ]
                for t in range(a.ticks)
            ]
            if a.gc == "serve":
                settle_gc()  # as aesel serve does once started
            elif a.gc == "off":
                gc.disable()
            prof = cProfile.Profile() if a.profile else None
            stats = node.hub.stats
            d0, e0, f0 = stats.deliveries, stats.events, stats.flushes
            cpu0 = time.process_time()
            if prof:
                prof.enable()
            step = a.batch or len(keys)
            for datagrams in ticks:
                for i in range(0, len(datagrams), step):
                    want = stats.events + len(datagrams[i : i + step])
                    for d in datagrams[i : i + step]:
                        out.sendto(d, dest)
                    while stats.events < want - node.services.drops["stale"]:  # noqa: ASYNC110
                        await asyncio.sleep(0)  # the node reads them in this loop turn
                    await asyncio.sleep(0)  # the flush of the last batch
            if prof:
                prof.disable()
            cpu = time.process_time() - cpu0
            n_ev, n_del = stats.events - e0, stats.deliveries - d0
            print(
                f"{a.scenes} scenes x {a.objects} objects x {a.subs} {a.format} subscribers,"
                f" {a.ticks} ticks: {n_ev} events in, {n_del} deliveries,"
                f" {stats.flushes - f0} flushes, stale {node.services.drops['stale']}"
            )
            print(
                f"CPU {cpu:.2f} s: {1e6 * cpu / max(n_ev, 1):.1f} us per event in,"
                f" {1e6 * cpu / max(n_del, 1):.2f} us per delivery (no socket writes)"
            )
            if prof:
                pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)
            out.close()
        finally:
            await node.stop()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenes", type=int, default=100)
    p.add_argument("--objects", type=int, default=5)
    p.add_argument("--subs", type=int, default=10)
    p.add_argument("--ticks", type=int, default=200)
    p.add_argument("--format", default="json", choices=["json", "binary"])
    p.add_argument(
        "--batch", type=int, default=0, help="datagrams per loop turn (default: a whole tick)"
    )
    p.add_argument(
        "--gc",
        default="serve",
        choices=["serve", "default", "off"],
        help="the collector as aesel serve sets it (default), CPython's defaults, or off",
    )
    p.add_argument("--profile", type=int, default=0, help="print the top N functions")
    uvloop.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
