"""The Hub: who receives which scene, and the fan-out itself.

Two indexes and no awaits: ``scene -> {device key -> address}`` for UDP devices. A broadcast
resolves recipients, encodes the event once, and hands the same bytes to every recipient.
Registrations change here the moment the REST call commits, so the very next event sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from aesel.realtime.event import Event

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Sender = Callable[[bytes, Addr], None]


@dataclass(slots=True)
class HubStats:
    events: int = 0
    deliveries: int = 0
    send_errors: int = 0


class Hub:
    def __init__(self) -> None:
        self._udp: dict[str, dict[str, Addr]] = {}
        self._send: Sender | None = None
        self.stats = HubStats()

    def attach_udp(self, send: Sender) -> None:
        """Set the function that writes one datagram (the UDP endpoint's ``sendto``)."""
        self._send = send

    # -- registrations --------------------------------------------------------------------

    def add_device(self, scene: str, device: str, addr: Addr) -> None:
        self._udp.setdefault(scene, {})[device] = addr

    def remove_device(self, scene: str, device: str) -> None:
        devices = self._udp.get(scene)
        if devices is not None:
            devices.pop(device, None)
            if not devices:
                del self._udp[scene]

    def remove_scene(self, scene: str) -> None:
        self._udp.pop(scene, None)

    def devices(self, scene: str) -> dict[str, Addr]:
        return dict(self._udp.get(scene, {}))

    # -- fan-out --------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        self.stats.events += 1
        devices = self._udp.get(event.scene)
        if not devices or self._send is None:
            return
        data = orjson.dumps(event.payload)
        send = self._send
        for addr in devices.values():
            try:
                send(data, addr)
            except OSError:
                self.stats.send_errors += 1
                continue
            self.stats.deliveries += 1
