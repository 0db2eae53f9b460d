"""Scenes, registrations and the transforms between devices and scenes.

Transforms (docs/compat.md §3.5), as 4x4 matrices acting on column vectors:

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
import socket
from collections import deque
from dataclasses import dataclass

from aesel.errors import BadRequest, Conflict, Forbidden, MissingData, NotFound
from aesel.model import transform as tf
from aesel.model.entities import Device, DeviceTransform, Registration, Scene
from aesel.model.ids import new_uuid
from aesel.model.stream import Format
from aesel.model.wire import DeviceIn, DeviceTransformIn, SceneIn
from aesel.services import policy
from aesel.services.destinations import DEFAULT, Destinations
from aesel.services.directory import SceneDirectory
from aesel.services.policy import Action, Principal
from aesel.services.ports import DeviceKeys, NoRegistrations, RegistrationSink
from aesel.storage.base import SceneFilter, SceneStore

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


ENCRYPTIONS = ("", "none", "cbc", "gcm")
FRAMES = ("", "scene", "device")


class TooManyDevices(Forbidden):
    reason = "too_many_devices"


class _NoKeys:
    enabled = False

    def issue(self) -> str:
        raise BadRequest("this node issues no device keys")


class SceneService:
    """Scenes and registrations. Registration changes go to ``sink`` (the UDP egress)."""

    def __init__(
        self,
        store: SceneStore,
        *,
        directory: SceneDirectory | None = None,
        sink: RegistrationSink | None = None,
        keys: DeviceKeys | None = None,
        destinations: Destinations = DEFAULT,
        max_devices_per_scene: int = 1000,
        max_devices_per_user: int = 100,
        response_extra: dict[str, object] | None = None,
    ) -> None:
        self.store = store
        self.directory = directory or SceneDirectory(store)
        self.sink: RegistrationSink = sink or NoRegistrations()
        self.keys: DeviceKeys = keys or _NoKeys()
        self.destinations = destinations
        self.max_devices_per_scene = max_devices_per_scene
        self.max_devices_per_user = max_devices_per_user
        # extra fields of the registration response (Aesel's CBC key texts), set at start
        self.response_extra: dict[str, object] = response_extra or {}
        # scene -> device keys registered to it; user -> their registered device keys
        self._by_scene: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}

    def _attached(self, scene: str, device: Device, transform: DeviceTransform) -> None:
        self._by_scene.setdefault(scene, set()).add(device.key)
        if device.user:
            self._by_user.setdefault(device.user, set()).add(device.key)
        self.sink.attached(scene, device)
        self.sink.transformed(scene, device, transform.matrix())

    def _detached(self, scene: str, device: str) -> None:
        keys = self._by_scene.get(scene)
        if keys is not None:
            keys.discard(device)
            if not keys:
                del self._by_scene[scene]
        self.sink.detached(scene, device)

    async def load_registrations(self) -> int:
        """Publish the durable registrations (at start-up), in one store round trip."""
        found = await self.store.registrations_with_devices()
        for reg, device in found:
            self._attached(reg.scene, device, reg.transform)
        return len(found)

    # -- scenes ---------------------------------------------------------------------------

    async def create(self, inp: SceneIn, key: str | None, viewer: Principal) -> Scene:
        """A new scene owned by ``viewer``; :class:`Conflict` when the key is taken."""
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
        try:
            await self.store.insert_scene(scene)
        except Conflict:
            raise Conflict(f"scene {key!r} exists; update it with POST /v1/scene/{key}") from None
        self.directory.changed(scene)
        return scene

    async def get(self, key: str, viewer: Principal, action: Action = Action.READ) -> Scene:
        scene = await self.store.get_scene(key)
        if scene is None:
            raise NotFound(f"no scene with key {key!r}")
        self.directory.changed(scene)
        policy.require(viewer, action, scene.user, scene.public, f"scene with key {key!r}")
        return scene

    async def update(
        self, key: str, inp: SceneIn, operation: int | None, viewer: Principal
    ) -> Scene:
        scene = await self.get(key, viewer, Action.ADMIN)
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
        self.directory.changed(scene)
        return scene

    async def delete(self, key: str, viewer: Principal) -> None:
        await self.get(key, viewer, Action.ADMIN)
        await self.store.delete_scene(key)
        self.directory.removed(key)
        for device in self._by_scene.pop(key, set()):
            self.sink.detached(key, device)
        self.sink.scene_removed(key)

    async def query(self, inp: SceneIn, start: int, limit: int, viewer: Principal) -> list[Scene]:
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

    async def edit_asset(self, key: str, asset: str, operation: int, viewer: Principal) -> Scene:
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

    async def _device(self, inp: DeviceIn, viewer: Principal) -> Device:
        key = inp.key or new_uuid()
        old = await self.store.get_device(key)
        if old is not None and old.user != (viewer.user or "") and not viewer.sees_all:
            # a device is its registering user's: nobody else may redirect or re-key it
            raise Forbidden(f"device {key!r} belongs to another user")
        hostname = inp.hostname if inp.hostname is not None else (old.hostname if old else "")
        port = inp.port if inp.port is not None else (old.port if old else 0)
        host = ""
        if hostname and port:
            if not 0 < port < 65536:
                raise BadRequest(f"device port is {port}, expected 1 to 65535")
            host = await self._resolve(hostname, port)
            self.destinations.check(host, port)
        fmt = inp.format if inp.format is not None else (old.format if old else "json")
        if fmt not in {f.value for f in Format}:
            raise BadRequest(f"device format is {fmt!r}, expected 'json', 'batch' or 'binary'")
        enc = inp.encryption if inp.encryption is not None else (old.encryption if old else "")
        if enc not in ENCRYPTIONS:
            raise BadRequest(f"device encryption is {enc!r}, expected 'gcm', 'cbc' or 'none'")
        enc = "gcm" if enc == "gcm" else ""
        if enc == "gcm" and not self.keys.enabled:
            raise BadRequest(
                "device encryption is 'gcm' but gcm is off, "
                "expected a node run with --udp-security gcm"
            )
        gcm_key = (old.gcm_key if old and old.gcm_key else self.keys.issue()) if enc else ""
        frame = inp.frame if inp.frame is not None else (old.frame if old else "")
        if frame not in FRAMES:
            raise BadRequest(f"device frame is {frame!r}, expected 'device' or 'scene'")
        device = Device(
            key=key,
            hostname=hostname,
            host=host,
            port=port,
            connection_string=inp.connection_string or (old.connection_string if old else ""),
            format=fmt,
            encryption=enc,
            gcm_key=gcm_key,
            user=old.user if old is not None else (viewer.user or ""),
            frame="device" if frame == "device" else "",
        )
        if device != old:
            await self.store.put_device(device)
        return device

    def _check_caps(self, scene: str, device: Device) -> None:
        on_scene = self._by_scene.get(scene, set())
        if device.key not in on_scene and len(on_scene) >= self.max_devices_per_scene:
            raise TooManyDevices(
                f"scene {scene!r} has {len(on_scene)} devices, at most "
                f"{self.max_devices_per_scene} allowed"
            )
        mine = self._by_user.get(device.user, set()) if device.user else set()
        if device.key not in mine and len(mine) >= self.max_devices_per_user:
            raise TooManyDevices(
                f"user has {len(mine)} registered devices, at most "
                f"{self.max_devices_per_user} allowed"
            )

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

    async def register(self, key: str, scenes: list[SceneIn], viewer: Principal) -> Registered:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        if not key:
            raise MissingData("expected a scene key")
        scene = await self.store.get_scene(key)
        if scene is None:  # "if the specified scene is not present, then it will be created"
            try:
                scene = await self.create(sin, key, viewer)
            except Conflict:  # created meanwhile (another request or node)
                scene = await self.get(key, viewer)
        else:
            self.directory.changed(scene)
            policy.require(viewer, Action.READ, scene.user, scene.public, f"scene with key {key!r}")
        device = await self._device(din, viewer)
        self._check_caps(key, device)
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
        self._attached(key, device, reg.transform)
        return Registered(scene, device, reg, origin)

    async def _owned_device(self, key: str, device: str, viewer: Principal) -> None:
        """The device's owner, or the scene's administrators, may detach or align it."""
        if viewer.sees_all:
            return
        scene = await self.get(key, viewer)
        d = await self.store.get_device(device)
        if d is not None and d.user and d.user == viewer.user:
            return
        policy.require(viewer, Action.ADMIN, scene.user, scene.public, f"scene with key {key!r}")

    async def device_frame(self, key: str, device: str, viewer: Principal) -> tf.Matrix:
        """``M_SD`` of ``viewer``'s device registered to scene ``key``, for a subscriber that
        asks for the device's frame."""
        regs = await self.store.registrations(scene=key, device=device)
        d = await self.store.get_device(device)
        if not regs or d is None:
            raise NotFound(f"device {device!r} is not registered to scene {key!r}")
        if not viewer.sees_all and d.user != (viewer.user or ""):
            raise Forbidden(f"device {device!r} belongs to another user")
        return regs[0].transform.matrix()

    async def deregister(self, key: str, scenes: list[SceneIn], viewer: Principal) -> None:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        if not din.key:
            raise MissingData("expected scenes[0].devices[0].key")
        await self._owned_device(key, din.key, viewer)
        if not await self.store.delete_registration(key, din.key):
            raise NotFound(f"device {din.key!r} is not registered to scene {key!r}")
        self._detached(key, din.key)

    async def align(self, key: str, scenes: list[SceneIn], viewer: Principal) -> Registration:
        sin, din = self._scene_device(scenes)
        key = key or sin.key or ""
        given = _transform_in(din.transform)
        if not din.key or given is None:
            raise MissingData("expected scenes[0].devices[0] with a key and a transform")
        await self._owned_device(key, din.key, viewer)
        regs = await self.store.registrations(scene=key, device=din.key)
        if not regs:
            raise NotFound("no existing registrations found")
        reg = regs[0].model_copy(update={"transform": given})
        await self.store.put_registration(reg)
        await self._link_from_others(key, din.key, given.matrix())
        device = await self.store.get_device(din.key)
        if device is not None:
            self.sink.transformed(key, device, given.matrix())
        return reg
