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
