"""LiveTable write-behind, against a recording in-memory stand-in for a store (a fake)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aesel.model.entities import Object3D
from aesel.services.live import LiveTable


class FakeStore:
    """In-memory fake of the two calls LiveTable makes; records every batch it is given."""

    def __init__(self) -> None:
        self.data: dict[str, Object3D] = {}
        self.batches: list[list[str]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def load(self, key: str) -> Object3D | None:
        if self.gate is not None:
            await self.gate.wait()
        return self.data.get(key)

    async def save(self, values: Sequence[Object3D]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.batches.append([v.key for v in values])
        self.data.update({v.key: v for v in values})

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


def table(store: FakeStore, **kw: int) -> LiveTable[Object3D]:
    return LiveTable("t", store.load, store.save, store.delete, flush_interval=3600, **kw)


async def test_streamed_updates_coalesce_into_one_write() -> None:
    store = FakeStore()
    t = table(store)
    for i in range(100):
        t.put_streamed(Object3D(key="a", name=str(i)))
    t.put_streamed(Object3D(key="b"))
    assert store.batches == [] and t.pending == 2
    assert (await t.get("a")).name == "99"  # type: ignore[union-attr]
    await t.flush()
    assert store.batches == [["a", "b"]]
    assert store.data["a"].name == "99"


async def test_durable_put_supersedes_pending_streamed_value() -> None:
    store = FakeStore()
    t = table(store)
    t.put_streamed(Object3D(key="a", name="streamed"))
    await t.put([Object3D(key="a", name="rest")])
    await t.flush()
    assert store.batches == [["a"]] and store.data["a"].name == "rest"


async def test_failed_flush_keeps_values_dirty_and_newer_wins() -> None:
    store = FakeStore()
    t = table(store)
    t.put_streamed(Object3D(key="a", name="1"))
    store.fail = True
    with pytest.raises(OSError):
        await t.flush()
    assert t.pending == 1 and t.flush_errors == 1
    t.put_streamed(Object3D(key="a", name="2"))
    store.fail = False
    await t.flush()
    assert store.data["a"].name == "2"


async def test_a_load_racing_a_delete_does_not_resurrect() -> None:
    store = FakeStore()
    store.data["a"] = Object3D(key="a")
    t = table(store)
    store.gate = asyncio.Event()
    loading = asyncio.create_task(t.get("a"))
    await asyncio.sleep(0)
    await t.delete("a")
    store.gate.set()
    assert await loading is None
    assert t.peek("a") is None and t.is_deleted("a")


async def test_concurrent_loads_share_one_read() -> None:
    store = FakeStore()
    store.data["a"] = Object3D(key="a", name="x")
    calls = 0
    original = store.load

    async def counting(key: str) -> Object3D | None:
        nonlocal calls
        calls += 1
        return await original(key)

    t = LiveTable("t", counting, store.save, store.delete, flush_interval=3600)
    results = await asyncio.gather(*(t.get("a") for _ in range(5)))
    assert calls == 1 and all(r is not None and r.name == "x" for r in results)


async def test_eviction_never_drops_unsaved_state() -> None:
    store = FakeStore()
    t = table(store, max_cached=2)
    for k in "abc":
        t.put_streamed(Object3D(key=k))
    assert all(t.peek(k) is not None for k in "abc")  # all dirty: kept
    await t.flush()
    t.put_streamed(Object3D(key="d"))
    assert t.peek("a") is None and t.peek("d") is not None


async def test_close_flushes() -> None:
    store = FakeStore()
    t = table(store)
    t.start()
    t.put_streamed(Object3D(key="a"))
    await t.close()
    assert "a" in store.data
