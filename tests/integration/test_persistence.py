"""State survives restarts; after ``kill -9`` no acknowledged REST write is lost and at most the
flush window of streamed UDP updates is. Runs the real ``aesel serve`` command."""

from __future__ import annotations

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

pytestmark = pytest.mark.integration

T = [float(i) for i in range(16)]


def setup_scene(p: AeselProcess, device: socket.socket) -> tuple[str, str]:
    with httpx.Client(base_url=p.url) as c:
        c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]}).raise_for_status()
        reg = {
            "scenes": [
                {
                    "key": "s",
                    "devices": [
                        {"key": "d", "hostname": "127.0.0.1", "port": device.getsockname()[1]}
                    ],
                }
            ]
        }
        c.post("/v1/scene/s/register", json=reg).raise_for_status()
        obj = c.post("/v1/scene/s/object", json={"objects": [{"name": "o"}]}).json()["objects"][0][
            "key"
        ]
        prop = c.post("/v1/scene/s/property", json={"properties": [{"name": "p", "values": [1.0]}]})
        return obj, prop.json()["properties"][0]["key"]


def send(p: AeselProcess, msg: dict[str, Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(orjson.dumps(msg), ("127.0.0.1", p.udp_port))


def drain(device: socket.socket, n: int) -> list[dict[str, Any]]:
    return [orjson.loads(device.recvfrom(65536)[0]) for _ in range(n)]


def unsaved(p: AeselProcess) -> int:
    """Streamed values not yet durable, from ``/metrics`` (the store is locked while it runs)."""
    text = httpx.get(f"{p.url}/metrics").text
    line = next(line for line in text.splitlines() if line.startswith("aesel_unsaved "))
    return int(float(line.split()[1]))


def test_state_persists_across_a_clean_restart(
    aesel_process: Callable[..., AeselProcess], device_socket: socket.socket
) -> None:
    device = device_socket
    p = aesel_process()
    obj, prop = setup_scene(p, device)
    drain(device, 2)
    send(p, {"msg_type": 1, "key": obj, "scene": "s", "transform": T})
    send(p, {"msg_type": 9, "key": prop, "scene": "s", "values": [7.5, 2]})
    drain(device, 2)
    err = stop_aesel(p, signal.SIGTERM)
    assert p.proc.returncode == 0, err
    assert "aesel stopped" in err

    p2 = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url) as c:
        assert c.get(f"/v1/scene/s/object/{obj}").json()["objects"][0]["transform"] == T
        assert c.get(f"/v1/scene/s/property/{prop}").json()["properties"][0]["values"] == [7.5, 2.0]
    # the registration survived too: the device still receives
    send(p2, {"msg_type": 1, "key": obj, "scene": "s", "transform": [1.0] * 16})
    assert drain(device, 1)[0]["transform"] == [1.0] * 16
    stop_aesel(p2, signal.SIGINT)
    assert p2.proc.returncode == 0


def test_kill_9_loses_no_acknowledged_rest_write(
    aesel_process: Callable[..., AeselProcess],
) -> None:
    p = aesel_process("--flush-interval", "3600")
    keys = []
    with httpx.Client(base_url=p.url) as c:
        for i in range(20):
            r = c.post("/v1/scene/k/object", json={"objects": [{"name": f"o{i}", "transform": T}]})
            assert r.status_code == 200
            keys.append(r.json()["objects"][0]["key"])
        c.post(
            f"/v1/scene/k/object/{keys[0]}", json={"objects": [{"name": "renamed"}]}
        ).raise_for_status()
        c.delete(f"/v1/scene/k/object/{keys[1]}").raise_for_status()
    stop_aesel(p, signal.SIGKILL)
    assert p.proc.returncode == -signal.SIGKILL

    p2 = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url) as c:
        r = c.post("/v1/scene/k/object/query", json={"num_records": 100, "objects": [{}]})
        got = {o["key"]: o for o in r.json()["objects"]}
    assert set(got) == set(keys) - {keys[1]}
    assert got[keys[0]]["name"] == "renamed" and got[keys[0]]["transform"] == T


def test_kill_9_loses_at_most_the_flush_window_of_udp_updates(
    aesel_process: Callable[..., AeselProcess], device_socket: socket.socket
) -> None:
    device = device_socket
    p = aesel_process("--flush-interval", "0.05")
    obj, _ = setup_scene(p, device)
    drain(device, 2)
    for i in range(50):
        send(p, {"msg_type": 1, "key": obj, "scene": "s", "transform": [float(i)] * 16})
    got = burst(device, until=lambda event: event["transform"] == [49.0] * 16)
    moves = [event["transform"][0] for event in got]
    assert moves == sorted(set(moves)), moves  # in order and once; superseded ones may be shed
    # the write-behind flusher persists the last update within its window
    wait_until(lambda: unsaved(p) == 0)
    stop_aesel(p, signal.SIGKILL)

    p2 = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url) as c:
        assert c.get(f"/v1/scene/s/object/{obj}").json()["objects"][0]["transform"] == [49.0] * 16


def test_udp_updates_inside_the_flush_window_are_what_kill_9_can_lose(
    aesel_process: Callable[..., AeselProcess], device_socket: socket.socket
) -> None:
    device = device_socket
    p = aesel_process("--flush-interval", "3600")
    obj, _ = setup_scene(p, device)
    drain(device, 2)
    send(p, {"msg_type": 1, "key": obj, "scene": "s", "transform": T})
    assert drain(device, 1)[0]["transform"] == T  # applied and streamed at once
    stop_aesel(p, signal.SIGKILL)
    p2 = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url) as c:
        o = c.get(f"/v1/scene/s/object/{obj}").json()["objects"][0]
    assert (
        o["name"] == "o" and o["transform"][0] == 1.0 and o["transform"] != T
    )  # the documented loss


def test_a_port_in_use_is_a_clear_error_not_a_traceback(
    aesel_process: Callable[..., AeselProcess], tmp_path: Path
) -> None:
    first = aesel_process()
    cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--ws-port", "0",
           "--udp-port", str(first.udp_port), "--data-dir", str(tmp_path / "other")]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr
