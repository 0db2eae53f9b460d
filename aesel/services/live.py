"""``LiveTable``: the in-memory latest state in front of a store, with write-behind.

Theory of operation. Every read goes through the cache, so a read sees the latest change
whichever path made it. Two kinds of write:

- ``put`` (REST): the value is written to the store, and the cache changes only once the
  write is durable, so a write that failed (and was answered 503) is never served. A pending
  write-behind value for that key is dropped, since the durable write is newer (and put back
  if the write fails). A streamed change that arrives while the write is in flight is newer
  still: it stays in the cache and the flusher writes it after.
- ``put_streamed`` (UDP, WebSocket): the cache changes at once and the key is marked dirty.
  A flusher writes all dirty values in one batch every ``flush_interval`` seconds, and on
  ``close``. Updates to one object between flushes coalesce into one write. After ``kill -9``
  at most the last ``flush_interval`` (plus one batch write) of streamed updates is lost.
  A batch whose write fails or is cancelled goes back to the dirty set (a newer value wins),
  and ``close`` lets an in-flight batch finish before its final flush: nothing is dropped.

The store runs calls in the order issued, so an older snapshot can never overwrite a newer one.
Deleted keys are remembered (tombstones), so a load racing with a delete cannot resurrect
an object. A tombstone whose delete is durable is kept only among the last ``max_tombstones``
deletes (a snapshot filters recent deletes with :meth:`is_deleted`), and a new ``put`` of the
key lifts it: memory stays bounded. Clean entries are evicted least-recently-used beyond
``max_cached``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from aesel.logutil import LogLimiter

log = logging.getLogger(__name__)


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


E = TypeVar("E", bound=Keyed)


class LiveTable(Generic[E]):
    def __init__(
        self,
        name: str,
        load: Callable[[str], Awaitable[E | None]],
        save: Callable[[Sequence[E]], Awaitable[None]],
        delete: Callable[[str], Awaitable[bool]],
        *,
        flush_interval: float = 0.1,
        max_cached: int = 100_000,
        max_tombstones: int = 10_000,
    ) -> None:
        self.name = name
        self._load = load
        self._save = save
        self._delete = delete
        self.flush_interval = flush_interval
        self.max_cached = max_cached
        self.max_tombstones = max_tombstones
        self._cache: OrderedDict[str, E] = OrderedDict()
        self._dirty: dict[str, E] = {}
        self._loading: dict[str, asyncio.Future[E | None]] = {}
        self._tombstones: OrderedDict[str, None] = OrderedDict()
        self._deleting: Counter[str] = Counter()  # deletes in flight, by key
        self._closing = asyncio.Event()
        self._in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0
        self.flushed = 0
        self.flush_errors = 0
        self._limited = LogLimiter(log)

    # -- reads ----------------------------------------------------------------------------

    def peek(self, key: str) -> E | None:
        """The cached value, without I/O (``None`` when not cached)."""
        return self._cache.get(key)

    async def get(self, key: str) -> E | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
            return value
        if key in self._tombstones:
            return None
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[E | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        try:
            value = await self._load(key)
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            self._loading.pop(key, None)
        # a write or delete may have happened while the load was in flight: they win
        current = self._cache.get(key)
        if current is not None:
            value = current
        elif key in self._tombstones:
            value = None
        elif value is not None:
            self._remember(value)
        fut.set_result(value)
        return value

    # -- writes ---------------------------------------------------------------------------

    def _remember(self, value: E) -> None:
        self._cache[value.key] = value
        self._cache.move_to_end(value.key)
        while len(self._cache) > self.max_cached:
            oldest = next(iter(self._cache))
            if oldest in self._dirty:
                break  # never evict unsaved state; the flusher will make room
            del self._cache[oldest]

    async def put(self, values: Sequence[E]) -> None:
        """Write durably, then change the cache; returns when the write is durable."""
        before = {v.key: self._cache.get(v.key) for v in values}
        superseded = {v.key: self._dirty.pop(v.key) for v in values if v.key in self._dirty}
        try:
            await self._save(values)
        except BaseException:
            for k, old in superseded.items():
                self._dirty.setdefault(k, old)  # still unsaved: the flusher writes it
            raise
        for v in values:
            if v.key not in self._deleting:  # a re-created key; a delete in flight still wins
                self._tombstones.pop(v.key, None)
            if self._cache.get(v.key) is before[v.key]:  # else a streamed change is newer
                self._remember(v)

    def put_streamed(self, value: E) -> None:
        """Change the cache now; the store follows within ``flush_interval``."""
        self._remember(value)
        self._dirty[value.key] = value

    # -- changes made by other nodes (their events, consumed) -------------------------------

    def replace(self, value: E) -> None:
        """Another node changed ``value.key`` (newer than anything here): serve its value from
        now on, and write it instead of an older unsaved one. An uncached key stays uncached."""
        key = value.key
        if key in self._cache:
            self._cache[key] = value
        if key in self._dirty:
            self._dirty[key] = value

    def evict(self, key: str) -> None:
        """Another node changed ``key`` durably: the next read loads it from the store."""
        self._cache.pop(key, None)
        self._dirty.pop(key, None)

    def evict_clean(self) -> int:
        """Drop every cached value that is saved (after missing other nodes' changes): the
        next reads load them from the store. Returns how many were dropped."""
        clean = [k for k in self._cache if k not in self._dirty]
        for k in clean:
            del self._cache[k]
        return len(clean)

    def forget(self, key: str) -> None:
        """Another node deleted ``key`` (in the store): serve it as deleted."""
        self._tombstones[key] = None
        self._tombstones.move_to_end(key)
        self.evict(key)
        self._prune_tombstones()

    async def delete(self, key: str) -> bool:
        self._tombstones[key] = None
        self._tombstones.move_to_end(key)
        self._cache.pop(key, None)
        self._dirty.pop(key, None)
        self._deleting[key] += 1
        try:
            return await self._delete(key)
        finally:
            self._deleting[key] -= 1
            if not self._deleting[key]:
                del self._deleting[key]
            self._prune_tombstones()

    def _prune_tombstones(self) -> None:
        """Forget the oldest durable deletes beyond ``max_tombstones``."""
        while len(self._tombstones) > self.max_tombstones:
            oldest = next(iter(self._tombstones))
            if oldest in self._deleting or oldest in self._loading:
                break  # still racing: its guard is needed
            del self._tombstones[oldest]

    def is_deleted(self, key: str) -> bool:
        return key in self._tombstones

    @property
    def tombstones(self) -> int:
        return len(self._tombstones)

    # -- write-behind ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Streamed values not yet durable: dirty, or in the batch being written."""
        return len(self._dirty) + self._in_flight

    async def flush(self) -> None:
        """Write every dirty value now, in one batch."""
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        self._in_flight = len(batch)
        try:
            await self._save(list(batch.values()))
        except BaseException as e:  # CancelledError too: the batch is never dropped
            for k, v in batch.items():
                self._dirty.setdefault(k, v)  # a newer value, if any, wins
            if isinstance(e, Exception):
                self.flush_errors += 1
                self._limited.warning(
                    "%s: write-behind flush of %d values failed, will retry: %s",
                    self.name, len(batch), e,
                )  # fmt: skip
            raise
        finally:
            self._in_flight = 0
        self.flushes += 1
        self.flushed += len(batch)

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_interval)
            with contextlib.suppress(Exception):
                await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"flush-{self.name}"
            )

    async def close(self) -> None:
        """Stop the flusher, letting a batch in flight finish (never cancelled), then flush."""
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
