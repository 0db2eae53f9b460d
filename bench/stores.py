"""The cost of the store behind a node: embedded (SQLite) against MongoDB + Neo4j, in one run.

For each backend it starts a real ``aesel serve`` and measures, one client at a time:

- REST throughput and p99 of object create, update, get and query (sequential requests);
- UDP in -> out latency (p50/p99) of a transform update, from a device's ``sendto`` to its
  ``recvfrom`` of the fan-out: the store must not show up in it (writes are write-behind);
- write-behind under a sustained stream: N objects updated at F Hz over UDP for a few seconds,
  sampling ``aesel_unsaved`` (streamed values not yet durable) as the flush lag.

MongoDB and Neo4j are the servers ``scripts/engines.sh`` starts (SecantusDB stands in for
MongoDB). Figures are from one run on a shared machine: compare the ratios, not the absolute
times. Run: ``.venv/bin/python bench/stores.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"http=[\d.]+:(\d+) udp=[\d.]+:(\d+)")
T = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


def engines() -> tuple[dict[str, str], Path]:
    run = Path(tempfile.mkdtemp(prefix="aesel-bench-engines-"))
    out = subprocess.run(
        [str(ROOT / "scripts" / "engines.sh"), "start", "neo4j", "mongo"],
        env={**os.environ, "ENGINES_RUN": str(run)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    urls = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line.removeprefix("export ").partition("=")
            urls[k] = v
    return urls, run


def serve(data: Path, *flags: str) -> tuple[subprocess.Popen[str], int, int]:
    cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
           "--ws-port", "0", "--data-dir", str(data), "--udp-rate", "0", *flags]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    m = READY.search(proc.stdout.readline())
    assert m, "aesel did not start"
    return proc, int(m.group(1)), int(m.group(2))


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def rest(http: httpx.Client, n: int) -> dict[str, tuple[float, float]]:
    out = {}
    keys: list[str] = []

    def timed(name: str, calls: list[tuple[str, str, dict[str, object] | None]]) -> None:
        lat = []
        t0 = time.perf_counter()
        for method, url, body in calls:
            s = time.perf_counter()
            r = http.request(method, url, json=body)
            lat.append(time.perf_counter() - s)
            assert r.status_code < 400, r.text
            if name == "create":
                keys.append(r.json()["objects"][0]["key"])
        out[name] = (len(calls) / (time.perf_counter() - t0), p(lat, 0.99) * 1000)

    timed("create", [("POST", "/v1/scene/b/object", {"objects": [{"name": f"o{i}"}]})
                     for i in range(n)])  # fmt: skip
    timed("update", [("POST", f"/v1/scene/b/object/{k}", {"objects": [{"type": "t"}]})
                     for k in keys])  # fmt: skip
    timed("get", [("GET", f"/v1/scene/b/object/{k}", None) for k in keys])
    timed("query", [("POST", "/v1/scene/b/object/query", {"objects": [{"name": f"o{i}"}]})
                    for i in range(n // 3)])  # fmt: skip
    return out


def udp_latency(http: httpx.Client, udp_port: int, events: int) -> tuple[float, float]:
    key = http.post("/v1/scene/b/object", json={"objects": [{"name": "lat"}]}).json()
    key = key["objects"][0]["key"]
    dev = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dev.bind(("127.0.0.1", 0))
    dev.settimeout(2)
    body = {"key": "bench-dev", "hostname": "127.0.0.1", "port": dev.getsockname()[1]}
    http.post("/v1/scene/b/register", json={"scenes": [{"key": "b", "devices": [body]}]})
    lat = []
    for i in range(events):
        t = [*T[:3], float(i), *T[4:]]
        data = orjson.dumps({"msg_type": 1, "key": key, "scene": "b", "transform": t})
        s = time.perf_counter()
        dev.sendto(data, ("127.0.0.1", udp_port))
        while True:
            got = orjson.loads(dev.recv(65536))
            if got.get("key") == key and got["transform"][3] == float(i):
                break
        lat.append(time.perf_counter() - s)
    body["port"] = 0
    http.post("/v1/scene/b/deregister", json={"scenes": [{"key": "b", "devices": [body]}]})
    dev.close()
    return p(lat, 0.5) * 1e6, p(lat, 0.99) * 1e6


def unsaved(http: httpx.Client) -> float:
    m = re.search(r"^aesel_unsaved(?:\{[^}]*\})? ([\d.e+]+)$", http.get("/metrics").text, re.M)
    return float(m.group(1)) if m else float("nan")


def write_behind(http: httpx.Client, udp_port: int, objects: int, hz: int, seconds: float) -> str:
    r = http.post(
        "/v1/scene/w/object", json={"objects": [{"name": f"w{i}"} for i in range(objects)]}
    )
    keys = [o["key"] for o in r.json()["objects"]]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent, samples = 0, []
    t0 = time.perf_counter()
    tick = 1 / hz
    nxt = t0
    while time.perf_counter() - t0 < seconds:
        for k in keys:
            sock.sendto(
                orjson.dumps({"msg_type": 1, "key": k, "transform": T}), ("127.0.0.1", udp_port)
            )
        sent += len(keys)
        nxt += tick
        samples.append(unsaved(http))
        time.sleep(max(0.0, nxt - time.perf_counter()))
    rate = sent / (time.perf_counter() - t0)
    t1 = time.perf_counter()
    while unsaved(http) > 0 and time.perf_counter() - t1 < 30:
        time.sleep(0.02)
    drain = time.perf_counter() - t1
    sock.close()
    return (
        f"{rate:,.0f} updates/s sent; unsaved values p50 {statistics.median(samples):,.0f}, "
        f"max {max(samples):,.0f}; all durable {drain * 1000:.0f} ms after the stream stopped"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--hz", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    urls, run = engines()
    try:
        backends = {
            "embedded": (),
            "mongo+neo4j": (
                "--mongo-url",
                urls["AESEL_MONGO_URL"].rstrip("/") + "/bench",
                "--neo4j-url",
                urls["AESEL_NEO4J_URL"],
            ),
        }
        for name, flags in backends.items():
            with tempfile.TemporaryDirectory() as d:
                proc, http_port, udp_port = serve(Path(d), *flags)
                try:
                    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as h:
                        h.put("/v1/scene/b", json={"scenes": [{"name": "bench"}]})
                        h.put("/v1/scene/w", json={"scenes": [{"name": "bench"}]})
                        print(f"== {name}")
                        for op, (tput, p99) in rest(h, args.requests).items():
                            print(f"  REST {op:<7} {tput:8.0f} req/s   p99 {p99:7.2f} ms")
                        p50, p99 = udp_latency(h, udp_port, args.events)
                        print(f"  UDP in->out   p50 {p50:7.0f} us   p99 {p99:7.0f} us")
                        wb = write_behind(h, udp_port, args.objects, args.hz, args.seconds)
                        print(f"  write-behind  {args.objects} objects at {args.hz} Hz: {wb}")
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        subprocess.run([str(ROOT / "scripts" / "engines.sh"), "stop"],
                       env={**os.environ, "ENGINES_RUN": str(run)}, check=False)  # fmt: skip


if __name__ == "__main__":
    main()
