"""A recording on a node whose file store fails under it (a full disk, a failing fsync): every
event is still recorded, in order, once; a stop that fails can be repeated; past the memory cap
events are dropped and counted. The faults are injected at ``os.write`` and ``os.fsync`` on the
recording's own descriptor. (MongoDB away under a recording: test_mongo_faults.py.)"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aesel.app import Node
from aesel.model import recording as rec
from aesel.storage.embedded.recordings import FileRecordings
from tests.integration.test_recordings import at, scene


class Fault:
    """``os.<name>`` failing on one descriptor, as a full disk does, while ``on`` (or for its
    first ``times`` calls): ``torn`` writes half the bytes then raises ENOSPC, ``short`` writes
    half and returns that count (the next write raises), ``eio`` raises EIO."""

    def __init__(
        self, mp: pytest.MonkeyPatch, name: str, fd: int, how: str, times: int = 1 << 30
    ) -> None:
        self.fd, self.how, self.left, self.calls, self.on = fd, how, times, 0, True
        self.real: Callable[..., Any] = getattr(os, name)
        mp.setattr(os, name, self.call)

    def call(self, fd: int, *args: Any) -> Any:
        if fd != self.fd or not self.on or self.left <= 0:
            return self.real(fd, *args)
        self.left -= 1
        self.calls += 1
        if self.how == "eio":
            raise OSError(errno.EIO, "Input/output error")
        data = bytes(args[0])
        if self.how == "short" and self.calls % 2 == 1:
            return self.real(fd, data[: len(data) // 2])
        if self.how == "torn":
            self.real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def recording(http: httpx.AsyncClient, key: str) -> tuple[str, str]:
    """A scene ``key`` with an object at x = 0, being recorded; returns (recording, object)."""
    await scene(http, key)
    rid = (await http.post(f"/v1/scene/{key}/recordings")).json()["id"]
    made = await http.post(f"/v1/scene/{key}/object", json={"objects": [{"transform": at(0)}]})
    return rid, made.json()["objects"][0]["key"]


async def move(http: httpx.AsyncClient, key: str, obj: str, xs: range) -> None:
    for x in xs:
        r = await http.post(
            f"/v1/scene/{key}/object/{obj}", json={"objects": [{"transform": at(x)}]}
        )
        assert r.status_code == 200, r.text


async def listed(http: httpx.AsyncClient, key: str, rid: str) -> dict[str, Any]:
    found = (await http.get(f"/v1/scene/{key}/recordings")).json()["recordings"]
    return next(x for x in found if x["id"] == rid)


async def recorded(http: httpx.AsyncClient, key: str, rid: str) -> list[float]:
    """The x of every event in the downloaded recording (decoded whole: replayable)."""
    _, entries = rec.decode((await http.get(f"/v1/scene/{key}/recordings/{rid}")).content)
    return [e.payload["transform"][3] for e in entries]


def fd_of(node: Node, rid: str) -> int:
    store = node.recording_store
    assert isinstance(store, FileRecordings)
    return store._open[rid]


@pytest.mark.parametrize("how", ["torn", "short"])
async def test_a_full_disk_under_a_recording_loses_no_event(
    node: Node, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    rid, obj = await recording(http, "full")
    await move(http, "full", obj, range(1, 6))
    fault = Fault(monkeypatch, "write", fd_of(node, rid), how, times=1 if how == "torn" else 2)
    await move(http, "full", obj, range(6, 11))
    await until(lambda: fault.left == 0)  # a flush failed on the full disk
    await move(http, "full", obj, range(11, 16))
    assert (await listed(http, "full", rid))["events"] == 16
    r = await http.post(f"/v1/scene/full/recordings/{rid}/stop")
    assert r.status_code == 200 and r.json()["recording"] is False, r.text
    assert await recorded(http, "full", rid) == list(range(16))
    assert node.services.drops["recording_overflow"] == 0


async def test_a_stop_that_fails_ends_the_recording_and_can_be_repeated(
    node: Node, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid, obj = await recording(http, "stop")
    await move(http, "stop", obj, range(1, 4))
    fsync = Fault(monkeypatch, "fsync", fd_of(node, rid), "eio")
    for _ in range(2):
        r = await http.post(f"/v1/scene/stop/recordings/{rid}/stop")
        assert r.status_code == 503 and r.json()["err_code"] == 101, r.text
    await move(http, "stop", obj, range(4, 6))  # after the stop: not recorded
    found = await listed(http, "stop", rid)
    assert found["recording"] is True and found["events"] == 4  # stopping, its events kept
    fsync.on = False  # the disk works again
    r = await http.post(f"/v1/scene/stop/recordings/{rid}/stop")
    assert r.status_code == 200 and r.json()["recording"] is False, r.text
    assert await recorded(http, "stop", rid) == [0, 1, 2, 3]


async def test_past_the_memory_cap_a_recording_drops_and_counts(
    node: Node, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scene(http, "cap")
    rid = (await http.post("/v1/scene/cap/recordings")).json()["id"]
    node.recordings.recorder.max_pending = 2000  # some ten events of the ones below
    fault = Fault(monkeypatch, "write", fd_of(node, rid), "torn")  # the disk is full
    made = await http.post("/v1/scene/cap/object", json={"objects": [{"transform": at(0)}]})
    await move(http, "cap", made.json()["objects"][0]["key"], range(1, 30))
    await until(lambda: fault.calls > 0)  # a flush failed on the full disk
    drops = node.services.drops["recording_overflow"]
    events = (await listed(http, "cap", rid))["events"]
    assert drops > 0 and events + drops == 30
    metrics = (await http.get("/metrics")).text
    assert f'aesel_drops_total{{reason="recording_overflow"}} {float(drops)}' in metrics
    fault.on = False
    r = await http.post(f"/v1/scene/cap/recordings/{rid}/stop")
    assert r.status_code == 200, r.text
    assert await recorded(http, "cap", rid) == list(range(events))  # the newest dropped
