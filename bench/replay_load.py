"""A recording as bench load: a recorded stream replayed at speed N while subscribers measure.

A recording (the record file of ``docs/realtime.md`` §8, ``aesel/model/recording.py``) is put
in a fresh node's data directory and replayed into an empty scene at each ``--speeds`` factor,
as ordinary events (objects created on their first event, then updated), while ``--subs``
WebSocket subscribers in this process read every event. Without ``--recording`` the bench
synthesizes one: ``--objects`` objects moving along circles at ``--rate`` Hz for ``--seconds``
(what a recorded animation or tracking session looks like), each transform carrying its
recorded time in ``transform[12]``. For such a recording it reports the lateness of each
delivery: arrival minus when the replay schedule (start + t / speed) wanted it.

Per speed: events replayed, deliveries, % delivered, lateness p50/p99, the server's own p99
(``aesel_delivery_latency_seconds``), server CPU per delivery, and the replay's ``skipped`` and
``errors``. The node is a real ``aesel serve`` process; the subscribers share the machine.

    .venv/bin/python bench/replay_load.py [--recording FILE] [--speeds 1,4,10] [--subs 20]
    aesel record get SCENE ID -o scene.rec     # a real recording to use as load
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from aesel.model import recording as rec

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def synthesize(objects: int, rate: float, seconds: float) -> tuple[bytes, str]:
    """A recording of ``objects`` objects moving on circles; returns its bytes and id."""
    rid = uuid.uuid4().hex
    out = [rec.start(rec.Meta(rid, "recorded", time.time_ns()))]
    keys = [uuid.uuid4().hex for _ in range(objects)]
    for tick in range(int(rate * seconds)):
        t = int(tick * 1e9 / rate)
        for i, key in enumerate(keys):
            a = 2 * math.pi * (tick / rate) / 4 + i
            x, z = 5 * math.cos(a) + i, 5 * math.sin(a)
            transform = [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 1.5, 0.0, 0.0, 1.0, z,
                         t / 1e3, 0.0, 0.0, 1.0]  # fmt: skip
            out.append(
                rec.event(
                    t,
                    {
                        "msg_type": 1,
                        "key": key,
                        "scene": "recorded",
                        "name": f"o{i}",
                        "transform": transform,
                    },
                )
            )
    return b"".join(out), rid


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def server_p99_ms(text: str) -> float:
    buckets = []
    for line in text.splitlines():
        if line.startswith("aesel_delivery_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.split()[-1])))
    if not buckets or not buckets[-1][1]:
        return math.nan
    total = buckets[-1][1]
    return next(le * 1000 for le, n in sorted(buckets) if n >= 0.99 * total)


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return math.nan
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def subscriber(url: str, scene: str, ready: asyncio.Event, out: dict[str, Any]) -> None:
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.recv()  # welcome
        await ws.send(orjson.dumps({"type": "subscribe", "scene": scene}).decode())
        while orjson.loads(await ws.recv())["type"] != "snapshot":
            pass
        out["ws"] = ws
        ready.set()
        async for data in ws:
            now = time.monotonic()
            msg = orjson.loads(data)
            for e in msg.get("events", ()):
                out["n"] += 1
                t = e["data"].get("transform")
                if isinstance(t, list) and len(t) == 16:
                    out["arrivals"].append((now, t[12]))


async def one_speed(
    http: httpx.AsyncClient, ws_url: str, pid: int, rid: str, speed: float, a: argparse.Namespace
) -> dict[str, Any]:
    subs = a.subs
    scene = f"replay-{speed:g}x-{uuid.uuid4().hex[:6]}"
    (await http.put(f"/v1/scene/{scene}", json={"scenes": [{"name": scene}]})).raise_for_status()
    outs: list[dict[str, Any]] = [{"n": 0, "arrivals": []} for _ in range(subs)]
    readies = [asyncio.Event() for _ in range(subs)]
    tasks = [
        asyncio.create_task(subscriber(ws_url, scene, r, o))
        for r, o in zip(readies, outs, strict=True)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    r = await http.post(f"/v1/scene/{scene}/replays", json={"recording": rid, "speed": speed})
    r.raise_for_status()
    t_start = (t0 + time.monotonic()) / 2  # the replay's clock starts inside the request
    replay = r.json()
    await asyncio.sleep(a.length / speed)  # polling costs the server CPU: only near the end
    while replay["state"] in ("playing", "paused"):
        await asyncio.sleep(0.25)
        replays = (await http.get(f"/v1/scene/{scene}/replays")).json()["replays"]
        replay = next(x for x in replays if x["id"] == replay["id"])
    await asyncio.sleep(0.5)  # stragglers
    cpu = cpu_seconds(pid) - cpu0
    metrics = (await http.get("/metrics")).text
    for o, t in zip(outs, tasks, strict=True):
        await o["ws"].close()
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    deliveries = sum(o["n"] for o in outs)
    late = [
        (arrived - (t_start + recorded_us / 1e6 / speed)) * 1000
        for o in outs
        for arrived, recorded_us in o["arrivals"]
    ]
    return {
        "speed": speed,
        "sent": replay["sent"],
        "skipped": replay["skipped"],
        "errors": replay["errors"],
        "deliveries": deliveries,
        "delivered_pct": 100 * deliveries / max(1, replay["sent"] * subs),
        "late_p50_ms": pct(late, 50),
        "late_p99_ms": pct(late, 99),
        "server_p99_ms": server_p99_ms(metrics),  # cumulative over the speeds run so far
        "cpu_us_per_delivery": 1e6 * cpu / max(1, deliveries),
    }


async def measure(a: argparse.Namespace, pid: int, http_url: str, ws_url: str, rid: str) -> None:
    # no keep-alive: the server closes idle connections while a slow replay plays
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=http_url, timeout=30, limits=limits) as http:
        print(
            f"recording {rid}: {a.events} events over {a.length:.1f} s; {a.subs} WebSocket"
            f" subscribers; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
        )
        print(
            "| speed | events replayed | deliveries | % delivered | lateness p50 ms"
            " | lateness p99 ms | server-side p99 ms ≤ | CPU µs/delivery | skipped/errors |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for speed in a.speeds:
            r = await one_speed(http, ws_url, pid, rid, speed, a)
            print(
                f"| {speed:g}x | {r['sent']:,} | {r['deliveries']:,}"
                f" | {r['delivered_pct']:.1f} | {r['late_p50_ms']:.1f}"
                f" | {r['late_p99_ms']:.1f} | {r['server_p99_ms']:.2f}"
                f" | {r['cpu_us_per_delivery']:.2f} | {r['skipped']}/{r['errors']} |",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--recording", help="a record file (default: synthesize one)")
    p.add_argument("--objects", type=int, default=50)
    p.add_argument("--rate", type=float, default=40.0, help="updates per second per object")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--speeds", default="1,4,10")
    p.add_argument("--subs", type=int, default=20)
    a = p.parse_args()
    a.speeds = [float(s) for s in a.speeds.split(",")]
    if a.recording:
        data = Path(a.recording).read_bytes()
        meta, entries = rec.decode(data)
        rid, a.events, a.length = meta.id, len(entries), entries[-1].t / 1e9 if entries else 0.0
    else:
        data, rid = synthesize(a.objects, a.rate, a.seconds)
        a.events, a.length = int(a.rate * a.seconds) * a.objects, a.seconds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data" / "recordings"
        root.mkdir(parents=True)
        (root / f"{rid}.rec").write_bytes(data)
        meta_doc = {"id": rid, "scene": "recorded", "started": time.time_ns()}
        (root / f"{rid}.json").write_bytes(orjson.dumps(meta_doc))
        cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
               "--ws-port", "0", "--data-dir", str(Path(tmp) / "data"),
               "--log-level", "warning"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            assert server.stdout is not None
            ready = server.stdout.readline().split()
            http_url = "http://" + ready[2].split("=", 1)[1]
            ws_url = "ws://" + ready[4].split("=", 1)[1] + "/"
            asyncio.run(measure(a, server.pid, http_url, ws_url, rid))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
