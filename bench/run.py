"""Benchmark runner: fixed workloads against aesel, its peers and the physical limit.

Every system runs on this machine in this run, one at a time, against the same Go load
generator (``bench/loadgen``, out of process). For each run it prints and records:
deliveries/s, % delivered, p50/p99/p99.9 latency (event sent by the publisher to message
read by the subscriber), server CPU per delivery, server RSS per connection, and the load
generator's own CPU. Install the peers first: ``make bench-setup``.

    .venv/bin/python bench/run.py [--duration 8] [--only a-udp,a-ws] [--out bench/out]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
# the peers and the load generator live outside the clone (a fresh clone reuses them)
CACHE = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "aesel" / "bench"))
LOADGEN = CACHE / "bin" / "aesel-loadgen"
CENTRIFUGO = CACHE / "bin" / "centrifugo"
PY = sys.executable
BASELINE = ROOT  # --baseline: a checkout of the previous code, run as aesel-base
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Workload:
    name: str
    mode: str  # udp or ws subscribers
    scenes: int
    objects: int
    rate: float
    subs: int  # per scene
    systems: tuple[str, ...]

    @property
    def offered(self) -> float:
        return self.scenes * self.objects * self.rate * self.subs


WS_SYSTEMS = ("aesel", "raw-write", "websockets.broadcast", "node-ws", "socket.io", "centrifugo")
WORKLOADS = [
    Workload("a-udp", "udp", 1, 50, 40, 100, ("aesel", "aesel-batch", "raw-sendto")),
    Workload("a-ws", "ws", 1, 50, 40, 100, WS_SYSTEMS),
    Workload("b-ws", "ws", 1, 10, 30, 1000, WS_SYSTEMS),
    Workload("c-ws", "ws", 100, 5, 20, 10, WS_SYSTEMS),
    # not in the default run: 10,000 mostly idle connections on one process (RSS per connection)
    Workload("d-ws-10k", "ws", 1, 1, 1, 10_000, ("aesel", "centrifugo")),
]
DEFAULT = ("a-udp", "a-ws", "b-ws", "c-ws")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_range(n: int) -> int:
    """A base port with n free UDP ports above it (best effort)."""
    for base in range(20000, 60000, 1500):
        ok = True
        for p in range(base, base + n):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError(f"no range of {n} free udp ports, expected one")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_line(proc: subprocess.Popen[str], word: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited before printing {word!r}: rc={proc.poll()}")
        if word in line:
            return line
    raise RuntimeError(f"no {word!r} within {timeout} s")


@contextlib.contextmanager
def running(cmd: list[str], ready: str | None, **kw: Any) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kw)
    try:
        if ready:
            wait_line(proc, ready)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Server:
    pid: int
    loadgen_args: list[str]
    metrics_url: str = ""


def server_side(url: str) -> tuple[float, float, dict[str, float]]:
    """aesel's own p99 event-in to last-delivery-out (the histogram bucket's upper bound, ms),
    its slow-consumer disconnects and its drops by reason."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: list[tuple[float, float]] = []
    slow = 0.0
    drops: dict[str, float] = {}
    for fam in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for smp in fam.samples:
            if smp.name == "aesel_delivery_latency_seconds_bucket":
                buckets.append((float(smp.labels["le"]), smp.value))
            if smp.name == "aesel_slow_consumer_disconnects_total":
                slow = smp.value
            if smp.name == "aesel_drops_total" and smp.value:
                drops[smp.labels["reason"]] = smp.value
    if not buckets or not buckets[-1][1]:
        return float("nan"), slow, drops
    total = buckets[-1][1]
    for le, count in sorted(buckets):
        if count >= 0.99 * total:
            return le * 1000, slow, drops
    return float("inf"), slow, drops


def start_system(system: str, w: Workload, tmp: Path, stack: contextlib.ExitStack) -> Server:
    """Start one system and return its pid and the load generator's target flags."""
    udp, ws = free_port(socket.SOCK_DGRAM), free_port()
    base = free_udp_range(w.subs * w.scenes) if w.mode == "udp" else 0
    if system.startswith("aesel"):
        fmt = "batch" if system.endswith("-batch") else "json"
        http = free_port()
        # aesel-base*: the same command from another checkout (--baseline), in the same run
        where = BASELINE if system.startswith("aesel-base") else ROOT
        env = {**os.environ, "PYTHONPATH": str(where)}
        prof = os.environ.get("BENCH_PROFILE")  # a directory: cProfile each aesel run
        cmd = [PY, *(["-m", "cProfile", "-o", f"{prof}/{system}-{w.name}.prof"] if prof else []),
               "-m", "aesel", "serve", "--http-port", str(http), "--udp-port", str(udp),
               "--ws-port", str(ws), "--data-dir", str(tmp / "data"),
               "--log-level", "warning",
               "--max-connections-per-address", "1000000"]  # all clients are local  # fmt: skip
        proc = stack.enter_context(running(cmd, "aesel ready", cwd=where, env=env))
        keys: dict[str, list[str]] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{http}", timeout=60) as c:
            for s in range(w.scenes):
                scene = f"s{s}"
                c.put(f"/v1/scene/{scene}", json={"scenes": [{"name": scene}]}).raise_for_status()
                objs = [{"name": f"o{i}", "scene": scene} for i in range(w.objects)]
                r = c.post(f"/v1/scene/{scene}/object", json={"objects": objs})
                r.raise_for_status()
                keys[scene] = [o["key"] for o in r.json()["objects"]]
                if w.mode == "udp":
                    for i in range(w.subs):
                        port = base + s * w.subs + i
                        dev = {"key": f"d{s}-{i}", "hostname": "127.0.0.1", "port": port,
                               "format": fmt}  # fmt: skip
                        body = {"scenes": [{"key": scene, "devices": [dev]}]}
                        c.post(f"/v1/scene/{scene}/register", json=body).raise_for_status()
        (tmp / "keys.json").write_text(json.dumps(keys))
        args = ["-pub", f"127.0.0.1:{udp}", "-keys", str(tmp / "keys.json")]
        metrics = f"http://127.0.0.1:{http}/metrics"
        if w.mode == "udp":
            return Server(proc.pid, [*args, "-base-port", str(base)], metrics)
        args += ["-url", f"ws://127.0.0.1:{ws}/", "-proto", "aesel"]
        return Server(proc.pid, args, metrics)
    peers = ROOT / "bench" / "peers"
    env = {**os.environ, "PYTHONPATH": f"{peers}:{ROOT}"}
    plain = ["-pub", f"127.0.0.1:{udp}", "-url", f"ws://127.0.0.1:{ws}/", "-proto", "plain"]
    if system == "raw-sendto":
        targets = f"127.0.0.1:{base}:{w.subs * w.scenes}"
        cmd = [PY, str(peers / "raw_limit.py"), "udp", "--udp-port", str(udp), "--targets", targets]
        proc = stack.enter_context(running(cmd, "READY", env=env))
        return Server(proc.pid, ["-pub", f"127.0.0.1:{udp}", "-base-port", str(base)])
    if system == "raw-write":
        cmd = [PY, str(peers / "raw_limit.py"), "ws", "--udp-port", str(udp), "--ws-port", str(ws)]
        proc = stack.enter_context(running(cmd, "READY", env=env))
        return Server(proc.pid, plain)
    if system == "websockets.broadcast":
        cmd = [PY, str(peers / "naive_ws.py"), "--udp-port", str(udp), "--ws-port", str(ws)]
        proc = stack.enter_context(running(cmd, "READY", env=env))
        return Server(proc.pid, plain)
    if system == "node-ws":
        env = {**os.environ, "NODE_PATH": str(CACHE / "node" / "node_modules")}
        cmd = ["node", str(peers / "node_ws.js"), str(udp), str(ws)]
        proc = stack.enter_context(running(cmd, "READY", env=env))
        return Server(proc.pid, plain)
    if system == "socket.io":
        env = {**os.environ, "NODE_PATH": str(CACHE / "node" / "node_modules")}
        cmd = ["node", str(peers / "socketio.js"), str(udp), str(ws)]
        proc = stack.enter_context(running(cmd, "READY", env=env))
        args = ["-pub", f"127.0.0.1:{udp}", "-url", f"ws://127.0.0.1:{ws}/socket.io/"]
        return Server(proc.pid, [*args, "-proto", "socketio"])
    if system == "centrifugo":
        cmd = [str(CENTRIFUGO), "--client.insecure", "--http_api.insecure", "-p", str(ws),
               "-a", "127.0.0.1", "--log.level", "error", "-c", str(tmp / "none.json")]  # fmt: skip
        (tmp / "none.json").write_text("{}")
        proc = stack.enter_context(running(cmd, None, cwd=tmp))
        deadline = time.monotonic() + 30
        while True:  # no ready line at log level error: wait for the port
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", ws), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("centrifugo did not start")
            time.sleep(0.05)
        args = [
            "-pub",
            f"http://127.0.0.1:{ws}",
            "-url",
            f"ws://127.0.0.1:{ws}/connection/websocket",
        ]
        return Server(proc.pid, [*args, "-proto", "centrifugo"])
    raise ValueError(f"system is {system!r}, expected one of {WS_SYSTEMS}")


def run_one(system: str, w: Workload, duration: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
        tmp = Path(d)
        srv = start_system(system, w, tmp, stack)
        time.sleep(0.3)
        rss0 = rss_kib(srv.pid)
        cmd = [str(LOADGEN), "-mode", w.mode, "-subs", str(w.subs), "-objects", str(w.objects),
               "-scenes", str(w.scenes), "-rate", str(w.rate), "-duration", str(duration),
               *srv.loadgen_args]  # fmt: skip
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            wait_line(gen, "READY", 120)
            rss1 = rss_kib(srv.pid)
            cpu0, t0 = cpu_seconds(srv.pid), time.monotonic()
            wait_line(gen, "PUBLISHED", duration + 60)
            cpu1, t1 = cpu_seconds(srv.pid), time.monotonic()
            assert gen.stdout is not None
            out, _ = gen.communicate(timeout=60)
            nan = float("nan")
            server_p99, slow, drops = (
                server_side(srv.metrics_url) if srv.metrics_url else (nan, nan, {})
            )
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    conns = w.subs * w.scenes
    res.update(
        workload=w.name,
        system=system,
        deliveries_per_s=res["received"] / max(t1 - t0, 1e-9),
        server_cpu_s=cpu1 - cpu0,
        server_cpu_pct=100 * (cpu1 - cpu0) / max(t1 - t0, 1e-9),
        cpu_us_per_delivery=1e6 * (cpu1 - cpu0) / max(res["received"], 1),
        deliveries_per_cpu_s=res["received"] / max(cpu1 - cpu0, 1e-9),
        rss_kib_per_conn=(rss1 - rss0) / conns if w.mode == "ws" else float("nan"),
        offered_per_s=w.offered,
        server_p99_ms=server_p99,
        slow_disconnects=slow,
        drops=drops,
    )
    return res


COLUMNS = [
    ("system", "system", "{}"),
    ("deliveries_per_s", "deliveries/s", "{:,.0f}"),
    ("delivered_pct", "% delivered", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("p999_ms", "p99.9 ms", "{:.2f}"),
    ("server_p99_ms", "server-side p99 ms ≤", "{:.2f}"),
    ("slow_disconnects", "4008 closes", "{:.0f}"),
    ("server_cpu_pct", "server CPU %", "{:.0f}"),
    ("cpu_us_per_delivery", "CPU µs/delivery", "{:.2f}"),
    ("deliveries_per_cpu_s", "deliveries/CPU-s", "{:,.0f}"),
    ("rss_kib_per_conn", "RSS KiB/conn", "{:.1f}"),
    ("loadgen_cpu_s", "loadgen CPU s", "{:.1f}"),
]


def table(rows: list[dict[str, Any]], w: Workload) -> str:
    head = f"### {w.name}: {w.scenes} scene(s) x {w.objects} objects @ {w.rate:g} Hz x {w.subs} {w.mode} subscribers/scene (offered {w.offered:,.0f} deliveries/s)\n\n"  # noqa: E501
    lines = ["| " + " | ".join(c[1] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.format(r[k]) for k, _, fmt in COLUMNS) + " |")
    notes = [
        f"- {r['system']} drops: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r["drops"].items()))
        for r in rows
        if r.get("drops")
    ]
    return head + "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["workload"] for r in results}, key=[w.name for w in WORKLOADS].index)
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 3.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names, strict=True):
        rs = [r for r in results if r["workload"] == name]
        labels = [r["system"] for r in rs]
        row[0].barh(labels, [r["cpu_us_per_delivery"] for r in rs], color="tab:blue")
        row[0].set_title(f"{name}: server CPU µs per delivery (lower is better)")
        row[1].barh(labels, [r["p99_ms"] for r in rs], color="tab:orange")
        row[1].set_title(f"{name}: p99 latency ms")
        for ax in row:
            ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=8.0, help="seconds of publishing per run")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated workloads (default: a-udp,a-ws,b-ws,c-ws; also d-ws-10k)",
    )
    p.add_argument("--systems", default="", help="comma-separated systems to keep")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every workload's subscribers")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of earlier code (e.g. `git archive main aesel | tar -x -C DIR`): adds "
        "aesel-base (and aesel-base-batch on a-udp) to every workload, in the same run",
    )
    a = p.parse_args()
    global BASELINE
    if a.baseline is not None:
        BASELINE = a.baseline.resolve()
    if not LOADGEN.exists():
        sys.exit(f"{LOADGEN} is missing: run `make bench-setup` first")
    a.out.mkdir(parents=True, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    keep = set(filter(None, a.systems.split(",")))
    results: list[dict[str, Any]] = []
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = [f"command: `{' '.join(['bench/run.py', *sys.argv[1:]])}`  \n",
              f"machine: {os.cpu_count()} CPUs, {when}\n"]  # fmt: skip
    for w in WORKLOADS:
        if (only and w.name not in only) or (not only and w.name not in DEFAULT):
            continue
        if a.scale != 1.0:
            w = dataclasses.replace(w, subs=max(1, round(w.subs * a.scale)))
        rows = []
        systems = list(w.systems)
        if a.baseline is not None:
            systems[1:1] = [f"aesel-base{s[5:]}" for s in w.systems if s.startswith("aesel")]
        for system in systems:
            if keep and system not in keep:
                continue
            if system == "centrifugo" and not CENTRIFUGO.exists():
                continue
            if system in ("node-ws", "socket.io") and not shutil.which("node"):
                continue
            print(f"... {w.name} {system}", file=sys.stderr, flush=True)
            try:
                r = run_one(system, w, a.duration)
            except Exception as e:  # a peer failing must not lose the others' figures
                print(f"    {system} failed: {e}", file=sys.stderr)
                continue
            rows.append(r)
            results.append(r)
        t = table(rows, w)
        print(t)
        report.append(t)
    (a.out / "results.json").write_text(json.dumps(results, indent=1))
    (a.out / "results.md").write_text("\n".join(report))
    with contextlib.suppress(ImportError):
        plot(results, a.out / "results.png")
        print(f"plot: {a.out / 'results.png'}")


if __name__ == "__main__":
    main()
