"""``MongoRecordings``: the ``RecordingStore`` on MongoDB, finished recordings in GridFS.

Theory of operation. A GridFS file is written once (its chunks have one fixed size and the file
document comes last), so a recording that is still growing cannot be one: while the recorder
appends, each append is one document of ``recording_parts`` (``r`` the recording id, ``n`` its
sequence number, ``data`` the bytes), acknowledged by the server when the call returns, so it
survives a crash of the aesel process. ``finish_recording`` seals it: the parts, in order, are
uploaded as one file of the GridFS bucket ``recordings`` whose ``_id`` is the recording id, then
the recording is marked finished and its parts are deleted. Every step of sealing can be redone
(the file is replaced, the parts deleted again), so a crash or an outage in the middle leaves a
recording that the next seal finishes. Recovery after a crash (:meth:`recover_recordings`) cuts
a recording back to its last whole record, as the files do; a normal finish stores the bytes as
appended.

Appends are idempotent. The part number moves on only once the server acknowledged the part, so
the recorder's retry of an append that raised (MongoDB away, or a timeout after the write reached
the server) writes the same part again; writing part ``(r, n)`` replaces what is stored under
that number (an upsert, on the unique index over ``(r, n)``), and the recording's ``size`` is set
to the bytes appended so far, not incremented. A retried append is therefore stored once,
whether or not its first attempt landed.

The ``recordings`` collection holds one document per recording (``scene``, ``started``,
``size``, ``active`` and ``owner``, the node recording it). A node shares the store with the
others of a cluster, so :meth:`MongoRecordings.recover_recordings` (at start) seals only the
recordings that the same node (same ``owner``) left active: another node's active recording is
being written. A recording whose node never comes back stays active (listed, downloadable up to
its last append) until it is deleted.

Every call is bounded by the client timeout; driver errors become ``BackendUnavailable``
(:func:`aesel.storage.mongo.db.translated`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING

from aesel.model import recording as rec
from aesel.storage.base import RecordingInfo
from aesel.storage.mongo.db import Doc, MongoDb, translated

RECORDINGS, PARTS, BUCKET = "recordings", "recording_parts", "recordings"


def _info(d: Doc) -> RecordingInfo:
    return RecordingInfo(
        str(d["_id"]), str(d["scene"]), int(d["started"]), int(d["size"]), bool(d["active"])
    )


class MongoRecordings(MongoDb):
    """Recordings on MongoDB: appended as parts, sealed into GridFS (see the module docstring).

    ``owner`` names this node among those sharing the database: a restarted node recovers the
    recordings it left active, and only those.
    """

    def __init__(self, url: str, *, owner: str, timeout: float = 5.0) -> None:
        super().__init__(url, timeout=timeout)
        self.owner = owner
        # recording id -> (next part number, bytes appended), while recording
        self._next: dict[str, tuple[int, int]] = {}
        self._bucket: AsyncGridFSBucket | None = None

    @property
    def bucket(self) -> AsyncGridFSBucket:
        if self._bucket is None:
            self._bucket = AsyncGridFSBucket(self.db, bucket_name=BUCKET)
        return self._bucket

    async def _prepare(self) -> None:
        await self.col(PARTS).create_index([("r", ASCENDING), ("n", ASCENDING)], unique=True)
        await self.col(RECORDINGS).create_index([("scene", ASCENDING), ("started", ASCENDING)])
        await self.col(f"{BUCKET}.chunks").create_index(
            [("files_id", ASCENDING), ("n", ASCENDING)], unique=True
        )

    async def close(self) -> None:
        for id in list(self._next):
            with contextlib.suppress(Exception):  # the next start recovers it
                await self.finish_recording(id)
        self._bucket = None
        await super().close()

    async def _append(self, id: str, n: int, data: bytes, size: int) -> None:
        """Part ``n`` of ``id``, and ``size`` the recording's bytes with it; redoing it changes
        nothing (the part is replaced, the size set)."""
        with translated("append recording"):
            part = {"r": id, "n": n, "data": data}
            await self.col(PARTS).replace_one({"r": id, "n": n}, part, upsert=True)
            await self.col(RECORDINGS).update_one({"_id": id}, {"$set": {"size": size}})

    async def create_recording(self, info: RecordingInfo, first: bytes) -> None:
        doc = {"_id": info.id, "scene": info.scene, "started": info.started, "size": 0,
               "active": True, "owner": self.owner}  # fmt: skip
        with translated("create recording"):
            await self.col(RECORDINGS).insert_one(doc)
        self._next[info.id] = (0, 0)
        await self.append_recording(info.id, first)

    async def append_recording(self, id: str, data: bytes) -> None:
        n, size = self._next[id]
        await self._append(id, n, data, size + len(data))
        self._next[id] = (n + 1, size + len(data))  # after the call: a retry rewrites part n

    async def _parts(self, id: str) -> bytes:
        with translated("read recording"):
            cursor = self.col(PARTS).find({"r": id}, {"data": 1}).sort("n", ASCENDING)
            return b"".join([bytes(d["data"]) async for d in cursor])

    async def _seal(self, id: str, *, trim: bool) -> None:
        """Parts to one GridFS file (cut to its last whole record when ``trim``); redoable at
        every step."""
        data = await self._parts(id)
        if trim:
            data = data[: rec.complete_prefix(data)]
        with translated("finish recording"):
            with contextlib.suppress(NoFile):
                await self.bucket.delete(id)  # a seal cut short before
            await self.bucket.upload_from_stream_with_id(id, id, data)
            await self.col(RECORDINGS).update_one(
                {"_id": id}, {"$set": {"active": False, "size": len(data)}}
            )
            await self.col(PARTS).delete_many({"r": id})

    async def finish_recording(self, id: str) -> None:
        await self._seal(id, trim=False)
        self._next.pop(id, None)

    async def recordings(self, scene: str | None = None) -> list[RecordingInfo]:
        q: dict[str, Any] = {} if scene is None else {"scene": scene}
        with translated("list recordings"):
            cursor = self.col(RECORDINGS).find(q).sort([("started", 1), ("_id", 1)])
            return [_info(d) async for d in cursor]

    async def read_recording(self, id: str) -> bytes | None:
        with translated("read recording"):
            found = await self.col(RECORDINGS).find_one({"_id": id})
        if found is None:
            return None
        if found["active"]:
            return await self._parts(id)
        with translated("read recording"):
            try:
                out = await self.bucket.open_download_stream(id)
            except NoFile:
                return None
            try:
                return bytes(await out.read())
            finally:
                await out.close()

    async def delete_recording(self, id: str) -> bool:
        self._next.pop(id, None)
        with translated("delete recording"):
            found = (await self.col(RECORDINGS).delete_one({"_id": id})).deleted_count > 0
            await self.col(PARTS).delete_many({"r": id})
            with contextlib.suppress(NoFile):
                await self.bucket.delete(id)
                found = True
        return found

    async def recover_recordings(self) -> int:
        with translated("recover recordings"):
            left = [
                d["_id"]
                async for d in self.col(RECORDINGS).find(
                    {"active": True, "owner": self.owner}, {"_id": 1}
                )
                if d["_id"] not in self._next
            ]
        for id in left:
            await self._seal(id, trim=True)
        return len(left)
