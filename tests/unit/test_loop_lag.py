"""LoopLag: how late the event loop runs, the WebSocket shedding's measure of a backlog's age."""

from __future__ import annotations

import asyncio

from aesel.services.ingest import LoopLag
from tests.conftest import stall


async def test_an_idle_loop_is_on_time_and_a_stall_is_seen_for_a_window() -> None:
    lag = LoopLag(every=0.01, window=0.2)
    assert lag.recent() == 0.0  # not started
    lag.start()
    try:
        await asyncio.sleep(0.1)
        assert lag.recent() < 0.03  # idle: the timer fires on time
        stall(0.12)
        assert lag.recent() >= 0.1  # seen during the stall too: the next tick is overdue
        await asyncio.sleep(0.03)  # the tick fires late and notes it
        assert lag.recent() >= 0.1
        await asyncio.sleep(0.3)  # the window passes, the loop idle again
        assert lag.recent() < 0.03
    finally:
        lag.stop()
    stall(0.05)
    assert lag.recent() < 0.03  # stopped: no tick is overdue
