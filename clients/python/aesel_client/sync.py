"""A blocking facade for scripts and notebooks.

It runs an event loop in a daemon thread and calls the async client on it. ``watch`` starts a
stream there and returns the scene's mirror: read ``mirror.objects`` from the calling thread at
any time (the stream replaces each transform whole, so a read never sees half an update).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Self, TypeVar

from aesel_client.mirror import SceneMirror
from aesel_client.rest import AsyncClient, Property, Registration, Scene, SceneObject
from aesel_client.stream import Stream
from aesel_client.udp import UdpDevice

T = TypeVar("T")


class Client:
    """``Client("http://127.0.0.1:8080")``: the REST calls, blocking, plus ``watch`` and UDP."""

    def __init__(
        self, base_url: str = "http://127.0.0.1:8080", *, token: str | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.api: AsyncClient = self._run(_make_client(base_url, token))
        self._streams: list[Stream] = []
        self._udp: UdpDevice | None = None

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        for s in self._streams:
            self._run(s.close())
        if self._udp is not None:
            self._loop.call_soon_threadsafe(self._udp.close)
        self._run(self.api.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self, username: str, password: str) -> str:
        return self._run(self.api.login(username, password))

    def create_scene(self, name: str, *, key: str | None = None, **fields: Any) -> Scene:
        return self._run(self.api.create_scene(name, key=key, **fields))

    def get_scene(self, key: str) -> Scene:
        return self._run(self.api.get_scene(key))

    def query_scenes(self, **filters: Any) -> list[Scene]:
        return self._run(self.api.query_scenes(**filters))

    def delete_scene(self, key: str) -> None:
        self._run(self.api.delete_scene(key))

    def create_object(
        self, scene: str, name: str, *, transform: Sequence[float] | None = None, **fields: Any
    ) -> SceneObject:
        return self._run(self.api.create_object(scene, name, transform=transform, **fields))

    def get_object(self, scene: str, key: str) -> SceneObject:
        return self._run(self.api.get_object(scene, key))

    def update_object(self, scene: str, key: str, **fields: Any) -> SceneObject:
        return self._run(self.api.update_object(scene, key, **fields))

    def delete_object(self, scene: str, key: str) -> None:
        self._run(self.api.delete_object(scene, key))

    def create_property(self, scene: str, name: str, values: Sequence[float] = ()) -> Property:
        return self._run(self.api.create_property(scene, name, values))

    def register(self, scene: str, device: str, hostname: str, port: int) -> Scene:
        return self._run(self.api.register(scene, device, hostname, port))

    def deregister(self, scene: str, device: str) -> None:
        self._run(self.api.deregister(scene, device))

    def watch(self, ws_url: str, scene: str, *, format: str = "binary") -> SceneMirror:
        """Stream a scene in the background; returns its live mirror (after the snapshot)."""
        stream = Stream(
            ws_url, token=self.api.token, format="json" if format == "json" else "binary"
        )
        self._streams.append(stream)
        return self._run(stream.subscribe(scene))

    def send_transform(
        self, udp_host: str, udp_port: int, scene: str, key: str, transform: Sequence[float]
    ) -> None:
        """Send one transform over UDP (from one socket opened on first use; sealed by the
        cipher ``register_udp`` set, if any)."""
        udp = self._udp_to(udp_host, udp_port)
        self._loop.call_soon_threadsafe(udp.send_transform, scene, key, transform)

    def register_udp(
        self,
        udp_host: str,
        udp_port: int,
        scene: str,
        device: str,
        *,
        encryption: str | None = None,
        format: str | None = None,
    ) -> Registration:
        """Register the facade's UDP socket as ``device``; with ``encryption="gcm"`` (or a node
        running Aesel's CBC) what it sends and receives from now on is encrypted."""
        udp = self._udp_to(udp_host, udp_port)
        return self._run(
            self.api.register_udp(scene, device, udp, encryption=encryption, format=format)
        )

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next event the node sent to the facade's UDP socket (after ``register_udp``)."""
        if self._udp is None:
            raise RuntimeError("no UDP socket yet: call register_udp or send_transform first")
        return self._run(self._udp.recv(timeout), timeout + 1)

    def _udp_to(self, host: str, port: int) -> UdpDevice:
        if self._udp is None:
            self._udp = self._run(UdpDevice.open(host, port))
        self._udp.server = (host, port)
        return self._udp


async def _make_client(base_url: str, token: str | None) -> AsyncClient:
    return AsyncClient(base_url, token=token)
