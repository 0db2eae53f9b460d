"""Objects: create, read, update, delete, query, locks, assets, actions and keyframes.

Every change that Aesel streamed is published once on the bus with its real msg_type
(reference 3.1): creates carry the new key (fixing 7.13). Get, query, lock/unlock and asset
add/remove publish nothing, as in Aesel.

Locks (decisions section 2): while an object is locked by device D, an update that names
another device is refused with ``Locked``; an update that names no device is accepted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from aesel.errors import AeselError, BadRequest, Locked, MissingData, NotFound
from aesel.model.codes import MsgType
from aesel.model.entities import Object3D, ObjectAction
from aesel.model.ids import new_object_id
from aesel.model.updates import InvalidUpdate, new_object, update_object
from aesel.model.wire import ObjectActionIn, ObjectFrameIn, ObjectIn
from aesel.realtime.bus import Bus
from aesel.realtime.event import Event
from aesel.services.live import LiveTable
from aesel.storage.base import ObjectFilter, ObjectStore

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def check_lock(owner: str, device: str | None) -> None:
    if owner and device and device != owner:
        raise Locked(f"object is locked by device {owner!r}, not {device!r}")


def _applied(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Calls a pure update function, turning ``InvalidUpdate`` into ``BadRequest``."""
    try:
        return fn(*args, **kwargs)
    except InvalidUpdate as e:
        raise BadRequest(str(e)) from None


class ObjectService:
    def __init__(
        self, store: ObjectStore, bus: Bus, drops: Counter[str], *, flush_interval: float
    ) -> None:
        self.store = store
        self.bus = bus
        self.drops = drops
        self.table: LiveTable[Object3D] = LiveTable(
            "objects",
            store.get_object,
            store.put_objects,
            store.delete_object,
            flush_interval=flush_interval,
        )
        # streamed updates waiting for their object to load, in arrival order, by key
        self._waiting: dict[str, list[tuple[ObjectIn, int, str | None, int]]] = {}

    # -- publishing -----------------------------------------------------------------------

    def _publish(
        self,
        msg_type: MsgType,
        obj: Object3D,
        *,
        actions: Sequence[ObjectAction] = (),
        t_in: int = 0,
    ) -> None:
        payload: dict[str, Any] = {"msg_type": int(msg_type), **obj.to_json(actions=False)}
        if actions:
            payload["actions"] = [a.to_json() for a in actions]
        elif msg_type == MsgType.OBJ_CRT:
            payload["actions"] = [a.to_json() for a in obj.actions.values()]
        self.bus.publish(
            Event(obj.scene, int(msg_type), obj.key, payload, t_in=t_in or time.perf_counter_ns())
        )

    # -- CRUD -----------------------------------------------------------------------------

    async def get(self, key: str) -> Object3D:
        obj = await self.table.get(key)
        if obj is None:
            raise NotFound(f"no object with key {key!r}")
        return obj

    async def create(self, items: Sequence[ObjectIn], url_scene: str) -> list[Object3D]:
        if not items:
            raise MissingData("objects is empty, expected at least one object")
        objs = [_applied(new_object, inp, new_object_id(), inp.scene or url_scene) for inp in items]
        await self.table.put(objs)
        for o in objs:
            self._publish(MsgType.OBJ_CRT, o)
        return objs

    async def update(self, key: str, inp: ObjectIn, url_scene: str, device: str | None) -> Object3D:
        obj = await self.get(key)
        check_lock(obj.owner, device)
        new = _applied(update_object, obj, inp)
        if not new.scene and url_scene:
            new = new.model_copy(update={"scene": url_scene})
        await self.table.put([new])
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self._publish(MsgType.OBJ_UPD, new, actions=touched)
        return new

    async def delete(self, key: str) -> Object3D:
        obj = await self.get(key)
        await self.table.delete(key)
        self._publish(MsgType.OBJ_DEL, obj)
        return obj

    async def query(self, items: Sequence[ObjectIn], url_scene: str, limit: int) -> list[Object3D]:
        """Objects matching any of ``items`` (each an exact-match AND), at most ``limit``."""
        await self.table.flush()
        filters = [
            ObjectFilter(
                scene=inp.scene or url_scene or None,
                name=inp.name or None,
                type=inp.type or None,
                subtype=inp.subtype or None,
                owner=inp.owner or None,
                parent=inp.parent or None,
                asset_sub_id=inp.asset_sub_id or None,
                assets=tuple(inp.assets) if inp.assets else None,
            )
            for inp in items or [ObjectIn()]
        ]
        found = await self.store.query_objects(filters, limit)
        return [self.table.peek(o.key) or o for o in found]

    # -- locks and assets (no events, as in Aesel) ----------------------------------------

    async def lock(self, key: str, device: str) -> Object3D:
        obj = await self.get(key)
        check_lock(obj.owner, device)
        if obj.owner != device:
            obj = obj.model_copy(update={"owner": device})
            await self.table.put([obj])
        return obj

    async def unlock(self, key: str, device: str) -> Object3D:
        obj = await self.get(key)
        check_lock(obj.owner, device)
        if obj.owner:
            obj = obj.model_copy(update={"owner": ""})
            await self.table.put([obj])
        return obj

    async def add_asset(self, key: str, asset: str) -> Object3D:
        obj = await self.get(key)
        if asset not in obj.assets:
            obj = obj.model_copy(update={"assets": (*obj.assets, asset)})
            await self.table.put([obj])
        return obj

    async def remove_asset(self, key: str, asset: str) -> Object3D:
        obj = await self.get(key)
        if asset not in obj.assets:
            raise NotFound(f"object {key!r} has no asset {asset!r}")
        obj = obj.model_copy(update={"assets": tuple(a for a in obj.assets if a != asset)})
        await self.table.put([obj])
        return obj

    # -- actions and keyframes ------------------------------------------------------------

    async def _change_actions(
        self, key: str, action: ObjectActionIn, msg_type: MsgType, device: str | None
    ) -> Object3D:
        obj = await self.get(key)
        check_lock(obj.owner, device)
        new = _applied(update_object, obj, ObjectIn(actions=[action]))
        await self.table.put([new])
        assert action.name is not None
        self._publish(msg_type, new, actions=[new.actions[action.name]])
        return new

    async def create_action(self, key: str, action: ObjectActionIn, device: str | None) -> Object3D:
        if not action.name:
            raise MissingData("action has no name")
        return await self._change_actions(key, action, MsgType.OBJ_ACTION_CRT, device)

    async def update_action(
        self, key: str, name: str, action: ObjectActionIn, device: str | None
    ) -> Object3D:
        obj = await self.get(key)
        if name not in obj.actions:
            raise NotFound(f"object {key!r} has no action {name!r}")
        body = action.model_copy(update={"name": name})
        return await self._change_actions(key, body, MsgType.OBJ_ACTION_UPD, device)

    async def delete_action(self, key: str, name: str, device: str | None) -> Object3D:
        obj = await self.get(key)
        check_lock(obj.owner, device)
        action = obj.actions.get(name)
        if action is None:
            raise NotFound(f"object {key!r} has no action {name!r}")
        new = obj.model_copy(
            update={"actions": {n: a for n, a in obj.actions.items() if n != name}}
        )
        await self.table.put([new])
        self._publish(MsgType.OBJ_ACTION_DEL, new, actions=[action])
        return new

    async def put_keyframe(
        self, key: str, name: str, frame: ObjectFrameIn, *, create: bool, device: str | None
    ) -> Object3D:
        obj = await self.get(key)
        action = obj.actions.get(name)
        if action is None:
            raise NotFound(f"object {key!r} has no action {name!r}")
        if frame.frame is None:
            raise MissingData("keyframe has no frame")
        if not create and frame.frame not in action.keyframes:
            raise NotFound(f"action {name!r} has no keyframe {frame.frame}")
        check_lock(obj.owner, device)
        new = _applied(
            update_object, obj, ObjectIn(actions=[ObjectActionIn(name=name, keyframes=[frame])])
        )
        await self.table.put([new])
        one = new.actions[name].model_copy(
            update={"keyframes": {frame.frame: new.actions[name].keyframes[frame.frame]}}
        )
        msg = MsgType.OBJ_FRAME_CRT if create else MsgType.OBJ_FRAME_UPD
        self._publish(msg, new, actions=[one])
        return new

    async def delete_keyframe(
        self, key: str, name: str, frame: int, device: str | None
    ) -> Object3D:
        obj = await self.get(key)
        action = obj.actions.get(name)
        if action is None or frame not in action.keyframes:
            raise NotFound(f"object {key!r} has no keyframe {frame} in action {name!r}")
        check_lock(obj.owner, device)
        gone = action.model_copy(update={"keyframes": {frame: action.keyframes[frame]}})
        kept = action.model_copy(
            update={"keyframes": {f: k for f, k in action.keyframes.items() if f != frame}}
        )
        new = obj.model_copy(update={"actions": {**obj.actions, name: kept}})
        await self.table.put([new])
        self._publish(MsgType.OBJ_FRAME_DEL, new, actions=[gone])
        return new

    # -- streamed updates (UDP, WebSocket) ------------------------------------------------

    def stream(self, inp: ObjectIn, msg_type: int, device: str | None, t_in: int) -> None:
        """Apply a streamed update (msg_type 1, 16 or 20) and publish it.

        Runs synchronously when the object is cached (the common case); otherwise the object
        is loaded first and updates for it are applied in arrival order. Errors raise
        ``AeselError`` here, or are counted in ``drops`` when they happen after the load.
        """
        if not inp.key:
            raise MissingData("event has no key")
        waiting = self._waiting.get(inp.key)
        if waiting is not None:  # keep arrival order behind a load in flight
            waiting.append((inp, msg_type, device, t_in))
            return
        obj = self.table.peek(inp.key)
        if obj is not None:
            self._apply_stream(obj, inp, msg_type, device, t_in)
        elif self.table.is_deleted(inp.key):
            raise NotFound(f"no object with key {inp.key!r}")
        else:
            self._waiting[inp.key] = [(inp, msg_type, device, t_in)]
            asyncio.get_running_loop().create_task(self._stream_after_load(inp.key))

    async def _stream_after_load(self, key: str) -> None:
        """Load the object, then apply every update queued for it meanwhile, in order."""
        try:
            loaded: Object3D | AeselError | None = await self.table.get(key)
        except AeselError as e:  # the store is down: every waiting update is dropped for it
            loaded = e
        for inp, msg_type, device, t_in in self._waiting.pop(key, []):
            try:
                if isinstance(loaded, AeselError):
                    raise loaded
                obj = self.table.peek(key) or loaded
                if obj is None:
                    raise NotFound(f"no object with key {key!r}")
                self._apply_stream(obj, inp, msg_type, device, t_in)
            except AeselError as e:
                self.drops[e.reason] += 1
                log.debug("dropped streamed object update: %s", e.message)

    def stream_transform(
        self, key: str, scene: str, transform: tuple[float, ...], device: str | None, t_in: int
    ) -> bool:
        """The hot path of ``stream`` for a bare transform update (msg_type 1 with only key,
        scene, transform and device, already checked by the caller): same outcome, without
        building an ``ObjectIn``. Returns False when the object is not cached or updates for it
        are waiting on a load; the caller then takes the general path.
        """
        obj = self.table.peek(key)
        if obj is None or key in self._waiting:
            return False
        check_lock(obj.owner, device)
        changes: dict[str, object] = {"transform": transform}
        if scene:
            changes["scene"] = scene
        new = obj.model_copy(update=changes)
        self.table.put_streamed(new)
        self._publish(MsgType.OBJ_UPD, new, t_in=t_in)
        return True

    def _apply_stream(
        self, obj: Object3D, inp: ObjectIn, msg_type: int, device: str | None, t_in: int
    ) -> None:
        check_lock(obj.owner, device)
        new = _applied(update_object, obj, inp)
        self.table.put_streamed(new)
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self._publish(MsgType(msg_type), new, actions=touched, t_in=t_in)
