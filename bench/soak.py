"""Soak: mixed REST, UDP and WebSocket traffic with churn against a real ``aesel serve``.

Starts its own server (free ports, a temporary data directory), then for ``--seconds``
(default 600):

- a UDP sender moves ``--objects`` objects at ``--hz`` each;
- a REST client creates, updates, reads and deletes objects in the same scene;
- ``--subscribers`` WebSocket clients stay subscribed for the whole run, and ``--churners``
  more connect, subscribe, read a little and close, over and over;
- one UDP device is registered to the scene.

Every ``--every`` seconds it prints the server's RSS and open descriptors. At the end it prints,
for each subscriber that stayed, the events delivered against those published in the scene
while it was subscribed (the scene's seq range), gaps included, and the same for the device.

    .venv/bin/python bench/soak.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

SCENE = "soak"


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def sample(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open descriptors) of process ``pid``."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Subscriber:
    name: str
    first_seq: int = 0
    received: int = 0
    gaps: int = 0
    last_seq: int = 0
    closed: str = ""
    seqs: list[int] = field(default_factory=list)


async def subscribe(ws: ClientConnection) -> dict[str, Any]:
    await ws.send(orjson.dumps({"type": "subscribe", "scene": SCENE}).decode())
    while True:
        msg = orjson.loads(await ws.recv())
        if msg["type"] == "snapshot":
            return msg  # type: ignore[no-any-return]


async def stay(url: str, sub: Subscriber, stop: asyncio.Event, goal: dict[str, float]) -> None:
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.recv()  # welcome
        snap = await subscribe(ws)
        sub.first_seq = sub.last_seq = snap["seq"]
        try:
            while not stop.is_set() and sub.last_seq < goal["seq"]:  # the scene's last seq
                try:
                    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                for e in msg.get("events", ()):
                    if e["seq"] != sub.last_seq + 1:
                        sub.gaps += 1
                    sub.last_seq = e["seq"]
                    sub.received += 1
        except Exception as e:  # a close by the server is a finding: report it
            sub.closed = repr(e)


async def churn(
    url: str, stop: asyncio.Event, counts: dict[str, int], errors: Counter[str]
) -> None:
    while not stop.is_set():
        try:
            async with connect(url, compression=None, max_size=None) as ws:
                await ws.recv()
                await subscribe(ws)
                for _ in range(5):
                    await asyncio.wait_for(ws.recv(), 2)
            counts["reconnects"] += 1
        except Exception as e:
            if stop.is_set():
                break  # traffic has stopped: the last reads time out
            counts["churn_errors"] += 1
            errors[f"{type(e).__name__}: {e}"[:80]] += 1


async def udp_sender(port: int, keys: list[str], hz: float, stop: asyncio.Event) -> int:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=("127.0.0.1", port)
    )
    sent, tick = 0, 0
    try:
        while not stop.is_set():
            for k in keys:
                event = {"msg_type": 1, "key": k, "scene": SCENE, "transform": at(float(tick))}
                transport.sendto(orjson.dumps(event))
                sent += 1
            tick += 1
            await asyncio.sleep(1 / hz)
    finally:
        transport.close()
    return sent


async def rest_loop(http: httpx.AsyncClient, stop: asyncio.Event, counts: dict[str, int]) -> None:
    while not stop.is_set():
        r = await http.post(f"/v1/scene/{SCENE}/object", json={"objects": [{"name": "r"}]})
        counts["rest_ops"] += 1
        if r.status_code != 200:
            counts["rest_errors"] += 1
            continue
        key = r.json()["objects"][0]["key"]
        for path, body in ((f"/v1/scene/{SCENE}/object/{key}", {"objects": [{"name": "r2"}]}),):
            counts["rest_errors"] += (await http.post(path, json=body)).status_code != 200
        counts["rest_errors"] += (await http.get(f"/v1/scene/{SCENE}/object/{key}")).is_error
        counts["rest_errors"] += (await http.delete(f"/v1/scene/{SCENE}/object/{key}")).is_error
        counts["rest_ops"] += 3
        await asyncio.sleep(0.01)


class Device(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


def start_server() -> tuple[subprocess.Popen[str], int, int, int]:
    """``aesel serve`` on free ports and a temporary data dir: (process, http, udp, ws)."""
    data = tempfile.mkdtemp(prefix="aesel-soak-")
    cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
           "--ws-port", "0", "--data-dir", data, "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    m = re.search(r"http=[\d.]+:(\d+) udp=[\d.]+:(\d+) ws=[\d.]+:(\d+)", line)
    if not m:
        server.kill()
        raise SystemExit(f"aesel did not start: {line!r}")
    http_port, udp_port, ws_port = (int(g) for g in m.groups())
    return server, http_port, udp_port, ws_port


async def main(
    args: argparse.Namespace, server: subprocess.Popen[str], ports: tuple[int, ...]
) -> None:
    http_port, udp_port, ws_port = ports
    ws_url = f"ws://127.0.0.1:{ws_port}/"
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
            await http.put(f"/v1/scene/{SCENE}", json={"scenes": [{"name": SCENE}]})
            objs = [{"name": f"o{i}", "transform": at(0.0)} for i in range(args.objects)]
            r = await http.post(f"/v1/scene/{SCENE}/object", json={"objects": objs})
            keys = [o["key"] for o in r.json()["objects"]]
            transport, device = await loop.create_datagram_endpoint(
                Device, local_addr=("127.0.0.1", 0)
            )
            dport = transport.get_extra_info("sockname")[1]
            reg = {"scenes": [{"key": SCENE, "devices": [{"key": "soak-device",
                                "hostname": "127.0.0.1", "port": dport}]}]}  # fmt: skip
            await http.post(f"/v1/scene/{SCENE}/register", json=reg)
            async with connect(ws_url, compression=None, max_size=None) as ws:
                await ws.recv()
                device_from = (await subscribe(ws))["seq"]

            stop, done = asyncio.Event(), asyncio.Event()
            counts = {"reconnects": 0, "churn_errors": 0, "rest_ops": 0, "rest_errors": 0}
            subs = [Subscriber(f"ws{i}") for i in range(args.subscribers)]
            goal = {"seq": float("inf")}
            stayers = [asyncio.create_task(stay(ws_url, s, done, goal)) for s in subs]
            errors: Counter[str] = Counter()
            tasks = [
                asyncio.create_task(churn(ws_url, stop, counts, errors))
                for _ in range(args.churners)
            ]
            tasks.append(asyncio.create_task(rest_loop(http, stop, counts)))
            sender = asyncio.create_task(udp_sender(udp_port, keys, args.hz, stop))
            start = time.monotonic()
            print(f"{'t/s':>6} {'rss/MiB':>8} {'fds':>5} {'reconnects':>10} {'rest ops':>9}")
            while (elapsed := time.monotonic() - start) < args.seconds:
                rss, fds = sample(server.pid)
                print(f"{elapsed:6.0f} {rss:8.1f} {fds:5d} {counts['reconnects']:10d} "
                      f"{counts['rest_ops']:9d}", flush=True)  # fmt: skip
                await asyncio.sleep(min(args.every, args.seconds - elapsed))
            stop.set()
            sent = await sender
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.5)  # the last datagrams in flight are applied
            async with connect(ws_url, compression=None, max_size=None) as ws:
                await ws.recv()
                final = (await subscribe(ws))["seq"]
            goal["seq"] = final
            with contextlib.suppress(TimeoutError):  # each stops once it has seen the last seq
                await asyncio.wait_for(asyncio.gather(*stayers, return_exceptions=True), 5)
            done.set()
            transport.close()
            rss, fds = sample(server.pid)
            print(f"{time.monotonic() - start:6.0f} {rss:8.1f} {fds:5d} (after the clients left)")
            metrics = (await http.get("/metrics")).text
    finally:
        server.terminate()
    print(f"\nudp events sent {sent}; scene seq at the end {final}; rest ops "
          f"{counts['rest_ops']} ({counts['rest_errors']} errors); ws reconnects "
          f"{counts['reconnects']} ({counts['churn_errors']} errors)")  # fmt: skip
    print(f"{'subscriber':>12} {'delivered':>10} {'expected':>10} {'gaps':>5}  closed")
    for s in subs:
        expected = final - s.first_seq
        print(f"{s.name:>12} {s.received:10d} {expected:10d} {s.gaps:5d}  {s.closed or '-'}")
    print(f"{'udp device':>12} {device.received:10d} {final - device_from:10d}")
    drops = [x for x in metrics.splitlines() if x.startswith("aesel_drops_total")]
    for what, n in errors.most_common(5):
        print(f"churn error x{n}: {what}")
    print("drops:", ", ".join(d.split("{")[1] for d in drops) or "none")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--objects", type=int, default=50)
    p.add_argument("--hz", type=float, default=10.0)
    p.add_argument("--subscribers", type=int, default=5)
    p.add_argument("--churners", type=int, default=4)
    p.add_argument("--every", type=float, default=10.0)
    proc, *ports = start_server()
    try:
        asyncio.run(main(p.parse_args(), proc, tuple(ports)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
