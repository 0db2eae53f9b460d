"""Logging that cannot flood: at most ``rate`` lines a second per limiter, then a summary."""

from __future__ import annotations

import logging
import time


class LogLimiter:
    """Allows ``burst`` log lines, refilled at ``rate`` a second; counts what it suppresses."""

    def __init__(self, logger: logging.Logger, rate: float = 1.0, burst: int = 5) -> None:
        self.logger = logger
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()
        self.suppressed = 0

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            self.suppressed += 1
            return
        self._tokens -= 1.0
        if self.suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.warning(msg, *args)


class Throttle(logging.Filter):
    """A filter for a chatty library's logger: each distinct message (its format string) passes
    at most once per ``every`` seconds; the next one that passes says how many were held back.

    aiokafka logs every failed reconnection attempt, many a second while Kafka is away.
    """

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.every:.0f} s)"
        if len(self._last) > 1000:
            self._last.clear()
        return True
