"""Connection admission for the TCP ports: a total cap and a per-address cap, counted by reason.

Theory of operation: each TCP port (HTTP, WebSocket) has one :class:`ConnectionLimits`. Its
protocol calls :meth:`~ConnectionLimits.admit` as the connection is accepted and
:meth:`~ConnectionLimits.release` when it is lost; a refused connection is closed at once, so it
holds its descriptor for one loop turn only. The caps of all ports together stay below the
process's descriptor limit (:func:`connection_caps`) with headroom for the store, asset files and
UDP, so the HTTP API keeps answering while the WebSocket port is full (as NATS'
``max_connections``, Kafka's ``max.connections.per.ip`` and Centrifugo's connection limit).

The adapters (``aesel.rest.server``, ``aesel.realtime.ws``) own the sockets. uvloop never
reports EMFILE on accept (libuv frees a reserve descriptor, accepts and closes the waiting
connections, whose clients see a reset, and says nothing), so :func:`watch_descriptors` probes
the descriptor table once a second and logs, rate-limited, while it is full.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from collections import Counter

from aesel.logutil import LogLimiter

log = logging.getLogger(__name__)
_full = LogLimiter(log, rate=0.2, burst=3)

REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
HTTP_SHARE = 1024  # most connections the HTTP port takes by default (auto caps)


class ConnectionLimits:
    """Open connections of one port: at most ``total``, and ``per_address`` from one address.
    ``refused`` counts refusals by (port, reason) for ``/metrics``."""

    def __init__(
        self, port: str, total: int, per_address: int, refused: Counter[tuple[str, str]]
    ) -> None:
        self.port = port
        self.total = total
        self.per_address = per_address
        self.refused = refused
        self.open = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (and counted) when over a cap."""
        if self.open >= self.total:
            self.refused[(self.port, "total")] += 1
            _full.warning("%s port full: %d connections open, refusing more", self.port, self.open)
            return False
        if self._by_address[address] >= self.per_address:
            self.refused[(self.port, "per_address")] += 1
            return False
        self.open += 1
        self._by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        left = self._by_address[address] - 1
        if left > 0:
            self._by_address[address] = left
        else:
            del self._by_address[address]

    def count(self, reason: str) -> None:
        """Count a connection closed for ``reason`` (a timeout) under this port."""
        self.refused[(self.port, reason)] += 1


def raise_nofile() -> int:
    """Raise the soft descriptor limit to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, hard, e)
    return soft


def connection_caps(nofile: int, http: int, ws: int) -> tuple[int, int]:
    """The total caps of the HTTP and WebSocket ports for a descriptor limit of ``nofile``.

    One sixteenth of the descriptors (at least 128) stays free for the store, asset files, UDP
    and logs. ``http``/``ws`` of 0 take the automatic share: HTTP a sixth of the rest (at most
    1024), WebSocket what remains. Asked-for caps larger than that are lowered, with a warning.
    """
    room = max(2, nofile - max(128, nofile // 16))
    http_cap = http or min(HTTP_SHARE, max(1, room // 6))
    http_cap = min(http_cap, room - 1)
    ws_cap = ws or room - http_cap
    if http_cap + ws_cap > room:
        log.warning(
            "connection caps http=%d ws=%d exceed the %d descriptors left for connections "
            "(limit %d): the websocket cap is lowered to %d",
            http_cap, ws_cap, room, nofile, room - http_cap,
        )  # fmt: skip
        ws_cap = room - http_cap
    return http_cap, ws_cap


def descriptors_exhausted() -> bool:
    """True when the process cannot open one more descriptor (EMFILE or ENFILE)."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return e.errno in (errno.EMFILE, errno.ENFILE)
    os.close(fd)
    return False


async def watch_descriptors(interval: float = 1.0) -> None:
    """Log while the descriptor table is full: new connections are then reset unseen."""
    limiter = LogLimiter(log, rate=1 / 30, burst=1)
    while True:
        await asyncio.sleep(interval)
        if descriptors_exhausted():
            limiter.warning(
                "descriptor limit reached (EMFILE, limit %d): new connections are reset; "
                "lower --ws-max-connections or raise the hard RLIMIT_NOFILE",
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
