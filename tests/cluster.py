"""A real cluster for the tests: Kafka from scripts/engines.sh, and aesel nodes as processes.

Each test gets its own Kafka topic prefix and MongoDB database, so tests do not see each
other's nodes, and shares the session's Kafka, MongoDB-wire and Neo4j servers.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.engines import ENGINES_CACHE, ENGINES_SH

READY = re.compile(r"aesel ready http=[\d.]+:(\d+) udp=[\d.]+:(\d+) ws=[\d.]+:(\d+)")


class Kafka:
    """One Kafka broker (KRaft) started by engines.sh, which a test may stop and restart on
    the same port and data."""

    def __init__(self) -> None:
        self.run = Path(tempfile.mkdtemp(prefix="aesel-kafka-"))
        self.bootstrap = ""
        self._proc: subprocess.Popen[bytes] | None = None  # a broker this process restarted

    def _env(self) -> dict[str, str]:
        return {**os.environ, "ENGINES_RUN": str(self.run)}

    def start(self) -> None:
        out = subprocess.run(
            [str(ENGINES_SH), "start", "kafka"], env=self._env(), capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"engines.sh start kafka failed:\n{out.stderr[-3000:]}")
        m = re.search(r"AESEL_KAFKA=(\S+)", out.stdout)
        assert m, out.stdout
        self.bootstrap = m.group(1)

    @property
    def pid(self) -> int:
        return int((self.run / "kafka.pid").read_text())

    def kill(self) -> None:
        """Stop the broker hard (kill -9), keeping its data (returns at once)."""
        os.kill(self.pid, signal.SIGKILL)

    def restart(self) -> None:
        """Start the broker again on the same port and data; returns once it listens."""
        if self._proc is not None:
            self._proc.wait(timeout=30)  # reaped: its port and data lock are free
        else:
            for _ in range(200):  # engines.sh's child, reaped by init
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        lib = next(ENGINES_CACHE.glob("kafka-*/lib"))
        log = open(self.run / "kafka.log", "a")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            ["java", "-Xms256m", "-Xmx512m", "-cp", f"{lib}/*", "kafka.Kafka",
             str(self.run / "kafka.properties")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._proc = proc
        (self.run / "kafka.pid").write_text(str(proc.pid))
        host, port = self.bootstrap.rsplit(":", 1)
        import socket

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((host, int(port))) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("kafka did not come back")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=30)
        subprocess.run([str(ENGINES_SH), "stop", "kafka"], env=self._env(), timeout=60, check=False)


@pytest.fixture(scope="session")
def kafka() -> Iterator[Kafka]:
    if os.environ.get("AESEL_ENGINES") == "off":
        pytest.skip("AESEL_ENGINES=off: no Kafka")
    k = Kafka()
    try:
        k.start()
        yield k
    finally:
        k.stop()


@dataclass
class ClusterNode:
    """One ``aesel serve`` process of a test cluster."""

    name: str
    args: list[str]
    data_dir: Path
    proc: subprocess.Popen[str] | None = None
    http_port: int = 0
    udp_port: int = 0
    ws_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    def start(self) -> ClusterNode:
        cmd = [sys.executable, "-m", "aesel", "serve", "--node-id", self.name,
               "--data-dir", str(self.data_dir), *self.args]  # fmt: skip
        if not any(a == "--http-port" for a in self.args):
            cmd += ["--http-port", "0", "--udp-port", "0", "--ws-port", "0"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        err = open(self.data_dir / "node.log", "a")  # noqa: SIM115 - handed to the child
        # stderr to a file, never a pipe nobody reads: a full pipe would block the node
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = READY.search(line)
        if not m:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise RuntimeError(f"node {self.name} did not start: {line!r} {self.log()[-3000:]}")
        self.http_port, self.udp_port, self.ws_port = (int(g) for g in m.groups())
        return self

    def kill(self, sig: int = signal.SIGKILL) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.communicate(timeout=30)
        return self.log()

    def log(self) -> str:
        """What the node wrote to stderr (every run of it)."""
        return (self.data_dir / "node.log").read_text(errors="replace")

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def cluster_args(kafka: Kafka, mongo: str, neo4j: str, prefix: str, *extra: str) -> list[str]:
    return ["--kafka", kafka.bootstrap, "--kafka-topic-prefix", prefix, "--mongo-url", mongo,
            "--neo4j-url", neo4j, "--cluster-lease", "3", "--cluster-heartbeat", "0.5",
            "--store-timeout", "10", *extra]  # fmt: skip


def new_prefix() -> str:
    return f"t{secrets.token_hex(4)}"
