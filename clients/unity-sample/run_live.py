"""Run the compiled console program against a real ``aesel serve`` on free ports."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def main(exe: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "aesel", "serve", "--data-dir", str(Path(tmp) / "data"),
               "--http-port", "0", "--ws-port", "0", "--udp-port", "0"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline().split()  # aesel ready http=H:P udp=H:P ws=H:P
            ports = dict(part.split("=", 1) for part in ready[2:])
            http, udp, ws = ports["http"], ports["udp"], ports["ws"]
            host, udp_port = udp.rsplit(":", 1)
            run = subprocess.run(["mono", exe, f"http://{http}", f"ws://{ws}/", host, udp_port],
                                 timeout=60)  # fmt: skip
            return run.returncode
        finally:
            proc.terminate()
            proc.communicate(timeout=20)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
