"""``ReplayFloors``: keeps each GCM key's replay floor in the store, written behind the stream.

Theory of operation: the floor of a key is the highest sequence the node accepted from it
(``aesel.udp.crypto``). At start the stored floors are loaded into ``UdpSecurity.floors``
before any channel exists, so a channel refuses everything at or below its key's floor. While
the node runs, floors that rose are written every ``interval`` seconds (one small batch, none
when nothing rose), and once more at stop, after the UDP socket is closed. After ``kill -9``
the datagrams accepted since the last write, at most ``interval`` seconds of them, can be
replayed once. A failed write is retried at the next tick: the marks are recomputed from the
channels, and the store only ever raises a floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aesel.logutil import LogLimiter
from aesel.storage.base import ReplayFloorStore
from aesel.udp.crypto import UdpSecurity

log = logging.getLogger(__name__)


class ReplayFloors:
    """Loads the floors at start, saves the risen ones every ``interval`` seconds and at stop."""

    def __init__(self, security: UdpSecurity, store: ReplayFloorStore, interval: float) -> None:
        self.security = security
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._limited = LogLimiter(log)

    async def start(self) -> None:
        """Load the stored floors (before the registrations make channels), then tick."""
        if not self.security.gcm:
            return
        self.security.floors.update(await self.store.replay_floors())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="replay-floors")

    async def save(self) -> int:
        """Write the floors that rose since the last save; how many were written."""
        marks = self.security.unsaved_floors()
        if marks:
            await self.store.advance_replay_floors(marks)
            self.security.floors.update(marks)
        return len(marks)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.save()
            except Exception as e:  # the store is down: the next tick retries
                self._limited.warning("gcm replay floors not saved, retrying: %s", e)

    async def stop(self) -> None:
        """Stop ticking and save once more (call after the UDP socket is closed)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self.save()
        except Exception:
            log.exception("final save of the gcm replay floors failed")
