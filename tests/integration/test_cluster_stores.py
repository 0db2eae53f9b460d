"""``aesel serve`` on MongoDB + Neo4j: the real process on the real servers.

The integration suites for objects, properties, scenes and registration also run on these
stores (``tests/conftest.py``, ``ON_CLUSTER_STORES``); here: the process as a user runs it, the
PyAesel flows, and a store that cannot be reached.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import AeselProcess, stop_aesel
from tests.engines import Engines, mongo_url

pytestmark = pytest.mark.integration

T = [1.0, 0, 0, 3.0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


def test_serve_on_mongodb_and_neo4j_keeps_state_across_a_restart(
    aesel_process: Callable[..., AeselProcess], engines: Engines, device_socket: socket.socket
) -> None:
    stores = ("--mongo-url", mongo_url(engines), "--neo4j-url", engines.urls["AESEL_NEO4J_URL"])
    node = aesel_process(*stores)
    base = f"http://127.0.0.1:{node.http_port}"
    r = httpx.put(f"{base}/v1/scene/cl", json={"scenes": [{"name": "on the cluster stores"}]})
    assert r.status_code in (200, 409), r.text  # 409: the graph is shared between tests
    r = httpx.post(f"{base}/v1/scene/cl/object", json={"objects": [{"name": "o"}]})
    key = r.json()["objects"][0]["key"]
    port = device_socket.getsockname()[1]
    dev = {"key": f"d{port}", "hostname": "127.0.0.1", "port": port}
    r = httpx.post(
        f"{base}/v1/scene/cl/register", json={"scenes": [{"key": "cl", "devices": [dev]}]}
    )
    assert r.status_code == 200, r.text
    device_socket.sendto(
        orjson.dumps({"msg_type": 1, "key": key, "scene": "cl", "transform": T}),
        ("127.0.0.1", node.udp_port),
    )
    event = orjson.loads(device_socket.recv(65536))
    assert event["key"] == key and event["transform"] == T
    stop_aesel(node)  # SIGTERM: the streamed transform is flushed to MongoDB
    node = aesel_process(*stores)
    base = f"http://127.0.0.1:{node.http_port}"
    got = httpx.get(f"{base}/v1/scene/cl/object/{key}").json()["objects"][0]
    assert got["transform"] == T
    # the registration came back from Neo4j: the device streams again at once
    httpx.post(f"{base}/v1/scene/cl/object/{key}", json={"objects": [{"name": "renamed"}]})
    assert orjson.loads(device_socket.recv(65536))["name"] == "renamed"


def test_an_unreachable_store_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
         "--ws-port", "0", "--data-dir", str(tmp_path), "--store-timeout", "1",
         "--mongo-url", f"mongodb://127.0.0.1:{closed}/x", "--neo4j-url", f"bolt://127.0.0.1:{closed}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if "cannot start" in line]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
