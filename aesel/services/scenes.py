"""Scenes, registrations and the transforms between devices and scenes.

Transforms (reference 3.5, decisions section 2), as 4x4 matrices acting on column vectors:

- A registration of device D to scene S holds ``M_SD``: scene S coordinates -> D coordinates.
- A scene link ``A -> B`` holds ``M_AB``: A coordinates -> B coordinates. For a device
  registered to both, ``M_AD = M_BD @ M_AB``.
- ``align`` stores a new ``M_SD`` and, for every other scene O of the device, the link
  ``O -> S`` = ``M_SD^-1 @ M_OD``.
- ``register`` of D to S, when D is already registered to a scene O joined to S by a path of
  links, computes ``M_OS`` along the shortest path (inverting links walked backwards) and
  returns ``M_SD = M_OD @ M_OS^-1``; the client's transform is then not needed. Without a
  path, the client's transform (identity if none) is stored and links are made from the
  device's other scenes, as ``align`` does.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections import deque
from dataclasses import dataclass

from aesel.errors import BadRequest, MissingData, NotFound
from aesel.model import transform as tf
from aesel.model.entities import Device, DeviceTransform, Registration, Scene
from aesel.model.ids import new_uuid
from aesel.model.wire import DeviceIn, DeviceTransformIn, SceneIn
from aesel.realtime.hub import DatagramCipher, Format, Hub
from aesel.services.viewer import Viewer
from aesel.storage.base import SceneFilter, SceneStore
from aesel.udp.crypto import UdpSecurity, new_key

APPEND, REMOVE = 10, 11


@dataclass(frozen=True, slots=True)
class Registered:
    scene: Scene
    device: Device
    registration: Registration
    origin: str  # the scene the transform was derived from, or ""


def _transform_in(t: DeviceTransformIn | None) -> DeviceTransform | None:
    if t is None or (t.translation is None and t.rotation is None):
        return None
    tr = t.translation or [0.0, 0.0, 0.0]
    rot = t.rotation or [0.0, 0.0, 0.0]
    return DeviceTransform(translation=(tr[0], tr[1], tr[2]), rotation=(rot[0], rot[1], rot[2]))


def _edit_list(
    old: tuple[str, ...], new: list[str] | None, operation: int | None
) -> tuple[str, ...] | None:
    """A scene's ``assets`` or ``tags`` after an update that gives ``new``.

    No operation appends, as Aesel's default did; 10 appends, 11 removes. A list holds each
    value once: appending a value already present leaves the list as it was (Aesel added a
    second copy), and removing a value drops it.
    """
    if new is None:
        return None
    if operation is None or operation == APPEND:
        return tuple(dict.fromkeys((*old, *new)))
    if operation == REMOVE:
        return tuple(x for x in old if x not in new)
    raise BadRequest(f"operation is {operation}, expected 10 (append) or 11 (remove)")


FORMATS = ("json", "batch", "binary")
ENCRYPTIONS = ("", "none", "cbc", "gcm")


class SceneService:
    def __init__(self, store: SceneStore, hub: Hub, security: UdpSecurity | None = None) -> None:
        self.store = store
        self.hub = hub
        self.security = security or UdpSecurity()
        self.response_extra: dict[str, object] = {}  # CBC mode: Aesel's key fields, set by the node

    def _attach(self, scene: str, device: Device) -> bool:
        """Put the device in the hub for ``scene`` (or take it out when it has no address)."""
        if device.addr is None:
            self.hub.remove_device(scene, device.key)
            return False
        cipher: DatagramCipher | None = None
        if device.encryption == "gcm" and device.gcm_key and self.security.gcm:
            cipher = self.security.channel(device.key, base64.b64decode(device.gcm_key))
        elif self.security.cbc_out is not None:
            cipher = self.security.cbc_out
        self.hub.add_device(
            scene, device.key, device.addr, format=Format(device.format), cipher=cipher
        )
        return True

    async def load_registrations(self) -> int:
        """Fill the hub from the durable registrations (at start-up)."""
        n = 0
        for reg in await self.store.registrations():
            device = await self.store.get_device(reg.device)
            if device is not None and self._attach(reg.scene, device):
                n += 1
        return n

    # -- scenes ---------------------------------------------------------------------------

    async def create(self, inp: SceneIn, key: str | None, viewer: Viewer) -> Scene:
        key = key or inp.key or new_uuid()
        public = inp.is_public()
        scene = Scene(
            key=key,
            name=inp.name or "",
            description=inp.description or "",
            thumbnail=inp.thumbnail or "",
            region=inp.region or "",
            user=viewer.user or "",
            active=True if inp.active is None else inp.active,
            public=True if public is None else public,
            latitude=inp.latitude,
            longitude=inp.longitude,
            assets=tuple(inp.asset_list() or ()),
            tags=tuple(inp.tags or ()),
        )
        await self.store.put_scene(scene)
        return scene

    async def get(self, key: str, viewer: Viewer) -> Scene:
        scene = await self.store.get_scene(key)
        if scene is None or not viewer.can_see(scene.user, scene.public):
            raise NotFound(f"no scene with key {key!r}")
        return scene

    async def update(self, key: str, inp: SceneIn, operation: int | None, viewer: Viewer) -> Scene:
        scene = await self.get(key, viewer)
        changes: dict[str, object] = {
            k: v
            for k, v in {
                "name": inp.name,
                "description": inp.description,
                "thumbnail": inp.thumbnail,
                "region": inp.region,
                "active": inp.active,
                "public": inp.is_public(),
                "latitude": inp.latitude,
                "longitude": inp.longitude,
                "assets": _edit_list(scene.assets, inp.asset_list(), operation),
                "tags": _edit_list(scene.tags, inp.tags, operation),
            }.items()
            if v is not None
        }
        scene = scene.model_copy(update=changes)
        await self.store.put_scene(scene)
        return scene

    async def delete(self, key: str, viewer: Viewer) -> None:
        await self.get(key, viewer)
        await self.store.delete_scene(key)
        self.hub.remove_scene(key)

    async def query(self, inp: SceneIn, start: int, limit: int, viewer: Viewer) -> list[Scene]:
        f = SceneFilter(
            key=inp.key or None,
            name=inp.name or None,
            region=inp.region or None,
            tags=tuple(inp.tags or ()),
            latitude=inp.latitude,
            longitude=inp.longitude,
            distance=inp.distance,
            public=inp.is_public(),
            principal=viewer.user,
            see_all=viewer.sees_all,
        )
        return await self.store.query_scenes(f, start, limit)

    async def edit_asset(self, key: str, asset: str, operation: int, viewer: Viewer) -> Scene:
        return await self.update(key, SceneIn(assets=[asset]), operation, viewer)

    # -- registration ---------------------------------------------------------------------

    async def _resolve(self, hostname: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                hostname, port, family=socket.AF_INET, type=socket.SOCK_DGRAM
            )
        except (OSError, UnicodeError) as e:
            raise BadRequest(f"cannot resolve device hostname {hostname!r}: {e}") from None
        return str(infos[0][4][0])

    async def _device(self, inp: DeviceIn) -> Device:
        key = inp.key or new_uuid()
        old = await self.store.get_device(key)
        hostname = inp.hostname if inp.hostname is not None else (old.hostname if old else "")
        port = inp.port if inp.port is not None else (old.port if old else 0)
        host = await self._resolve(hostname, port) if hostname and 0 < port < 65536 else ""
        fmt = inp.format if inp.format is not None else (old.format if old else "json")
        if fmt not in FORMATS:
            raise BadRequest(f"device format is {fmt!r}, expected 'json', 'batch' or 'binary'")
        enc = inp.encryption if inp.encryption is not None else (old.encryption if old else "")
        if enc not in ENCRYPTIONS:
            raise BadRequest(f"device encryption is {enc!r}, expected 'gcm', 'cbc' or 'none'")
        enc = "gcm" if enc == "gcm" else ""
        if enc == "gcm" and not self.security.gcm:
            raise BadRequest(
                "device encryption is 'gcm' but gcm is off, "
                "expected a node run with --udp-security gcm"
            )
        gcm_key = (
            (old.gcm_key if old and old.gcm_key else base64.b64encode(new_key()).decode())
            if enc
            else ""
        )
        device = Device(
            key=key,
            hostname=hostname,
            host=host,
            port=port,
            connection_string=inp.connection_string or (old.connection_string if old else ""),
            format=fmt,
            encryption=enc,
            gcm_key=gcm_key,
        )
        if device != old:
            await self.store.put_device(device)
        return device

    async def _path(self, start: str, goal: str) -> tf.Matrix | None:
        """``M_start->goal`` along the shortest path of scene links, or ``None``."""
        graph: dict[str, list[tuple[str, tf.Matrix]]] = {}
        for a, b, t in await self.store.links():
            m = t.matrix()
            graph.setdefault(a, []).append((b, m))
            graph.setdefault(b, []).append((a, tf.inverse(m)))
        seen = {start: tf.IDENTITY}
        todo = deque([start])
        while todo:
            node = todo.popleft()
            if node == goal:
                return seen[node]
            for nxt, m in graph.get(node, ()):
                if nxt not in seen:
                    seen[nxt] = tf.matmul(m, seen[node])
                    todo.append(nxt)
        return None

    async def _link_from_others(self, scene: str, device: str, m_sd: tf.Matrix) -> None:
        inv = tf.inverse(m_sd)
        for other in await self.store.registrations(device=device):
            if other.scene != scene:
                link = tf.matmul(inv, other.transform.matrix())
                await self.store.put_link(other.scene, scene, DeviceTransform.from_matrix(link))

    def _scene_device(self, scenes: list[SceneIn]) -> tuple[SceneIn, DeviceIn]:
        if not scenes or not scenes[0].devices:
            raise MissingData("expected scenes[0].devices[0], the device to register")
        return scenes[0], scenes[0].devices[0]

    async def register(self, key: str, scenes: list[SceneIn], viewer: Viewer) -> Registered:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        if not key:
            raise MissingData("expected a scene key")
        scene = await self.store.get_scene(key)
        if scene is None:  # "if the specified scene is not present, then it will be created"
            scene = await self.create(sin, key, viewer)
        elif not viewer.can_see(scene.user, scene.public):
            raise NotFound(f"no scene with key {key!r}")
        device = await self._device(din)
        existing = {r.scene: r for r in await self.store.registrations(device=device.key)}
        reg = existing.get(key)
        origin = ""
        if reg is None:
            given = _transform_in(din.transform)
            derived: DeviceTransform | None = None
            for other in existing.values():
                m_os = await self._path(other.scene, key)
                if m_os is not None:
                    m_sd = tf.matmul(other.transform.matrix(), tf.inverse(m_os))
                    derived, origin = DeviceTransform.from_matrix(m_sd), other.scene
                    break
            reg = Registration(
                scene=key, device=device.key, transform=derived or given or DeviceTransform()
            )
            if derived is None and given is not None:
                await self._link_from_others(key, device.key, given.matrix())
            await self.store.put_registration(reg)
        self._attach(key, device)
        return Registered(scene, device, reg, origin)

    async def deregister(self, key: str, scenes: list[SceneIn]) -> None:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        if not din.key:
            raise MissingData("expected scenes[0].devices[0].key")
        if not await self.store.delete_registration(key, din.key):
            raise NotFound(f"device {din.key!r} is not registered to scene {key!r}")
        self.hub.remove_device(key, din.key)

    async def align(self, key: str, scenes: list[SceneIn]) -> Registration:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        given = _transform_in(din.transform)
        if not din.key or given is None:
            raise MissingData("expected scenes[0].devices[0] with a key and a transform")
        regs = await self.store.registrations(scene=key, device=din.key)
        if not regs:
            raise NotFound("no existing registrations found")
        reg = regs[0].model_copy(update={"transform": given})
        await self.store.put_registration(reg)
        await self._link_from_others(key, din.key, given.matrix())
        return reg
