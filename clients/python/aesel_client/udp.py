"""A UDP device: send events to aesel's UDP port and receive the scene's fan-out.

Plaintext, or encrypted by a ``cipher`` (``aesel_client.crypto``): aesel's per-device
AES-256-GCM or Aesel's cluster-wide AES-256-CBC. ``AsyncClient.register_udp`` registers the
socket and sets the cipher the node's answer calls for.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Self

from aesel_client.crypto import CryptoError, DatagramCipher
from aesel_client.wire import parse_binary


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.queue = queue
        self.cipher: DatagramCipher | None = None
        self.bad = 0
        self.refused: Counter[str] = Counter()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.cipher is not None:
            try:
                data = self.cipher.open(data)
            except CryptoError as e:
                self.refused[e.reason] += 1
                return
        try:
            if data[:1] == b"\x01":  # a binary frame (devices registered with format "binary")
                docs = [dict(e.data) for e in parse_binary(data)]
            else:  # Aesel JSON, one per datagram, or newline-separated ("batch")
                docs = [json.loads(line) for line in data.split(b"\n") if line.strip()]
        except ValueError:
            self.bad += 1
            return
        for doc in docs:
            self.queue.put_nowait(doc)


class UdpDevice:
    """One UDP socket: ``send_transform`` to the node, ``recv`` what it fans out to us.

    Register the socket's ``port`` with ``AsyncClient.register`` to receive events (or call
    ``AsyncClient.register_udp``, which also sets the cipher). With a ``cipher`` every datagram
    sent is sealed and every one received is opened; those that fail are counted in
    ``refused`` by reason (``forged``, ``replayed``, ``gcm_version``) and dropped.
    """

    def __init__(
        self, transport: asyncio.DatagramTransport, proto: _Protocol, server: tuple[str, int]
    ) -> None:
        self._transport = transport
        self._proto = proto
        self.server = server
        self.queue = proto.queue

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 8762,
        *,
        local: tuple[str, int] = ("127.0.0.1", 0),
        cipher: DatagramCipher | None = None,
    ) -> UdpDevice:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(queue), local_addr=local
        )
        device = cls(transport, proto, (host, port))
        device.cipher = cipher
        return device

    @property
    def cipher(self) -> DatagramCipher | None:
        """``GcmChannel``, ``CbcCipher`` or None (plaintext), for both directions."""
        return self._proto.cipher

    @cipher.setter
    def cipher(self, cipher: DatagramCipher | None) -> None:
        self._proto.cipher = cipher

    @property
    def refused(self) -> Counter[str]:
        """Received datagrams dropped because they failed to open, by reason."""
        return self._proto.refused

    @property
    def local(self) -> tuple[str, int]:
        """The socket's local address."""
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        """The local port (register it so the node sends here)."""
        return int(self._transport.get_extra_info("sockname")[1])

    def send(self, event: Mapping[str, Any]) -> None:
        """Send one Aesel JSON event (sealed when there is a cipher)."""
        payload = json.dumps(event).encode()
        cipher = self._proto.cipher
        self.send_bytes(payload if cipher is None else cipher.seal(payload))

    def send_bytes(self, datagram: bytes) -> None:
        """Send one datagram as it is (no cipher applied)."""
        self._transport.sendto(datagram, self.server)

    def send_transform(
        self, scene: str, key: str, transform: Sequence[float], *, device: str | None = None
    ) -> None:
        """Send an object transform (row-major 4x4, 16 numbers)."""
        if len(transform) != 16:
            raise ValueError(f"transform has {len(transform)} numbers, expected 16")
        event: dict[str, Any] = {"msg_type": 1, "key": key, "scene": scene,
                                 "transform": [float(x) for x in transform]}  # fmt: skip
        if device is not None:
            event["device"] = device
        self.send(event)

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """The next event the node sent us (Aesel JSON)."""
        async with asyncio.timeout(timeout):
            return await self.queue.get()

    def close(self) -> None:
        self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
