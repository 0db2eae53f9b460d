"""UDP-in to UDP-out latency of a real ``aesel serve``, on loopback.

A device registers to a scene; this script sends one object update at a time over UDP and
waits for the server's datagram back to the device, N times in a row. For scale it measures
the same round trip against a minimal uvloop UDP echo server in another process: the floor
that loopback, the kernel and two Python processes set.

    .venv/bin/python bench/udp_latency.py [--events 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ECHO = """
import asyncio, sys, uvloop
class Echo(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, d, a): self.t.sendto(d, a)
async def main():
    loop = asyncio.get_running_loop()
    t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    print(t.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def round_trips(sock: socket.socket, dest: tuple[str, int], payloads: list[bytes]) -> list[float]:
    out = []
    for data in payloads:
        t0 = time.perf_counter_ns()
        sock.sendto(data, dest)
        sock.recvfrom(65536)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def report(name: str, us: list[float]) -> None:
    print(
        f"{name:<28} n={len(us):<5} p50={percentile(us, 50):7.1f} us"
        f"  p99={percentile(us, 99):7.1f} us  mean={statistics.fmean(us):7.1f} us"
        f"  max={max(us):8.1f} us"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=500)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
             "--ws-port", "0", "--data-dir", str(Path(tmp) / "data"), "--log-level", "warning"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None and echo.stdout is not None
            ready = server.stdout.readline().split()
            http_port = int(ready[2].rsplit(":", 1)[1])
            udp_port = int(ready[3].rsplit(":", 1)[1])
            echo_port = int(echo.stdout.readline())

            dev = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dev.bind(("127.0.0.1", 0))
            dev.settimeout(2)
            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}") as c:
                dev_port = dev.getsockname()[1]
                device = {"key": "d", "hostname": "127.0.0.1", "port": dev_port}
                body = {"scenes": [{"key": "bench", "devices": [device]}]}
                c.post("/v1/scene/bench/register", json=body).raise_for_status()
                r = c.post("/v1/scene/bench/object", json={"objects": [{"name": "cube"}]})
                key = r.json()["objects"][0]["key"]
            dev.recvfrom(65536)  # the create event

            payloads = [
                orjson.dumps(
                    {"msg_type": 1, "key": key, "scene": "bench", "transform": [i * 0.001] * 16}
                )
                for i in range(args.events)
            ]
            round_trips(dev, ("127.0.0.1", udp_port), payloads[:50])  # warm up
            round_trips(dev, ("127.0.0.1", echo_port), payloads[:50])
            aesel_us = round_trips(dev, ("127.0.0.1", udp_port), payloads)
            echo_us = round_trips(dev, ("127.0.0.1", echo_port), payloads)
            print(
                f"cpu count {os.cpu_count()}, python {sys.version.split()[0]},"
                f" {args.events} sequential events"
            )
            report("aesel UDP in -> UDP out", aesel_us)
            report("uvloop UDP echo (floor)", echo_us)
            print(
                f"aesel/echo ratio: p50 {percentile(aesel_us, 50) / percentile(echo_us, 50):.2f}x, "
                f"p99 {percentile(aesel_us, 99) / percentile(echo_us, 99):.2f}x"
            )
            dev.close()
        finally:
            server.terminate()
            echo.kill()
            server.wait(10)
            echo.wait(10)


if __name__ == "__main__":
    main()
