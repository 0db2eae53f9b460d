"""The repository README's quick start, run as written against a real ``aesel serve``.

Only the ports change (the node's free ports, and a UDP port of the test for the registered
device instead of 9000), ``make run`` is the test's server, and the watcher's output goes to a
file the script waits on instead of the terminal.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def quick_start_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start uses curl")
def test_readme_quick_start_runs_as_written(server: Server, tmp_path: Path) -> None:
    run, setup, watch, send = quick_start_blocks()
    assert run.strip() == "make run"
    assert watch.rstrip().endswith("&") and "9000" in setup
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind(("127.0.0.1", 0))
        device.settimeout(10)
        port = device.getsockname()[1]
        out = tmp_path / "watcher.out"
        script = "\n".join([
            "set -e",
            setup,
            watch.rstrip()[:-1] + f'> "{out}" 2>&1 &',
            f'for i in $(seq 200); do grep -q Snapshot "{out}" && break; sleep 0.05; done',
            send,
            f'for i in $(seq 200); do grep -q Event "{out}" && break; sleep 0.05; done',
            "kill %1",
        ])  # fmt: skip
        script = (script.replace(":8080", f":{server.http_port}")
                  .replace(":8081", f":{server.ws_port}").replace("8762", str(server.udp_port))
                  .replace("9000", str(port)))  # fmt: skip
        done = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        datagram, _ = device.recvfrom(65536)
    watched = out.read_text()
    assert "Snapshot(scene='demo'" in watched and "name': 'cube'" in watched
    event = watched.split("Event(", 1)[1]
    assert "msg_type=1" in event and "transform=(1.0, 0.0, 0.0, 2.0, 0.0, 1.0, 0.0, 1.0" in event
    assert b'"transform":[1.0,0.0,0.0,2.0' in datagram.replace(b" ", b"")
    r = httpx.get(f"{server.url}/viewer/?scene=demo")
    assert r.status_code == 200 and "aesel viewer" in r.text
