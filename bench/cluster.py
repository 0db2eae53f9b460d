"""A cluster of real ``aesel serve`` nodes on Kafka, MongoDB-wire and Neo4j, measured.

- cross-node latency: UDP updates into node 1; WebSocket subscribers on node 1 (local) and on
  node 2 (through Kafka); p50/p99 of send -> receive;
- the bus alone, in this process: CPU per event to produce (stamp, encode, batch, send) and to
  consume (read, decode, order, deliver), between two KafkaBus instances;
- efficiency: deliveries per server-CPU-second of one node against a two-node cluster
  (the same subscribers, split over the two nodes; CPU of the aesel processes only);
- failover: kill -9 of the node a UDP device registered through, until another node sends;
- Kafka bytes per event.

    .venv/bin/python bench/cluster.py [--seconds 8] [--rate 400]

Starts its own engines with scripts/engines.sh (cached in ~/.cache/aesel/engines), unless
AESEL_KAFKA, AESEL_MONGO_URL and AESEL_NEO4J_URL name running ones. Figures on a
shared 2-core machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"aesel ready http=[\d.]+:(\d+) udp=[\d.]+:(\d+) ws=[\d.]+:(\d+)")


def engines() -> tuple[dict[str, str], Path | None]:
    names = ("AESEL_KAFKA", "AESEL_MONGO_URL", "AESEL_NEO4J_URL")
    given = {k: os.environ.get(k, "") for k in names}
    if all(given.values()):
        return given, None
    run = Path(tempfile.mkdtemp(prefix="aesel-bench-engines-"))
    out = subprocess.run(
        [str(ROOT / "scripts" / "engines.sh"), "start", "kafka", "neo4j", "mongo"],
        env={**os.environ, "ENGINES_RUN": str(run)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    urls = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.stdout.splitlines()
        if line.startswith("export ")
    )
    return urls, run


class Node:
    def __init__(self, name: str, args: list[str], root: Path) -> None:
        self.name, self.args, self.dir = name, args, root / name
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Node:
        self.dir.mkdir(parents=True, exist_ok=True)
        err = open(self.dir / "node.log", "a")  # noqa: SIM115 - the child's stderr
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aesel", "serve", "--node-id", self.name, "--data-dir",
             str(self.dir), "--http-port", "0", "--udp-port", "0", "--ws-port", "0", *self.args],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
        )  # fmt: skip
        err.close()
        assert self.proc.stdout is not None
        m = READY.search(self.proc.stdout.readline())
        if not m:
            raise RuntimeError((self.dir / "node.log").read_text()[-2000:])
        self.http, self.udp, self.ws = (int(g) for g in m.groups())
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def cpu(self) -> float:
        """CPU seconds (user + system) the process has used."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> float:
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


def args_for(urls: dict[str, str], prefix: str, db: str, *extra: str) -> list[str]:
    return ["--kafka", urls["AESEL_KAFKA"], "--kafka-topic-prefix", prefix,
            "--mongo-url", urls["AESEL_MONGO_URL"].rstrip("/") + "/" + db,
            "--neo4j-url", urls["AESEL_NEO4J_URL"], "--log-level", "warning", *extra]  # fmt: skip


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


async def scene(node: Node, name: str, objects: int) -> list[str]:
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as h:
        await h.put(f"/v1/scene/{name}", json={"scenes": [{"name": name}]})
        r = await h.post(
            f"/v1/scene/{name}/object",
            json={"objects": [{"name": f"o{i}"} for i in range(objects)]},
        )
        r.raise_for_status()
        return [o["key"] for o in r.json()["objects"]]


async def subscriber(node: Node, name: str, sink: list[float] | None, count: list[int]) -> None:
    async with connect(f"ws://127.0.0.1:{node.ws}/", compression=None, max_queue=None) as ws:
        await ws.recv()
        await ws.send(orjson.dumps({"type": "subscribe", "scene": name}).decode())
        async for data in ws:
            msg = orjson.loads(data)
            if msg.get("type") != "events":
                continue
            now = time.perf_counter()
            count[0] += len(msg["events"])
            if sink is not None:
                sink += [now - e["data"]["transform"][7] for e in msg["events"]]


def update(key: str, scene_name: str, sent: float) -> bytes:
    t = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, sent, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    return orjson.dumps({"msg_type": 1, "key": key, "scene": scene_name, "transform": t})


async def latency(urls: dict[str, str], root: Path, seconds: float, rate: int) -> str:
    prefix, db = f"b{secrets.token_hex(3)}", f"b{secrets.token_hex(3)}"
    n1 = Node("n1", args_for(urls, prefix, db), root / "lat").start()
    n2 = Node("n2", args_for(urls, prefix, db), root / "lat").start()
    try:
        (key,) = await scene(n1, "lat", 1)
        local: list[float] = []
        remote: list[float] = []
        tasks = [
            asyncio.create_task(subscriber(n1, "lat", local, [0])),
            asyncio.create_task(subscriber(n2, "lat", remote, [0])),
        ]
        await asyncio.sleep(1.0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sock.sendto(update(key, "lat", time.perf_counter()), ("127.0.0.1", n1.udp))
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(1.0)
        for t in tasks:
            t.cancel()
        sock.close()
        per_event = n1.metric("aesel_cluster_bytes_out_total") / max(
            1.0, n1.metric('aesel_cluster_events_total{direction="produced"}')
        )
        ms = [x * 1e3 for x in local], [x * 1e3 for x in remote]
        return (
            f"| {pct(ms[0], 50):.2f} / {pct(ms[0], 99):.2f} | "
            f"{pct(ms[1], 50):.2f} / {pct(ms[1], 99):.2f} | "
            f"{pct(ms[1], 50) - pct(ms[0], 50):.2f} | {per_event:.0f} | {len(ms[1])} |"
        )
    finally:
        n1.stop()
        n2.stop()


async def settled(done: Callable[[], bool], cpu: Callable[[], float]) -> float:
    """The CPU time once ``done()`` holds (polled every millisecond, for up to a minute)."""
    end = time.monotonic() + 60
    while not done() and time.monotonic() < end:  # noqa: ASYNC110 - a counter, not an event
        await asyncio.sleep(0.001)
    return cpu()


async def bus_cost(bootstrap: str, n: int = 20_000) -> tuple[float, float]:
    """CPU microseconds per event: (produce side, produce + consume) between two buses."""
    import resource

    from aesel.cluster.kafka import KafkaBus, KafkaConfig, ensure_topics, make_producer
    from aesel.model.event import Event

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    cfg = KafkaConfig(bootstrap, prefix=f"bc{secrets.token_hex(3)}")
    parts = await ensure_topics(cfg)
    buses = []
    got = [0]
    for name in ("a", "b"):
        producer = make_producer(cfg, name)
        await producer.start()
        bus = KafkaBus(cfg, name, producer)
        await bus.start(parts)
        buses.append(bus)
    buses[1].subscribe(lambda e: got.__setitem__(0, got[0] + 1))
    t = [1.0] * 16
    payload = {"msg_type": 1, "key": "k" * 24, "name": "cube", "scene": "s", "transform": t}
    c0 = cpu()
    for i in range(n):
        buses[0].publish(Event(f"s{i % 10}", 1, f"k{i % 50}", payload))
        if i % 500 == 0:
            await asyncio.sleep(0)
    c1 = await settled(lambda: not buses[0]._queue, cpu)
    c2 = await settled(lambda: got[0] >= n, cpu)
    for bus in buses:
        await bus.stop()
        await bus.producer.stop()
    return 1e6 * (c1 - c0) / n, 1e6 * (c2 - c0) / n


async def efficiency(urls: dict[str, str], root: Path, nodes: int, seconds: float) -> float:
    """Deliveries per CPU-second: 10 scenes x 10 subscribers x 5 objects at 20 Hz, the
    subscribers spread over ``nodes`` nodes, every update into node 1."""
    prefix, db = f"e{secrets.token_hex(3)}", f"e{secrets.token_hex(3)}"
    ns = [Node(f"e{i}", args_for(urls, prefix, db), root / f"eff{nodes}").start()
          for i in range(nodes)]  # fmt: skip
    try:
        scenes = {f"sc{i}": await scene(ns[0], f"sc{i}", 5) for i in range(10)}
        count = [0]
        tasks = [
            asyncio.create_task(subscriber(ns[j % nodes], name, None, count))
            for name in scenes
            for j in range(10)
        ]
        await asyncio.sleep(2.0)
        cpu0 = sum(n.cpu() for n in ns)
        got0 = count[0]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for name, keys in scenes.items():
                for k in keys:
                    sock.sendto(update(k, name, 0.0), ("127.0.0.1", ns[0].udp))
            await asyncio.sleep(1 / 20)
        await asyncio.sleep(1.0)
        delivered = count[0] - got0
        cpu = sum(n.cpu() for n in ns) - cpu0
        for t in tasks:
            t.cancel()
        sock.close()
        return delivered / cpu if cpu else float("nan")
    finally:
        for n in ns:
            n.stop()


async def failover(urls: dict[str, str], root: Path, rounds: int) -> list[float]:
    out = []
    for r in range(rounds):
        prefix, db = f"f{secrets.token_hex(3)}", f"f{secrets.token_hex(3)}"
        ns = [Node(f"f{i}", args_for(urls, prefix, db), root / f"fo{r}").start() for i in range(3)]
        try:
            (key,) = await scene(ns[0], "fo", 1)
            dev = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dev.bind(("127.0.0.1", 0))
            dev.setblocking(False)
            body = {"scenes": [{"key": "fo", "devices": [
                {"key": "d", "hostname": "127.0.0.1", "port": dev.getsockname()[1]}]}]}  # fmt: skip
            async with httpx.AsyncClient(timeout=30) as h:
                resp = await h.post(f"{ns[1].url}/v1/scene/fo/register", json=body)
                resp.raise_for_status()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            await asyncio.sleep(4.0)  # every node knows every other
            killed = 0.0
            taken = None
            end = time.monotonic() + 20
            while time.monotonic() < end and taken is None:
                sock.sendto(update(key, "fo", 0.0), ("127.0.0.1", ns[0].udp))
                await asyncio.sleep(0.005)
                if not killed and time.monotonic() > end - 18:
                    assert ns[1].proc is not None
                    ns[1].proc.kill()
                    killed = time.monotonic()
                while True:
                    try:
                        _, addr = dev.recvfrom(65536)
                    except BlockingIOError:
                        break
                    if killed and addr[1] != ns[1].udp:
                        taken = time.monotonic() - killed
            out.append(taken if taken is not None else float("nan"))
            dev.close()
            sock.close()
        finally:
            for n in ns:
                n.stop(signal.SIGKILL)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=int, default=400, help="updates a second for the latency run")
    ap.add_argument("--failovers", type=int, default=3)
    a = ap.parse_args()
    urls, run = engines()
    root = Path(tempfile.mkdtemp(prefix="aesel-bench-cluster-"))
    try:
        print("cross-node latency, UDP in on node 1 -> WebSocket out (ms, p50 / p99)")
        print("| local sub (node 1) | remote sub (node 2) | added p50 | Kafka B/event | n |")
        print("|---|---|---|---|---|")
        print(await latency(urls, root, a.seconds, a.rate), flush=True)
        produce, total = await bus_cost(urls["AESEL_KAFKA"])
        print(f"\nthe bus alone: {produce:.1f} us CPU per event to produce, "
              f"{total - produce:.1f} us to consume")  # fmt: skip
        one = await efficiency(urls, root, 1, a.seconds)
        two = await efficiency(urls, root, 2, a.seconds)
        print(f"\ndeliveries per server-CPU-second (10 scenes x 10 subs x 5 objects at 20 Hz): "
              f"1 node {one:,.0f}, 2-node cluster {two:,.0f} ({two / one:.2f}x)")  # fmt: skip
        fo = await failover(urls, root, a.failovers)
        each = ", ".join(f"{x:.2f}" for x in fo)
        print("\nUDP device failover after kill -9 of its node (lease 3 s, heartbeat 0.5 s): "
              f"{each} s (median {statistics.median(fo):.2f})")  # fmt: skip
    finally:
        if run is not None:
            stop = [str(ROOT / "scripts" / "engines.sh"), "stop"]
            env = {**os.environ, "ENGINES_RUN": str(run)}
            await asyncio.to_thread(subprocess.run, stop, env=env, check=False)


if __name__ == "__main__":
    asyncio.run(main())
