"""What the services need from the rest of the node, as Protocols (the composition root wires them).

The services know no transport: they publish events and registration changes through these,
and never import the hub, a socket or a cipher.
"""

from __future__ import annotations

from typing import Protocol

from aesel.model.entities import Device
from aesel.model.event import Event
from aesel.model.transform import Matrix


class Publisher(Protocol):
    """The bus, as the services see it (see ``aesel.realtime.bus`` for the contract)."""

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every node's subscribers; never blocks, never awaits."""

    def last_seq(self, scene: str) -> int:
        """The seq of the last event of ``scene`` handed to this node's subscribers (0: none)."""
        ...

    def touch(self, scene: str, key: str) -> None:
        """``key`` changed durably without an event (a lock, an asset list): other nodes'
        caches must drop it. Never blocks; nothing on one node."""


class RegistrationSink(Protocol):
    """Receives the registration state of devices, the moment it changes.

    On one node the UDP egress implements it directly; in a cluster the changes travel as
    cluster state to every node's egress. Every method is synchronous and never fails.
    """

    def attached(self, scene: str, device: Device) -> None:
        """``device`` receives ``scene``'s events from the next event on (replaces any old)."""

    def detached(self, scene: str, device: str) -> None:
        """``device`` no longer receives ``scene``'s events."""

    def scene_removed(self, scene: str) -> None:
        """No device receives ``scene``'s events any more."""

    def transformed(self, scene: str, device: Device, m_sd: Matrix) -> None:
        """The registration of ``device`` to ``scene`` now holds ``m_sd`` (scene -> device
        coordinates): called after ``attached`` and on ``align``. From the next event on, a
        device registered with ``frame == "device"`` (and any subscriber that asked for this
        device's frame) receives ``scene``'s object transforms as ``m_sd @ transform``."""


class DeviceKeys(Protocol):
    """Issues per-device datagram keys (the UDP security code implements it)."""

    @property
    def enabled(self) -> bool:
        """Whether devices may ask for encryption on this node."""
        ...

    def issue(self) -> str:
        """A new key for a device, as the text returned to it at registration."""
        ...


class NoRegistrations:
    """A sink that ignores registrations (for tests and nodes without UDP egress)."""

    def attached(self, scene: str, device: Device) -> None:
        pass

    def detached(self, scene: str, device: str) -> None:
        pass

    def scene_removed(self, scene: str) -> None:
        pass

    def transformed(self, scene: str, device: Device, m_sd: Matrix) -> None:
        pass
