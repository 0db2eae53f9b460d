"""Peak memory of the server while a large asset is uploaded and downloaded.

Starts a real ``aesel serve`` subprocess on a temporary data directory, uploads SIZE bytes
(default 1 GiB) as a multipart ``POST /v1/asset``, then downloads it with ``GET /v1/asset/{id}``,
checking the SHA-256 both ways. The client streams too (the multipart body is generated on the
fly), so only the server's memory is measured: its peak resident set (``VmHWM`` in
``/proc/<pid>/status``, Linux) before and after each phase.

Usage: ``python bench/asset_memory.py [--size-mb 1024]``. Not a test; it prints a report.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CHUNK = 1 << 20
BOUNDARY = "aeselbenchboundary7d3f"


def status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else -1


def body(size: int, digest: hashlib._Hash) -> Iterator[bytes]:
    yield (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="asset size in MiB")
    args = parser.parse_args()
    size = args.size_mb << 20
    with tempfile.TemporaryDirectory(prefix="aesel-bench-") as tmp:
        cmd = [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
               "--ws-port", "0", "--data-dir", str(Path(tmp) / "data"),
               "--max-asset-size", str(size + CHUNK),
               "--log-level", "warning"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            m = re.search(r"http=[\d.]+:(\d+)", line)
            if not m:
                raise SystemExit(f"aesel did not start: {line!r}")
            url = f"http://127.0.0.1:{m.group(1)}"
            idle = status_kib(proc.pid, "VmRSS")
            print(
                f"server pid {proc.pid}, idle RSS {idle / 1024:.1f} MiB, asset {args.size_mb} MiB"
            )

            with httpx.Client(base_url=url, timeout=600) as client:
                sent = hashlib.sha256()
                t0 = time.perf_counter()
                r = client.post(
                    "/v1/asset",
                    content=body(size, sent),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                    params={"content-type": "application/octet-stream", "file-type": "bin"},
                )
                up = time.perf_counter() - t0
                r.raise_for_status()
                key = r.text
                peak_up = status_kib(proc.pid, "VmHWM")
                print(
                    f"upload   {up:6.1f} s  {args.size_mb / up:7.1f} MiB/s  "
                    f"peak RSS so far {peak_up / 1024:.1f} MiB"
                )

                got = hashlib.sha256()
                n = 0
                t0 = time.perf_counter()
                with client.stream("GET", f"/v1/asset/{key}") as resp:
                    resp.raise_for_status()
                    for chunk in resp.iter_bytes(CHUNK):
                        got.update(chunk)
                        n += len(chunk)
                down = time.perf_counter() - t0
                peak = status_kib(proc.pid, "VmHWM")
                print(
                    f"download {down:6.1f} s  {args.size_mb / down:7.1f} MiB/s  "
                    f"peak RSS so far {peak / 1024:.1f} MiB"
                )
            ok = n == size and got.digest() == sent.digest()
            growth = (peak - idle) / 1024
            print(
                f"bytes intact: {ok}; peak RSS of the server: {peak / 1024:.1f} MiB "
                f"(idle {idle / 1024:.1f} MiB, growth {growth:.1f} MiB)"
            )
            if not ok:
                raise SystemExit("downloaded bytes differ from the upload")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
