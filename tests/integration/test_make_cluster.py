"""``scripts/cluster.sh`` (``make cluster`` / ``make cluster-down``): three real nodes come up on
real engines and report ready; ``down`` leaves no process behind.

To stay cheap on a small machine, the test reuses the session's Kafka, MongoDB-wire and Neo4j
servers and a per-test Consul agent (the script's ``CLUSTER_*`` variables), with a Kafka topic
prefix of its own (``AESEL_KAFKA_TOPIC_PREFIX``, which the script hands to the nodes), so only
the three nodes start here; ``make cluster`` runs the same script and starts the engines too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cluster import Kafka, kafka, new_prefix  # noqa: F401
from tests.engines import ConsulAgent, Engines, mongo_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
BASE = (8080, 8762, 8081)


def is_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_offset() -> int:
    """A shift of the nine node ports that finds them all free (the defaults may be in use)."""
    for offset in range(20000, 40000, 997):
        ports = [p + offset + 100 * n for p in BASE for n in range(3)]
        if all(is_free(p) for p in ports):
            return offset
    raise AssertionError("no free set of cluster ports")


def pids_of(cluster: Path) -> list[int]:
    return [
        int(f.read_text()) for f in [*cluster.glob("node*.pid"), *cluster.glob("engines/*.pid")]
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_up_reports_three_healthy_nodes_and_down_leaves_nothing(
    tmp_path: Path, engines: Engines, consul: ConsulAgent, request: pytest.FixtureRequest
) -> None:
    broker: Kafka = request.getfixturevalue("kafka")  # the session's (tests.cluster)
    cluster = tmp_path / "cluster"
    offset = free_offset()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AESEL_")},
        "CLUSTER_DIR": str(cluster),
        "CLUSTER_PORT_OFFSET": str(offset),
        "CLUSTER_MONGO_URL": mongo_url(engines),
        "CLUSTER_NEO4J_URL": engines.urls["AESEL_NEO4J_URL"],
        "CLUSTER_CONSUL": consul.url,
        "CLUSTER_KAFKA": broker.bootstrap,
        "AESEL_STORE_TIMEOUT": "20",  # a fresh Neo4j on two busy cores
        "AESEL_KAFKA_TOPIC_PREFIX": new_prefix(),
        "AESEL": str(Path(sys.executable).parent / "aesel"),
    }
    try:
        up = subprocess.run([str(CLUSTER_SH), "up"], env=env, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
        assert up.returncode == 0, up.stderr[-3000:]
        assert up.stdout.startswith("cluster ready") and len(up.stdout.splitlines()) == 1
        http = [8080 + offset + 100 * n for n in range(3)]
        for n, port in enumerate(http, 1):
            assert f"node{n} http://127.0.0.1:{port} " in up.stdout, up.stdout
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        want = [(f"node{n}", 8080 + d, 8762 + d, 8081 + d)
                for n, d in ((n, offset + 100 * (n - 1)) for n in (1, 2, 3))]  # fmt: skip
        deadline = time.monotonic() + 15
        while True:  # each node heard the others on Kafka, and Consul passes all three
            doc = httpx.get(f"http://127.0.0.1:{http[0]}/v1/cluster", timeout=5).json()
            got = [(r["id"], r["http_port"], r["udp_port"], r["ws_port"]) for r in doc["records"]]
            sources = [r["sources"] for r in doc["records"]]
            if sources == [["self", "consul"], ["kafka", "consul"], ["kafka", "consul"]]:
                break
            assert time.monotonic() < deadline, doc
            time.sleep(0.1)
        assert doc["self"] == "node1" and got == want
        assert len(consul.passing()) == 3
        # a second `up` finds everything running and only reports it
        again = subprocess.run([str(CLUSTER_SH), "up"], env=env, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert again.returncode == 0 and again.stdout == up.stdout, again.stderr
    finally:
        started = pids_of(cluster)
        down = subprocess.run([str(CLUSTER_SH), "down"], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert len(started) == 3  # the nodes: every engine was given
    assert not [p for p in started if alive(p)]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(cluster) not in ps, ps
    assert consul.passing() == []  # every node deregistered on its way out
