"""A UDP device: send events to aesel's UDP port and receive the scene's fan-out.

Plaintext only. aesel's per-device AES-256-GCM framing is being redesigned, so this SDK does
not speak it yet; Aesel's cluster-wide AES-256-CBC is not supported either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, Self

from aesel_client.wire import parse_binary


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.queue = queue
        self.bad = 0

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
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

    Register the socket's ``port`` with ``AsyncClient.register`` to receive events.
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
        cls, host: str = "127.0.0.1", port: int = 8762, *, local: tuple[str, int] = ("127.0.0.1", 0)
    ) -> UdpDevice:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(queue), local_addr=local
        )
        return cls(transport, proto, (host, port))

    @property
    def port(self) -> int:
        """The local port (register it so the node sends here)."""
        return int(self._transport.get_extra_info("sockname")[1])

    def send(self, event: Mapping[str, Any]) -> None:
        self._transport.sendto(json.dumps(event).encode(), self.server)

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
