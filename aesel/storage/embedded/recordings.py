"""Recordings as files under ``<data_dir>/recordings`` (the embedded ``RecordingStore``).

Each recording is two files named by its id: ``<id>.json`` (id, scene, start time), written
once, and the record file, ``<id>.part`` while the recorder appends to it, renamed to
``<id>.rec`` when it stops. An append is one ``write`` to a file opened for appending, so once
it returns the bytes are in the kernel and survive ``kill -9`` of the process; ``finish``
fsyncs. After a crash, ``recover_recordings`` (at start) cuts each ``.part`` back to its last
whole record and renames it. Single node only.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import orjson

from aesel.model import recording as rec
from aesel.storage.base import RecordingInfo

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FileRecordings:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "recordings"
        self._open: dict[str, int] = {}  # id -> descriptor of its .part file

    def _path(self, id: str, suffix: str) -> Path | None:
        # ids are ours, but a URL can carry anything: never leave the directory
        return self.root / f"{id}{suffix}" if _ID.match(id) else None

    async def create_recording(self, info: RecordingInfo, first: bytes) -> None:
        meta, part = self._path(info.id, ".json"), self._path(info.id, ".part")
        if meta is None or part is None:
            raise ValueError(f"recording id {info.id!r} is not a plain name")

        def create() -> int:
            self.root.mkdir(parents=True, exist_ok=True)
            doc = {"id": info.id, "scene": info.scene, "started": info.started}
            meta.write_bytes(orjson.dumps(doc))
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            os.write(fd, first)
            return fd

        self._open[info.id] = await asyncio.to_thread(create)

    async def append_recording(self, id: str, data: bytes) -> None:
        fd = self._open[id]
        await asyncio.to_thread(os.write, fd, data)

    async def finish_recording(self, id: str) -> None:
        fd = self._open.pop(id)
        part, done = self._path(id, ".part"), self._path(id, ".rec")
        assert part is not None and done is not None

        def finish() -> None:
            os.fsync(fd)
            os.close(fd)
            part.rename(done)

        await asyncio.to_thread(finish)

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
