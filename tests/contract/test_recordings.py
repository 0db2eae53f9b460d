"""The ``RecordingStore`` contract, on files (the embedded store) and on MongoDB (GridFS).

A "crash" here is a second store opened on the same files or database while the first one
never finished its recording, as after ``kill -9`` of the node (the process test is
``tests/integration/test_recordings.py``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

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
async def test_a_retried_append_is_not_written_twice(make: Callable[..., Any]) -> None:
    s = await make()
    await s.create_recording(info("d"), first("d"))
    await s.append_recording("d", events(1))
    await s._append("d", 1, events(1))  # the same part again: its answer was lost, say
    await s.finish_recording("d")
    assert await s.read_recording("d") == first("d") + events(1)
