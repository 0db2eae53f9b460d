"""``aesel serve`` on MongoDB + Neo4j: the real process on the real servers.

The integration suites for objects, properties, scenes and registration also run on these
stores (``tests/conftest.py``, ``ON_CLUSTER_STORES``); here: the process as a user runs it, the
PyAesel flows, ``kill -9`` durability, and a store that cannot be reached.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import AeselProcess, burst, stop_aesel, wait_until
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


def unsaved(url: str) -> int:
    """Streamed values not yet in the store, from ``/metrics``."""
    text = httpx.get(f"{url}/metrics").text
    line = next(line for line in text.splitlines() if line.startswith("aesel_unsaved "))
    return int(float(line.split()[1]))


def test_kill_9_on_mongodb_and_neo4j_loses_no_acknowledged_write(
    aesel_process: Callable[..., AeselProcess], engines: Engines, device_socket: socket.socket
) -> None:
    """As ``test_persistence`` on the embedded store: after ``kill -9`` of aesel no acknowledged
    REST write is lost, and streamed updates at most for the last flush interval (here all of
    them reached the store before the kill: ``aesel_unsaved`` was 0)."""
    stores = ("--mongo-url", mongo_url(engines), "--neo4j-url", engines.urls["AESEL_NEO4J_URL"])
    p = aesel_process(*stores, "--flush-interval", "0.05")
    scene, port = f"k9{secrets.token_hex(4)}", device_socket.getsockname()[1]
    with httpx.Client(base_url=p.url, timeout=30) as c:
        c.put(f"/v1/scene/{scene}", json={"scenes": [{"name": "k9"}]}).raise_for_status()
        dev = {"key": f"d{port}", "hostname": "127.0.0.1", "port": port}
        reg = {"scenes": [{"key": scene, "devices": [dev]}]}
        c.post(f"/v1/scene/{scene}/register", json=reg).raise_for_status()
        keys = []
        for i in range(20):
            r = c.post(f"/v1/scene/{scene}/object", json={"objects": [{"name": f"o{i}"}]})
            assert r.status_code == 200, r.text
            keys.append(r.json()["objects"][0]["key"])
        for _ in keys:  # each create is streamed to the device
            device_socket.recv(65536)
        r = c.post(f"/v1/scene/{scene}/object/{keys[0]}", json={"objects": [{"name": "renamed"}]})
        r.raise_for_status()
        c.delete(f"/v1/scene/{scene}/object/{keys[1]}").raise_for_status()
        prop = c.post(
            f"/v1/scene/{scene}/property", json={"properties": [{"name": "p", "values": [1.0]}]}
        ).json()["properties"][0]["key"]
        for _ in range(3):  # rename, delete, property
            device_socket.recv(65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(50):
            update = {"msg_type": 1, "key": keys[2], "scene": scene, "transform": [float(i)] * 16}
            s.sendto(orjson.dumps(update), ("127.0.0.1", p.udp_port))
        s.sendto(
            orjson.dumps({"msg_type": 9, "key": prop, "scene": scene, "values": [7.5, 2]}),
            ("127.0.0.1", p.udp_port),
        )
    got = burst(device_socket, until=lambda event: "values" in event)
    moves = [event["transform"][0] for event in got[:-1]]
    assert moves == sorted(set(moves)) and moves[-1] == 49.0, moves  # in order, once, the last
    assert got[-1]["values"] == [7.5, 2.0]
    wait_until(lambda: unsaved(p.url) == 0, timeout=30)  # the write-behind flusher caught up
    stop_aesel(p, signal.SIGKILL)
    assert p.proc.returncode == -signal.SIGKILL

    p2 = aesel_process(*stores, data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url, timeout=30) as c:
        assert c.get(f"/v1/scene/{scene}").json()["scenes"][0]["name"] == "k9"
        r = c.post(f"/v1/scene/{scene}/object/query", json={"num_records": 100, "objects": [{}]})
        found = {o["key"]: o for o in r.json()["objects"]}
        assert set(found) == set(keys) - {keys[1]}
        assert found[keys[0]]["name"] == "renamed"
        assert found[keys[2]]["transform"] == [49.0] * 16
        r = c.get(f"/v1/scene/{scene}/property/{prop}")
        assert r.json()["properties"][0]["values"] == [7.5, 2.0]
    # the registration came back from Neo4j: the device streams again at once
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        update = {"msg_type": 1, "key": keys[3], "scene": scene, "transform": T}
        s.sendto(orjson.dumps(update), ("127.0.0.1", p2.udp_port))
    assert orjson.loads(device_socket.recv(65536))["transform"] == T


def test_kill_9_while_recording_on_gridfs_loses_at_most_the_tail(
    aesel_process: Callable[..., AeselProcess], engines: Engines
) -> None:
    """As ``test_recordings`` on files: every flushed append survives ``kill -9``, the restarted
    node (same data dir, so the same owner) seals the recording into GridFS, cutting a torn
    last write."""
    from pymongo import MongoClient

    from aesel.model import recording as rec

    url = mongo_url(engines)
    stores = ("--mongo-url", url, "--neo4j-url", engines.urls["AESEL_NEO4J_URL"])
    p = aesel_process(*stores, "--flush-interval", "0.05")
    scene = f"rec{secrets.token_hex(4)}"
    mongo: MongoClient[dict[str, Any]] = MongoClient(url)
    parts = mongo.get_default_database()["recording_parts"]
    try:
        with httpx.Client(base_url=p.url, timeout=30) as http:
            http.put(f"/v1/scene/{scene}", json={"scenes": [{"name": "c"}]}).raise_for_status()
            rid = http.post(f"/v1/scene/{scene}/recordings").json()["id"]
            made = http.post(f"/v1/scene/{scene}/object", json={"objects": [{"name": "o"}]})
            key = made.json()["objects"][0]["key"]
            for i in range(1, 21):
                at = [*T[:3], float(i), *T[4:]]
                r = http.post(
                    f"/v1/scene/{scene}/object/{key}", json={"objects": [{"transform": at}]}
                )
                r.raise_for_status()

            def flushed() -> bool:
                data = b"".join(d["data"] for d in parts.find({"r": rid}).sort("n", 1))
                return len(rec.decode(data[: rec.complete_prefix(data)])[1]) == 21

            wait_until(flushed, timeout=30)
        stop_aesel(p, signal.SIGKILL)
        torn = rec.event(1, {"msg_type": 1, "key": key})[:9]  # a write torn by the crash
        parts.insert_one({"r": rid, "n": 1 << 30, "data": torn})
    finally:
        mongo.close()

    p2 = aesel_process(*stores, data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url, timeout=30) as http:
        [info] = http.get(f"/v1/scene/{scene}/recordings").json()["recordings"]
        assert info["id"] == rid and info["recording"] is False
        meta, entries = rec.decode(http.get(f"/v1/scene/{scene}/recordings/{rid}").content)
    assert meta.scene == scene
    assert [e.payload.get("transform", [0.0] * 4)[3] for e in entries] == list(range(21))
