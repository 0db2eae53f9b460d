"""The Recorder against a store that fails: nothing acknowledged is lost, a failed append is
retried with the same bytes before anything newer, the memory held is bounded, and a stop that
fails ends the recording and finishes it later (a fake store; the files and MongoDB under a real
node are tests/integration/test_recording_faults.py and test_mongo_faults.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest

from aesel.errors import BackendUnavailable, NotFound
from aesel.model import recording as rec
from aesel.model.event import Event
from aesel.services.policy import OPEN, Action, Principal
from aesel.services.recordings import Recorder
from aesel.services.scenes import SceneService
from aesel.storage.base import RecordingInfo


class FakeStore:
    """The recording calls of a store, in memory; ``fail`` makes every write raise as a store
    that is away does. Records each append it is given, failed ones too."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.active: dict[str, bool] = {}
        self.scene: dict[str, str] = {}
        self.appends: list[tuple[bytes, bool]] = []  # (data, acknowledged)
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise BackendUnavailable("mongodb append recording: connection refused")

    async def create_recording(self, info: RecordingInfo, first: bytes) -> None:
        self._check()
        self.data[info.id], self.active[info.id], self.scene[info.id] = first, True, info.scene

    async def append_recording(self, id: str, data: bytes) -> None:
        self.appends.append((data, not self.fail))
        self._check()
        self.data[id] += data

    async def finish_recording(self, id: str) -> None:
        self._check()
        self.active[id] = False

    async def recordings(self, scene: str | None = None) -> list[RecordingInfo]:
        self._check()
        return [
            RecordingInfo(id, self.scene[id], 0, len(self.data[id]), self.active[id])
            for id in self.data
            if scene in (None, self.scene[id])
        ]

    async def read_recording(self, id: str) -> bytes | None:
        return self.data.get(id)


class Scenes:
    async def get(self, key: str, who: Principal, action: Action = Action.READ) -> None:
        return None


def recorder(store: FakeStore, **kw: Any) -> tuple[Recorder, Counter[str]]:
    drops: Counter[str] = Counter()
    r = Recorder(store, cast(SceneService, Scenes()), flush_interval=3600, drops=drops, **kw)
    return r, drops


def update(x: int) -> Event:
    return Event("s", 1, "k", {"msg_type": 1, "key": "k", "x": x})


def xs(store: FakeStore, id: str) -> list[int]:
    return [e.payload["x"] for e in rec.decode(store.data[id])[1]]


async def test_a_failed_append_is_retried_with_the_same_bytes_before_newer_ones() -> None:
    store = FakeStore()
    r, _ = recorder(store)
    info = await r.start("s", OPEN)
    for x in range(3):
        r.on_event(update(x))
    store.fail = True
    await r.flush()  # fails: the store is away
    await r.flush()  # still away: the same bytes are tried again
    for x in range(3, 5):
        r.on_event(update(x))
    store.fail = False
    await r.flush()
    tried = [data for data, _ in store.appends]
    assert tried[0] == tried[1] == tried[2]  # three tries of the first chunk, unchanged
    assert [ok for _, ok in store.appends] == [False, False, True, True]
    assert xs(store, info.id) == [0, 1, 2, 3, 4] and r.events(info.id) == 5


async def test_past_the_cap_new_events_are_dropped_and_counted() -> None:
    store = FakeStore()
    size = len(rec.event(0, update(0).payload))
    r, drops = recorder(store, max_pending=3 * size)
    info = await r.start("s", OPEN)
    store.fail = True
    r.on_event(update(0))
    await r.flush()
    for x in range(1, 6):
        r.on_event(update(x))
    assert drops["recording_overflow"] == 3 and r.events(info.id) == 3
    store.fail = False
    await r.flush()
    r.on_event(update(6))  # room again once the store took the rest
    await r.stop("s", info.id, OPEN)
    assert xs(store, info.id) == [0, 1, 2, 6] and drops["recording_overflow"] == 3


async def test_a_stop_that_fails_ends_the_recording_and_is_finished_later() -> None:
    store = FakeStore()
    r, _ = recorder(store)
    info = await r.start("s", OPEN)
    r.on_event(update(0))
    store.fail = True
    with pytest.raises(BackendUnavailable):
        await r.stop("s", info.id, OPEN)
    r.on_event(update(1))  # after the stop: not recorded
    assert not r.recording("s") and r.events(info.id) == 1
    await r.flush()  # still away: kept
    store.fail = False
    await r.flush()  # the flusher finishes it
    assert r.events(info.id) is None and store.active[info.id] is False
    assert xs(store, info.id) == [0]
    assert (await r.stop("s", info.id, OPEN)).active is False  # stopping again: harmless


async def test_a_failed_stop_can_be_repeated() -> None:
    store = FakeStore()
    r, _ = recorder(store)
    info = await r.start("s", OPEN)
    r.on_event(update(0))
    store.fail = True
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            await r.stop("s", info.id, OPEN)
    store.fail = False
    assert (await r.stop("s", info.id, OPEN)).active is False
    assert xs(store, info.id) == [0]


async def test_close_with_the_store_away_logs_what_is_lost_and_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    r, _ = recorder(store)
    info = await r.start("s", OPEN)
    r.on_event(update(0))
    store.fail = True
    await r.close()
    assert f"recording {info.id}: not finished at shutdown" in caplog.text


async def test_appends_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aesel.services.recordings.MAX_CHUNK", 100)
    store = FakeStore()
    r, _ = recorder(store)
    info = await r.start("s", OPEN)
    for x in range(10):
        r.on_event(update(x))
    await r.flush()
    size = len(rec.event(0, update(0).payload))
    assert all(len(data) <= max(100, size) for data, _ in store.appends)
    assert len(store.appends) == -(-10 // max(1, 100 // size))
    assert xs(store, info.id) == list(range(10))


class NoAdmin(Scenes):
    async def get(self, key: str, who: Principal, action: Action = Action.READ) -> None:
        if action is Action.ADMIN and not who.admin:
            raise NotFound(f"no scene {key!r}")


async def test_stopping_a_running_recording_needs_admin() -> None:
    store = FakeStore()
    r = Recorder(store, cast(SceneService, NoAdmin()), flush_interval=3600)
    info = await r.start("s", Principal(admin=True, enforced=True))
    with pytest.raises(NotFound):
        await r.stop("s", info.id, Principal(user="bob", enforced=True))
    assert r.recording("s")
    with pytest.raises(NotFound):  # the id, in another scene
        await r.stop("t", info.id, Principal(admin=True, enforced=True))
    assert r.recording("s")


async def test_a_recording_that_keeps_failing_holds_up_no_other() -> None:
    store = FakeStore()
    r, _ = recorder(store)
    bad, good = await r.start("s", OPEN), await r.start("s", OPEN)
    real = store.append_recording

    async def append(id: str, data: bytes) -> None:
        if id == bad.id:
            raise BackendUnavailable("cannot append to recording: Input/output error")
        await real(id, data)

    store.append_recording = append  # type: ignore[method-assign]
    r.on_event(update(0))
    for _ in range(2):
        await r.flush()
    assert xs(store, good.id) == [0] and xs(store, bad.id) == []
