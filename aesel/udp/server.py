"""The UDP endpoint: events in on :8762, and the socket that sends datagrams to devices."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import cast

from aesel.errors import AeselError
from aesel.logutil import LogLimiter
from aesel.model.wire import ObjectIn, PropertyIn
from aesel.services.objects import ObjectService
from aesel.services.properties import PropertyService
from aesel.udp.codec import decode_event

log = logging.getLogger(__name__)


class UdpEndpoint(asyncio.DatagramProtocol):
    """Decodes each datagram, applies it through the services, counts what it drops.

    Nothing here awaits: an event for a cached object goes from ``datagram_received`` to the
    outbound ``sendto`` calls in one synchronous pass.
    """

    def __init__(
        self,
        objects: ObjectService,
        properties: PropertyService,
        drops: Counter[str],
        *,
        max_size: int,
    ) -> None:
        self.objects = objects
        self.properties = properties
        self.drops = drops
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
            event = decode_event(data, self.max_size)
            body = event.body
            if isinstance(body, ObjectIn):
                self.objects.stream(body, event.msg_type, body.device, t_in)
            else:
                assert isinstance(body, PropertyIn)
                self.properties.stream(body, event.msg_type, t_in)
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
