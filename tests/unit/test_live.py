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
        self.gate: asyncio.Event | None = None  # when set, calls wait for it (after reading)
        self.entered = asyncio.Event()  # a gated call is waiting at the gate
        self.loads = 0

    async def load(self, key: str) -> Object3D | None:
        self.loads += 1
        row = self.data.get(key)  # read first, as a store does, then complete later
        gate = self.gate
        if gate is not None:
            self.entered.set()
            await gate.wait()
        return row

    async def save(self, values: Sequence[Object3D]) -> None:
        gate = self.gate
        if gate is not None:
            self.entered.set()
            await gate.wait()
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
    gate = store.gate = asyncio.Event()
    loading = asyncio.create_task(t.get("a"))
    await store.entered.wait()  # the load has read the row and is in flight
    await t.delete("a")  # durable: the row is gone (deletes are not gated)
    assert "a" not in store.data
    gate.set()
    assert await loading is None  # the row the load read is older than the delete
    assert t.peek("a") is None and t.is_deleted("a")


async def test_concurrent_loads_share_one_read() -> None:
    store = FakeStore()
    store.data["a"] = Object3D(key="a", name="x")
    store.gate = asyncio.Event()
    t = table(store)
    gets = [asyncio.create_task(t.get("a")) for _ in range(5)]
    await store.entered.wait()  # the first load is in flight; the others queued behind it
    store.gate.set()
    results = await asyncio.gather(*gets)
    assert store.loads == 1 and all(r is not None and r.name == "x" for r in results)


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


# -- a failed durable write, close during a flush, tombstones (issue 13: M5, M6, L9) ------------


async def test_a_failed_put_leaves_the_cache_as_it_was() -> None:
    store = FakeStore()
    t = table(store)
    await t.put([Object3D(key="a", name="old")])
    store.fail = True
    with pytest.raises(OSError):
        await t.put([Object3D(key="a", name="refused")])
    assert (await t.get("a")).name == "old"  # type: ignore[union-attr]
    store.fail = False
    t.put_streamed(Object3D(key="b", name="streamed"))
    store.fail = True
    with pytest.raises(OSError):
        await t.put([Object3D(key="b", name="refused")])
    store.fail = False
    await t.flush()  # the streamed value the refused write had superseded is still saved
    assert store.data["b"].name == "streamed" and t.peek("b").name == "streamed"  # type: ignore[union-attr]


async def test_a_put_is_not_visible_until_it_is_durable() -> None:
    store = FakeStore()
    t = table(store)
    await t.put([Object3D(key="a", name="old")])
    store.gate = asyncio.Event()
    writing = asyncio.create_task(t.put([Object3D(key="a", name="new")]))
    await store.entered.wait()
    assert (await t.get("a")).name == "old"  # type: ignore[union-attr]
    store.gate.set()
    await writing
    assert (await t.get("a")).name == "new"  # type: ignore[union-attr]


async def test_a_streamed_change_during_a_put_is_newer_and_kept() -> None:
    store = FakeStore()
    t = table(store)
    store.gate = asyncio.Event()
    writing = asyncio.create_task(t.put([Object3D(key="a", name="rest")]))
    await store.entered.wait()
    t.put_streamed(Object3D(key="a", name="streamed"))
    store.gate.set()
    await writing
    store.gate = None
    await t.flush()
    assert t.peek("a").name == "streamed" and store.data["a"].name == "streamed"  # type: ignore[union-attr]


async def test_close_lets_a_batch_in_flight_finish() -> None:
    store = FakeStore()
    t = LiveTable("t", store.load, store.save, store.delete, flush_interval=0.001)
    gate = store.gate = asyncio.Event()
    t.start()
    t.put_streamed(Object3D(key="a", name="v"))
    await store.entered.wait()  # the flusher's batch is in flight
    closing = asyncio.create_task(t.close())
    gate.set()
    await closing  # before: close cancelled the flusher and the batch was lost
    assert store.data["a"].name == "v" and t.pending == 0


async def test_a_cancelled_flush_puts_its_batch_back() -> None:
    store = FakeStore()
    t = table(store)
    store.gate = asyncio.Event()
    t.put_streamed(Object3D(key="a"))
    flushing = asyncio.create_task(t.flush())
    await store.entered.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert t.pending == 1
    store.gate = None
    await t.flush()
    assert "a" in store.data


async def test_tombstones_are_bounded_and_a_recreated_key_is_readable() -> None:
    store = FakeStore()
    t = table(store, max_tombstones=3, max_cached=1)
    for i in range(10):
        await t.put([Object3D(key=f"k{i}")])
        await t.delete(f"k{i}")
    assert t.tombstones == 3 and t.is_deleted("k9") and not t.is_deleted("k0")
    await t.put([Object3D(key="k9", name="again")])
    await t.put([Object3D(key="other")])  # evicts k9 from the cache (max_cached=1)
    assert t.peek("k9") is None
    assert (await t.get("k9")).name == "again"  # type: ignore[union-attr]
