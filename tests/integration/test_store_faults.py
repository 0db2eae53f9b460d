"""Store faults against the real ``aesel serve`` process: files turning unwritable while it
runs, a damaged, empty or unwritable store at start, a full disk during an upload, a crash
between an upload's rename and its metadata commit (issue 13: H-a, L7/M-b, L2, L3)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aesel.app import Node
from tests.conftest import AeselProcess, stop_aesel

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def serve(data_dir: Path, **popen: Any) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
           "--ws-port", "0", "--data-dir", str(data_dir)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def refused_start(data_dir: Path) -> str:
    """Start aesel on ``data_dir``, expecting exit 1; returns its one error line."""
    p = serve(data_dir)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "aesel ready" not in out, (p.returncode, out, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(lines) == 1, err
    return lines[0]


def has_chattr() -> bool:
    return os.geteuid() == 0 and shutil.which("chattr") is not None


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Any]:
    """``immutable(path)`` makes a tree immutable (``chattr -R +i``); undone at teardown."""
    if not has_chattr():
        pytest.skip("needs root and chattr")
    done: list[Path] = []

    def make(path: Path) -> None:
        subprocess.run(["chattr", "-R", "+i", str(path)], check=True)
        done.append(path)

    yield make
    for path in done:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=True)


def test_store_files_turning_unwritable_are_a_503_and_streaming_goes_on(
    aesel_process: Any, immutable: Any, tmp_path: Path, device_socket: socket.socket
) -> None:
    p: AeselProcess = aesel_process()
    with httpx.Client(base_url=p.url, timeout=10) as c:
        c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "o"}]})
        key = r.json()["objects"][0]["key"]
        port = device_socket.getsockname()[1]
        body = {"scenes": [{"key": "s", "devices": [{"key": "d", "hostname": "127.0.0.1",
                                                     "port": port}]}]}  # fmt: skip
        assert c.post("/v1/scene/s/register", json=body).status_code == 200
        immutable(p.data_dir)
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "late"}]})
        assert r.status_code == 503, r.text  # before: SIGBUS, the process died
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "down", health.text
        assert "aesel.db" in health.json()["reason"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            event = {"msg_type": 1, "key": key, "scene": "s", "transform": at(5.0)}
            s.sendto(orjson.dumps(event), ("127.0.0.1", p.udp_port))
        got = orjson.loads(device_socket.recv(65536))
        assert got["transform"] == at(5.0)  # streaming goes on without the store
        assert c.get(f"/v1/scene/s/object/{key}").status_code == 200
        assert p.proc.poll() is None
        subprocess.run(["chattr", "-R", "-i", str(p.data_dir)], check=True)
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "again"}]})
        assert r.status_code == 200, r.text
        assert c.get("/health").status_code == 200
    err = stop_aesel(p)
    assert "Traceback" not in err, err


def test_an_empty_store_file_is_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "aesel.db").write_bytes(b"")
    line = refused_start(data)
    assert "aesel.db" in line and "empty" in line, line
    assert (data / "aesel.db").stat().st_size == 0  # left for the operator, untouched


def test_a_store_damaged_in_the_middle_is_refused_at_start(aesel_process: Any) -> None:
    p: AeselProcess = aesel_process()
    with httpx.Client(base_url=p.url, timeout=30) as c:
        c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        objs = [{"name": f"o{i}", "transform": at(float(i))} for i in range(1000)]
        assert c.post("/v1/scene/s/object", json={"objects": objs}).status_code == 200
    stop_aesel(p)
    db = p.data_dir / "aesel.db"
    size = db.stat().st_size
    assert size > 64 * 1024
    with db.open("r+b") as f:
        f.seek((size // 2) // 4096 * 4096)
        f.write(os.urandom(4096))
    line = refused_start(p.data_dir)  # before: ready and healthy, then 503s on reads
    assert "cannot open" in line and "aesel.db" in line, line
    assert "integrity check failed" in line or "malformed" in line, line


def test_an_unwritable_data_dir_is_refused_at_start(aesel_process: Any, immutable: Any) -> None:
    p: AeselProcess = aesel_process()
    stop_aesel(p)
    immutable(p.data_dir)
    line = refused_start(p.data_dir)  # before: ready, then every write answered 503
    assert "cannot start" in line and "aesel.db" in line, line


def test_an_upload_on_a_full_disk_is_a_503_and_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    limit = 4 << 20  # files may not grow past 4 MiB: what a full disk looks like to a writer

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    p = serve(data, preexec_fn=small_files)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "aesel ready" in line, line
        url = "http://127.0.0.1:" + line.split("http=")[1].split()[0].split(":")[1]
        with httpx.Client(base_url=url, timeout=30) as c:
            files = {"file": ("big.bin", os.urandom(8 << 20), "application/octet-stream")}
            r = c.post("/v1/asset", files=files, params={"file_type": "bin"})
            assert r.status_code == 503, r.text  # before: 500 (close() hid the 503)
            assert r.json()["err_msg"] == "backend unavailable"
            assert [f.name for f in (data / "assets").iterdir()] == []
            files = {"file": ("small.bin", b"x" * 1000, "application/octet-stream")}
            r = c.post("/v1/asset", files=files, params={"file_type": "bin"})
            assert r.status_code == 200, r.text
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    assert "Traceback" not in err, err


def test_an_orphan_blob_is_collected_at_start(aesel_process: Any) -> None:
    p: AeselProcess = aesel_process()
    with httpx.Client(base_url=p.url, timeout=10) as c:
        files = {"file": ("a.bin", b"kept", "application/octet-stream")}
        r = c.post("/v1/asset", files=files, params={"file_type": "bin"})
        assert r.status_code == 200, r.text
    stop_aesel(p)
    assets = p.data_dir / "assets"
    kept = [f.name for f in assets.iterdir()]
    (assets / "0123456789abcdef01234567").write_bytes(b"renamed, never committed")
    p = aesel_process(data_dir=p.data_dir)
    assert sorted(f.name for f in assets.iterdir()) == kept  # before: the orphan stayed
    stop_aesel(p)


async def test_health_is_503_with_the_reason_when_the_store_is_closed(
    node: Node, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/health")).json() == {"status": "up"}
    await node.store.close()
    r = await http.get("/health")
    assert r.status_code == 503 and r.json() == {"status": "down", "reason": "aesel.db is closed"}


def test_a_stored_document_that_no_longer_parses_is_a_503_not_a_500(aesel_process: Any) -> None:
    p: AeselProcess = aesel_process()
    with httpx.Client(base_url=p.url, timeout=10) as c:
        c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "o", "transform": at(1.0)}]})
        key = r.json()["objects"][0]["key"]
    stop_aesel(p)
    db = sqlite3.connect(p.data_dir / "aesel.db")  # what an older version stored for NaN
    (doc,) = db.execute("SELECT doc FROM objects WHERE key=?", (key,)).fetchone()
    damaged = orjson.loads(doc)
    damaged["transform"][0] = None
    db.execute("UPDATE objects SET doc=? WHERE key=?", (orjson.dumps(damaged), key))
    db.commit()
    db.close()
    p = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p.url, timeout=10) as c:
        for r in (
            c.get(f"/v1/scene/s/object/{key}"),
            c.post("/v1/scene/s/object/query", json={"objects": [{"name": "o"}]}),
            c.post(f"/v1/scene/s/object/{key}", json={"objects": [{"name": "x"}]}),
            c.delete(f"/v1/scene/s/object/{key}"),
        ):
            assert r.status_code == 503, (r.request.method, r.request.url, r.status_code, r.text)
    err = stop_aesel(p)
    assert "Traceback" not in err and "does not parse" in err, err
