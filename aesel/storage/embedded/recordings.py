"""Recordings as files under ``<data_dir>/recordings`` (the embedded ``RecordingStore``).

Each recording is two files named by its id: ``<id>.json`` (id, scene, start time), written
once, and the record file, ``<id>.part`` while the recorder appends to it, renamed to
``<id>.rec`` when it stops. An append writes all its bytes to a file opened for appending, so
once it returns they are in the kernel and survive ``kill -9`` of the process; ``finish``
fsyncs. An append that fails (a full disk: a short write, then ``ENOSPC``) cuts the file back
to the size it had before the call and raises ``BackendUnavailable``, so the file only ever
holds whole appends and a retry of the same bytes follows the last one that succeeded; a
finish that fails can be called again. After a crash, ``recover_recordings`` (at start) cuts
each ``.part`` back to its last whole record and renames it. Single node only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

from aesel.errors import BackendUnavailable
from aesel.model import recording as rec
from aesel.storage.base import RecordingInfo

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T")


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data``, or ``OSError``: a short write (a disk filling up) is continued, and the
    next ``write`` says why it cannot go on."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n == 0:
            raise OSError(errno.ENOSPC, "write made no progress")
        view = view[n:]


def _cut(fd: int, end: int) -> None:
    """The file back to ``end`` bytes, if a failed append left more."""
    if os.fstat(fd).st_size != end:
        os.ftruncate(fd, end)


async def _io(what: str, call: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(call)
    except OSError as e:  # a full disk, mostly: the store is unavailable until it has room
        raise BackendUnavailable(f"cannot {what}: {e.strerror or e}") from e


class FileRecordings:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "recordings"
        self._open: dict[str, int] = {}  # id -> descriptor of its .part file
        self._end: dict[str, int] = {}  # id -> bytes in its .part after the last append

    def _path(self, id: str, suffix: str) -> Path | None:
        # ids are ours, but a URL can carry anything: never leave the directory
        return self.root / f"{id}{suffix}" if _ID.match(id) else None

    async def create_recording(self, info: RecordingInfo, first: bytes) -> None:
        meta, part = self._path(info.id, ".json"), self._path(info.id, ".part")
        if meta is None or part is None:
            raise ValueError(f"recording id {info.id!r} is not a plain name")

        def create() -> int:
            self.root.mkdir(parents=True, exist_ok=True)
            # the record file first: an id already taken fails here, before anything is written
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            try:
                doc = {"id": info.id, "scene": info.scene, "started": info.started}
                meta.write_bytes(orjson.dumps(doc))
                _write_all(fd, first)
            except OSError:
                os.close(fd)
                for path in (part, meta):  # a failed create leaves nothing behind
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
                raise
            return fd

        self._open[info.id] = await _io("create recording", create)
        self._end[info.id] = len(first)

    async def append_recording(self, id: str, data: bytes) -> None:
        fd, end = self._open[id], self._end[id]

        def append() -> None:
            try:
                _cut(fd, end)
                _write_all(fd, data)
            except OSError:
                with contextlib.suppress(OSError):  # else the next append or finish cuts it
                    os.ftruncate(fd, end)
                raise

        await _io("append to recording", append)
        self._end[id] = end + len(data)

    async def finish_recording(self, id: str) -> None:
        part, done = self._path(id, ".part"), self._path(id, ".rec")
        assert part is not None and done is not None
        fd = self._open.get(id)
        if fd is not None:  # else a finish that failed at the rename: redo that
            end = self._end[id]

            def sync() -> None:
                _cut(fd, end)
                os.fsync(fd)

            await _io("finish recording", sync)  # when it fails, nothing changed: call again
            del self._open[id], self._end[id]
            with contextlib.suppress(OSError):  # the descriptor is released whatever it says
                os.close(fd)
        await _io("finish recording", lambda: part.rename(done))

    def _info(self, meta: Path) -> RecordingInfo | None:
        try:
            doc = orjson.loads(meta.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        id = str(doc.get("id", ""))
        for suffix, active in ((".rec", False), (".part", True)):
            path = self._path(id, suffix)
            if path is not None and path.exists():
                return RecordingInfo(
                    id, str(doc["scene"]), int(doc["started"]), path.stat().st_size, active
                )
        return None

    async def recordings(self, scene: str | None = None) -> list[RecordingInfo]:
        def scan() -> list[RecordingInfo]:
            found = [self._info(m) for m in self.root.glob("*.json")] if self.root.exists() else []
            return sorted(
                (i for i in found if i is not None and (scene is None or i.scene == scene)),
                key=lambda i: (i.started, i.id),
            )

        return await asyncio.to_thread(scan)

    async def read_recording(self, id: str) -> bytes | None:
        for suffix in (".rec", ".part"):
            path = self._path(id, suffix)
            if path is None:
                return None
            try:
                return await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                continue
        return None

    async def delete_recording(self, id: str) -> bool:
        if id in self._open:
            await self.finish_recording(id)
        found = False
        for suffix in (".rec", ".part", ".json"):
            path = self._path(id, suffix)
            if path is not None and path.exists():
                await asyncio.to_thread(path.unlink, True)
                found = True
        return found

    async def recover_recordings(self) -> int:
        def recover() -> int:
            if not self.root.exists():
                return 0
            n = 0
            for part in self.root.glob("*.part"):
                if part.stem in self._open:
                    continue
                data = part.read_bytes()
                with part.open("r+b") as f:
                    f.truncate(rec.complete_prefix(data))
                    os.fsync(f.fileno())
                part.rename(part.with_suffix(".rec"))
                n += 1
            return n

        return await asyncio.to_thread(recover)

    async def close(self) -> None:
        for id in list(self._open):
            await self.finish_recording(id)
