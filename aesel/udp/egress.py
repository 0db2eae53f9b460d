"""UDP egress: which device gets which scene's datagrams, in which format, under which cipher.

``UdpEgress`` is the registration sink of the scene service: it turns each registration
change into the hub's address book, choosing the device's format and cipher. It also knows
which user each registered device belongs to, so a datagram authenticated as a device acts
with that user's rights (:meth:`principal`).
"""

from __future__ import annotations

import base64
import logging

from aesel.errors import Unauthenticated
from aesel.model.entities import Device
from aesel.model.stream import Format
from aesel.model.transform import Matrix
from aesel.realtime.hub import DatagramCipher, Hub
from aesel.services.policy import OPEN, Principal
from aesel.udp.crypto import UdpSecurity, new_key

log = logging.getLogger(__name__)


class UdpEgress:
    def __init__(
        self,
        hub: Hub,
        security: UdpSecurity,
        *,
        enforced: bool = False,
        plaintext: str = "public",
    ) -> None:
        if plaintext not in ("public", "refuse", "trusted"):
            raise ValueError(
                f"udp_plaintext is {plaintext!r}, expected 'public', 'refuse' or 'trusted'"
            )
        if enforced and plaintext == "trusted":
            log.warning(
                "--udp-plaintext trusted: unauthenticated datagrams may change every scene, "
                "private ones included; use it only on a network you trust"
            )
        self.hub = hub
        self.security = security
        self.enforced = enforced
        self.plaintext = plaintext
        self._owners: dict[str, str] = {}  # device key -> user id

    # -- RegistrationSink -------------------------------------------------------------------

    def attached(self, scene: str, device: Device, *, send: bool = True) -> None:
        """``device`` is registered to ``scene``: its datagrams act as its user, and, when
        ``send`` (this node sends to it; in a cluster, one node per device), it receives the
        scene's events from the next event on."""
        self._owners[device.key] = device.user
        cipher: DatagramCipher | None = None
        if device.encryption == "gcm" and device.gcm_key and self.security.gcm:
            # made even for a device with no address: it may only send, authenticated
            cipher = self.security.channel(device.key, base64.b64decode(device.gcm_key))
        elif self.security.cbc_out is not None:
            cipher = self.security.cbc_out
        addr = device.addr
        if addr is None or not send:
            self.hub.remove_device(scene, device.key)
            return
        self.hub.add_device(scene, device.key, addr, format=Format(device.format), cipher=cipher)

    def detached(self, scene: str, device: str) -> None:
        self.hub.remove_device(scene, device)

    def scene_removed(self, scene: str) -> None:
        self.hub.remove_scene(scene)

    def transformed(self, scene: str, device: Device, m_sd: Matrix) -> None:
        self.hub.set_frame(scene, device.key, m_sd if device.frame == "device" else None)
        self.hub.reframe(scene, device.key, m_sd)

    # -- who sent a datagram ----------------------------------------------------------------

    def principal(self, device: str | None) -> Principal:
        """The rights of a datagram: its device's user's, or an anonymous sender's."""
        if not self.enforced:
            return OPEN if device is None else Principal(device=device)
        if device is not None:
            return Principal(user=self._owners.get(device) or None, enforced=True, device=device)
        if self.plaintext == "refuse":
            raise Unauthenticated(
                "plaintext datagram refused: this node takes only authenticated datagrams "
                "(--udp-plaintext refuse)"
            )
        return Principal(enforced=True, trusted=self.plaintext == "trusted")


class DeviceKeyIssuer:
    """Issues per-device AES-256-GCM keys (Base64) when the node runs with gcm on."""

    def __init__(self, security: UdpSecurity) -> None:
        self.security = security

    @property
    def enabled(self) -> bool:
        return self.security.gcm

    def issue(self) -> str:
        return base64.b64encode(new_key()).decode()
