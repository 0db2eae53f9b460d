"""The UDP endpoint: events in on :8762, and the socket that sends datagrams to devices."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from aesel.errors import AeselError
from aesel.logutil import LogLimiter
from aesel.model import inbound
from aesel.services.ingest import Ingest
from aesel.services.policy import OPEN, Principal
from aesel.udp.crypto import UdpSecurity

log = logging.getLogger(__name__)


class UdpEndpoint(asyncio.DatagramProtocol):
    """Decrypts (when on) and decodes each datagram, applies it as its sender, counts drops.

    Nothing here awaits: an event for a cached object goes from ``datagram_received`` to the
    hub in one synchronous pass; the hub writes the outbound datagrams at the end of the turn.
    """

    def __init__(
        self,
        ingest: Ingest,
        drops: Counter[str],
        security: UdpSecurity | None = None,
        *,
        principal: Callable[[str | None], Principal] = lambda device: OPEN,
        max_size: int = 8192,
    ) -> None:
        self.ingest = ingest
        self.drops = drops
        self.security = security or UdpSecurity()
        self.principal = principal
        self.max_size = max_size
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._limited = LogLimiter(log)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        t_in = time.perf_counter_ns()
        self.received += 1
        try:
            plain, device = self.security.open(data)
            self.ingest.apply(inbound.decode(plain, self.max_size), self.principal(device), t_in)
        except AeselError as e:
            self.drops[e.reason] += 1
            self._limited.warning(
                "udp: dropped datagram from %s:%d: %s", addr[0], addr[1], e.message
            )
        except Exception:
            self.drops["internal"] += 1
            log.exception("udp: error handling datagram from %s:%d", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        self.drops["socket_error"] += 1
        self._limited.warning("udp: socket error: %s", exc)

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped because the socket's receive buffer was full.

        Read from ``/proc/net/udp`` (the ``drops`` column of this socket's inode) when
        ``/metrics`` is scraped: asyncio offers no ``SO_RXQ_OVFL`` ancillary data. 0 where
        there is no such file.
        """
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return 0
        return socket_drops(os.fstat(sock.fileno()).st_ino)


def socket_drops(inode: int, tables: tuple[str, ...] = ("/proc/net/udp", "/proc/net/udp6")) -> int:
    """The kernel's drop count for the UDP socket with ``inode`` (0 when not found)."""
    wanted = str(inode)
    for path in tables:
        try:
            with open(path) as f:
                next(f, None)  # the header
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9] == wanted:
                        return int(cols[12])
        except OSError:
            continue
    return 0
