"""``LiveTable``: the in-memory latest state in front of a store, with write-behind.

Theory of operation. Every read goes through the cache, so a read sees the latest change
whichever path made it. Two kinds of write:

- ``put`` (REST): the cache changes at once, then the value is written to the store and the
  call returns when it is durable. A pending write-behind value for that key is dropped: the
  durable write is newer.
- ``put_streamed`` (UDP, WebSocket): the cache changes at once and the key is marked dirty.
  A flusher writes all dirty values in one batch every ``flush_interval`` seconds, and on
  ``close``. Updates to one object between flushes coalesce into one write. After ``kill -9``
  at most the last ``flush_interval`` (plus one batch write) of streamed updates is lost.

The store runs calls in the order issued, so an older snapshot can never overwrite a newer one.
Deleted keys are remembered (tombstones), so a load racing with a delete cannot resurrect
an object. Clean entries are evicted least-recently-used beyond ``max_cached``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

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
    ) -> None:
        self.name = name
        self._load = load
        self._save = save
        self._delete = delete
        self.flush_interval = flush_interval
        self.max_cached = max_cached
        self._cache: OrderedDict[str, E] = OrderedDict()
        self._dirty: dict[str, E] = {}
        self._loading: dict[str, asyncio.Future[E | None]] = {}
        self._tombstones: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0
        self.flushed = 0
        self.flush_errors = 0

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
        """Change the cache, then write durably; returns when the write is durable."""
        for v in values:
            self._dirty.pop(v.key, None)
            self._remember(v)
        await self._save(values)

    def put_streamed(self, value: E) -> None:
        """Change the cache now; the store follows within ``flush_interval``."""
        self._remember(value)
        self._dirty[value.key] = value

    async def delete(self, key: str) -> bool:
        self._tombstones.add(key)
        self._cache.pop(key, None)
        self._dirty.pop(key, None)
        return await self._delete(key)

    def is_deleted(self, key: str) -> bool:
        return key in self._tombstones

    # -- write-behind ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._dirty)

    async def flush(self) -> None:
        """Write every dirty value now, in one batch."""
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        try:
            await self._save(list(batch.values()))
        except Exception:
            self.flush_errors += 1
            log.exception(
                "%s: write-behind flush of %d values failed; will retry", self.name, len(batch)
            )
            for k, v in batch.items():
                self._dirty.setdefault(k, v)  # a newer value, if any, wins
            raise
        self.flushes += 1
        self.flushed += len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            with contextlib.suppress(Exception):
                await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"flush-{self.name}"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
