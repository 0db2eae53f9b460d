"""A real ``aesel serve`` for the SDK's tests, on free ports that survive a restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One aesel node; ``restart`` brings it back on the same ports and data dir (new epoch)."""

    data_dir: Path
    args: tuple[str, ...] = ()
    http_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    udp_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "aesel", "serve", "--data-dir", str(self.data_dir),
               "--http-port", str(self.http_port), "--ws-port", str(self.ws_port),
               "--udp-port", str(self.udp_port), "--flush-interval", "0.05",
               *self.args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "aesel ready" not in line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"aesel did not start: {line!r} {err}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.communicate(timeout=20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "data")
    s.start()
    try:
        yield s
    finally:
        s.stop()


ADMIN_PASSWORD = "admin-pw-for-tests"


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "auth-data", ("--auth", "--admin-password", ADMIN_PASSWORD,
                                       "--jwt-secret", "x" * 64))  # fmt: skip
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def gcm_server(tmp_path: Path) -> Iterator[Server]:
    """A node run with ``--udp-security gcm``."""
    s = Server(tmp_path / "gcm-data", ("--udp-security", "gcm"))
    s.start()
    try:
        yield s
    finally:
        s.stop()
