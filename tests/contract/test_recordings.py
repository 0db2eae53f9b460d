"""The ``RecordingStore`` contract, on files (the embedded store) and on MongoDB (GridFS).

A "crash" here is a second store opened on the same files or database while the first one
never finished its recording, as after ``kill -9`` of the node (the process test is
``tests/integration/test_recordings.py``).
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import NetworkTimeout

from aesel.errors import BackendUnavailable
from aesel.model import recording as rec
from aesel.storage.base import RecordingInfo
from tests.contract.conftest import EMBEDDED_OR_MONGO
from tests.engines import drop_database, mongo_url


@pytest.fixture(params=EMBEDDED_OR_MONGO)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Opens a RecordingStore on one shared place (a data dir, or a Mongo database)."""
    opened: list[Any] = []
    url = mongo_url(request.getfixturevalue("engines")) if request.param == "mongo" else ""

    async def open_store(owner: str = "node-a") -> Any:
        if request.param == "embedded":
            from aesel.storage.embedded.recordings import FileRecordings

            files = FileRecordings(tmp_path)
            opened.append(files)
            return files
        from aesel.storage.mongo.recordings import MongoRecordings

        s = MongoRecordings(url, owner=owner)
        await s.open()
        opened.append(s)
        return s

    yield open_store
    for s in opened:  # what a crashed store left active stays active
        if request.param == "embedded":
            for fd in s._open.values():
                os.close(fd)
            continue
        s._next.clear()
        await s.close()
    if url:
        await drop_database(url)


def info(id: str, scene: str = "s", started: int = 1) -> RecordingInfo:
    return RecordingInfo(id, scene, started, 0, True)


def events(n: int, start: int = 0) -> bytes:
    return b"".join(rec.event(t, {"msg_type": 1, "key": "k", "t": t}) for t in range(start, n))


def first(id: str, scene: str = "s", started: int = 1) -> bytes:
    return rec.start(rec.Meta(id, scene, started))


async def test_record_finish_read_list_and_delete(make: Callable[..., Any]) -> None:
    s = await make()
    await s.create_recording(info("r1", "s", 5), first("r1", "s", 5))
    await s.append_recording("r1", events(3))
    [live] = await s.recordings("s")
    assert live.id == "r1" and live.active and live.started == 5
    assert await s.read_recording("r1") == first("r1", "s", 5) + events(3)  # readable as it grows
    await s.append_recording("r1", events(6, 3))
    await s.finish_recording("r1")
    data = first("r1", "s", 5) + events(6)
    assert await s.read_recording("r1") == data
    meta, entries = rec.decode(data)
    assert meta.id == "r1" and len(entries) == 6
    [done] = await s.recordings("s")
    assert not done.active and done.size == len(data)

    await s.create_recording(info("r0", "s", 2), first("r0", "s", 2))
    await s.finish_recording("r0")
    await s.create_recording(info("r2", "other", 9), first("r2", "other", 9))
    await s.finish_recording("r2")
    assert [i.id for i in await s.recordings("s")] == ["r0", "r1"]  # oldest first
    assert [i.id for i in await s.recordings()] == ["r0", "r1", "r2"]
    assert await s.read_recording("nope") is None

    assert await s.delete_recording("r1") is True
    assert await s.read_recording("r1") is None
    assert await s.delete_recording("r1") is False
    assert [i.id for i in await s.recordings()] == ["r0", "r2"]


async def test_a_crash_keeps_every_append_and_recovery_cuts_a_torn_tail(
    make: Callable[..., Any],
) -> None:
    s = await make()
    await s.create_recording(info("c"), first("c"))
    await s.append_recording("c", events(4))
    torn = events(5, 4)
    await s.append_recording("c", torn[:9])  # the crash tore this write
    # ... the node dies here; a new one starts on the same store
    again = await make()
    assert await again.recover_recordings() == 1
    [i] = await again.recordings()
    assert not i.active
    data = await again.read_recording("c")
    assert data == first("c") + events(4) and i.size == len(data)
    assert len(rec.decode(data)[1]) == 4
    assert await again.recover_recordings() == 0  # once


# files are single node, and a file append that raised did not happen: MongoDB only
MONGO_ONLY = pytest.mark.parametrize("make", [EMBEDDED_OR_MONGO[1]], indirect=True)


@MONGO_ONLY
async def test_a_restarted_node_leaves_another_nodes_recording_alone(
    make: Callable[..., Any],
) -> None:
    a = await make("node-a")
    await a.create_recording(info("live"), first("live"))
    b = await make("node-b")
    assert await b.recover_recordings() == 0
    await a.append_recording("live", events(2))
    await a.finish_recording("live")
    assert await b.read_recording("live") == first("live") + events(2)


@MONGO_ONLY
async def test_writing_the_same_part_twice_stores_it_once(make: Callable[..., Any]) -> None:
    s = await make()
    await s.create_recording(info("d"), first("d"))
    size = len(first("d")) + len(events(1))
    for _ in range(2):  # the same part again: its answer was lost, say
        await s._append("d", 1, events(1), size)
    [live] = await s.recordings()
    assert live.size == size
    await s.finish_recording("d")
    assert await s.read_recording("d") == first("d") + events(1)


class AnswerLost:
    """A collection whose first write of a part reaches the server, and whose answer does not
    reach the client (a timeout after the write)."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.lost = False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.col, name)
        if name not in ("insert_one", "replace_one", "update_one") or self.lost:
            return real

        async def write(*args: Any, **kw: Any) -> Any:
            await real(*args, **kw)
            self.lost = True
            raise NetworkTimeout("timed out")

        return write


@MONGO_ONLY
async def test_an_append_retried_after_its_answer_was_lost_is_stored_once(
    make: Callable[..., Any],
) -> None:
    from aesel.storage.mongo.recordings import PARTS

    s = await make()
    await s.create_recording(info("t"), first("t"))
    parts, col = AnswerLost(s.col(PARTS)), s.col
    s.col = lambda name: parts if name == PARTS else col(name)
    with pytest.raises(BackendUnavailable):
        await s.append_recording("t", events(2))  # it landed; the recorder cannot know
    assert parts.lost
    await s.append_recording("t", events(2))  # the recorder's retry: the same bytes
    await s.append_recording("t", events(4, 2))
    data = first("t") + events(4)
    [live] = await s.recordings()
    assert await s.read_recording("t") == data and live.size == len(data)
    await s.finish_recording("t")
    assert await s.read_recording("t") == data


# a full disk, at the lowest point: the os.write calls of the file store
FILES_ONLY = pytest.mark.parametrize("make", [EMBEDDED_OR_MONGO[0]], indirect=True)


class FullDisk:
    """``os.write`` on one descriptor, failing once as a disk that fills up does: ``torn``
    writes half the bytes and raises ENOSPC; ``short`` writes half, returns that count, and the
    next write raises ENOSPC."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fd: int, how: str) -> None:
        self.fd, self.how, self.calls = fd, how, 0
        self.real = os.write
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd: int, data: Any) -> int:
        if fd != self.fd or self.calls >= (1 if self.how == "torn" else 2):
            return self.real(fd, data)
        self.calls += 1
        if self.calls == 1:
            n = self.real(fd, bytes(data)[: len(data) // 2])
            if self.how == "short":
                return n
        raise OSError(errno.ENOSPC, "No space left on device")


@FILES_ONLY
@pytest.mark.parametrize("how", ["torn", "short"])
async def test_a_failed_append_leaves_the_file_as_it_was(
    make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    s = await make()
    await s.create_recording(info("f"), first("f"))
    await s.append_recording("f", events(2))
    before = await s.read_recording("f")
    disk = FullDisk(monkeypatch, s._open["f"], how)
    with pytest.raises(BackendUnavailable):
        await s.append_recording("f", events(5, 2))
    assert disk.calls == (1 if how == "torn" else 2)
    assert await s.read_recording("f") == before  # not a torn record in the middle
    await s.append_recording("f", events(5, 2))  # the retry, once there is room
    await s.append_recording("f", events(6, 5))
    await s.finish_recording("f")
    data = await s.read_recording("f")
    assert data == first("f") + events(6)
    assert [e.payload["t"] for e in rec.decode(data)[1]] == list(range(6))


@FILES_ONLY
async def test_a_failed_create_leaves_nothing(
    make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = await make()
    real = os.write

    def full(fd: int, data: Any) -> int:
        real(fd, bytes(data)[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BackendUnavailable):
        await s.create_recording(info("g"), first("g"))
    monkeypatch.undo()
    assert await s.recordings() == [] and list((tmp_path / "recordings").iterdir()) == []
    await s.create_recording(info("g"), first("g"))  # the id was not taken
    await s.finish_recording("g")
    assert await s.read_recording("g") == first("g")


@FILES_ONLY
async def test_a_failed_finish_can_be_called_again(
    make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await make()
    await s.create_recording(info("h"), first("h"))
    await s.append_recording("h", events(3))

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(BackendUnavailable):
        await s.finish_recording("h")
    monkeypatch.undo()
    [i] = await s.recordings()
    assert i.active
    await s.finish_recording("h")
    [i] = await s.recordings()
    assert not i.active and await s.read_recording("h") == first("h") + events(3)
