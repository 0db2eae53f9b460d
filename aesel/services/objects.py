"""Objects: create, read, update, delete, query, locks, assets, actions and keyframes.

Every change that Aesel streamed is published once on the bus with its real msg_type
(docs/compat.md §3.1): creates carry the new key. Get, query, lock/unlock and asset add/remove
publish nothing, as in Aesel. Rights come from the object's scene (:mod:`.content`).

Locks: while an object is locked by device D, an update that names another device is refused
with ``Locked``; an update that names no device is accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aesel.errors import Locked, MissingData, NotFound
from aesel.model.codes import MsgType
from aesel.model.entities import Object3D
from aesel.model.ids import new_object_id
from aesel.model.inbound import BareTransform
from aesel.model.updates import new_object, update_object
from aesel.model.wire import ObjectActionIn, ObjectFrameIn, ObjectIn
from aesel.services.content import SceneContent, applied
from aesel.services.directory import SceneDirectory
from aesel.services.live import LiveTable
from aesel.services.policy import Action, Principal
from aesel.services.ports import Publisher
from aesel.storage.base import ObjectFilter, ObjectStore


def check_lock(owner: str, device: str | None) -> None:
    if owner and device and device != owner:
        raise Locked(f"object is locked by device {owner!r}, not {device!r}")


class ObjectService(SceneContent[Object3D, ObjectIn]):
    noun = "object"
    kinds = frozenset(
        {MsgType.OBJ_CRT, MsgType.OBJ_UPD, MsgType.OBJ_DEL, MsgType.OBJ_OVERWRITE}
        | set(range(MsgType.OBJ_FRAME_CRT, MsgType.OBJ_ACTION_DEL + 1))
    )
    deletes = MsgType.OBJ_DEL
    updates = MsgType.OBJ_UPD

    def __init__(
        self,
        store: ObjectStore,
        directory: SceneDirectory,
        bus: Publisher,
        drops: Counter[str],
        *,
        flush_interval: float,
    ) -> None:
        table: LiveTable[Object3D] = LiveTable(
            "objects",
            store.get_object,
            store.put_objects,
            store.delete_object,
            flush_interval=flush_interval,
        )
        super().__init__(table, directory, bus, drops)
        self.store = store

    # -- CRUD -----------------------------------------------------------------------------

    async def create(
        self, items: Sequence[ObjectIn], url_scene: str, who: Principal
    ) -> list[Object3D]:
        if not items:
            raise MissingData("objects is empty, expected at least one object")
        objs = [applied(new_object, inp, new_object_id(), inp.scene or url_scene) for inp in items]
        for scene in {o.scene for o in objs}:
            await self.require(who, Action.WRITE, scene)
        await self.table.put(objs)
        for o in objs:
            self.forget_absent(o.key)
            self.publish(MsgType.OBJ_CRT, o, all_actions=True)
        return objs

    async def update(
        self, key: str, inp: ObjectIn, url_scene: str, device: str | None, who: Principal
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        check_lock(obj.owner, device)
        new = applied(update_object, obj, inp)
        if not new.scene and url_scene:
            new = new.model_copy(update={"scene": url_scene})
        if new.scene != obj.scene:  # a move needs the right to write both scenes
            await self.require(who, Action.WRITE, new.scene)
        await self.table.put([new])
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self.publish(MsgType.OBJ_UPD, new, touched)
        return new

    async def delete(self, key: str, who: Principal) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        await self.table.delete(key)
        self.publish(MsgType.OBJ_DEL, obj)
        return obj

    async def query(
        self, items: Sequence[ObjectIn], url_scene: str, limit: int, who: Principal
    ) -> list[Object3D]:
        """Objects matching any of ``items`` (each an exact-match AND), at most ``limit``,
        in the scenes ``who`` may read."""
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
        return await self.readable([self.table.peek(o.key) or o for o in found], who)

    # -- locks and assets (no events, as in Aesel) ----------------------------------------

    async def _put(self, obj: Object3D, **changes: object) -> Object3D:
        new = obj.model_copy(update=changes)
        await self.table.put([new])
        self.touched(new)
        return new

    async def lock(self, key: str, device: str, who: Principal) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        check_lock(obj.owner, device)
        return obj if obj.owner == device else await self._swap_owner(obj, device)

    async def unlock(self, key: str, device: str, who: Principal) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        check_lock(obj.owner, device)
        return await self._swap_owner(obj, "") if obj.owner else obj

    async def _swap_owner(self, obj: Object3D, owner: str) -> Object3D:
        """Change the lock holder with the store's compare-and-set, so that of two nodes
        taking one free lock at once, one wins (the other answers 423)."""
        done = await self.store.swap_object_owner(obj.key, obj.owner, owner)
        if done is None:  # another node changed the lock (or deleted the object) meanwhile
            self.table.evict(obj.key)
            current = await self.table.get(obj.key)
            if current is None:
                raise NotFound(f"no object with key {obj.key!r}")
            if current.owner == owner:
                return current  # already as asked
            raise Locked(f"object {obj.key!r} is locked by device {current.owner!r}")
        # the cache keeps its newer streamed state (a pending write carries the new owner)
        cached = self.table.peek(obj.key)
        new = (cached or done).model_copy(update={"owner": owner})
        self.table.replace(new)
        self.touched(new)
        return new

    async def add_asset(self, key: str, asset: str, who: Principal) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        if asset in obj.assets:
            return obj
        return await self._put(obj, assets=(*obj.assets, asset))

    async def remove_asset(self, key: str, asset: str, who: Principal) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        if asset not in obj.assets:
            raise NotFound(f"object {key!r} has no asset {asset!r}")
        return await self._put(obj, assets=tuple(a for a in obj.assets if a != asset))

    # -- actions and keyframes ------------------------------------------------------------

    async def _change_actions(
        self,
        key: str,
        action: ObjectActionIn,
        msg_type: MsgType,
        device: str | None,
        who: Principal,
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        check_lock(obj.owner, device)
        new = applied(update_object, obj, ObjectIn(actions=[action]))
        await self.table.put([new])
        assert action.name is not None
        self.publish(msg_type, new, [new.actions[action.name]])
        return new

    async def create_action(
        self, key: str, action: ObjectActionIn, device: str | None, who: Principal
    ) -> Object3D:
        if not action.name:
            raise MissingData("action has no name")
        return await self._change_actions(key, action, MsgType.OBJ_ACTION_CRT, device, who)

    async def update_action(
        self, key: str, name: str, action: ObjectActionIn, device: str | None, who: Principal
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        if name not in obj.actions:
            raise NotFound(f"object {key!r} has no action {name!r}")
        body = action.model_copy(update={"name": name})
        return await self._change_actions(key, body, MsgType.OBJ_ACTION_UPD, device, who)

    async def delete_action(
        self, key: str, name: str, device: str | None, who: Principal
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        check_lock(obj.owner, device)
        action = obj.actions.get(name)
        if action is None:
            raise NotFound(f"object {key!r} has no action {name!r}")
        new = await self._put(obj, actions={n: a for n, a in obj.actions.items() if n != name})
        self.publish(MsgType.OBJ_ACTION_DEL, new, [action])
        return new

    async def put_keyframe(
        self,
        key: str,
        name: str,
        frame: ObjectFrameIn,
        *,
        create: bool,
        device: str | None,
        who: Principal,
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        action = obj.actions.get(name)
        if action is None:
            raise NotFound(f"object {key!r} has no action {name!r}")
        if frame.frame is None:
            raise MissingData("keyframe has no frame")
        if not create and frame.frame not in action.keyframes:
            raise NotFound(f"action {name!r} has no keyframe {frame.frame}")
        check_lock(obj.owner, device)
        new = applied(
            update_object, obj, ObjectIn(actions=[ObjectActionIn(name=name, keyframes=[frame])])
        )
        await self.table.put([new])
        one = new.actions[name].model_copy(
            update={"keyframes": {frame.frame: new.actions[name].keyframes[frame.frame]}}
        )
        self.publish(MsgType.OBJ_FRAME_CRT if create else MsgType.OBJ_FRAME_UPD, new, [one])
        return new

    async def delete_keyframe(
        self, key: str, name: str, frame: int, device: str | None, who: Principal
    ) -> Object3D:
        obj = await self.get(key, who, Action.WRITE)
        action = obj.actions.get(name)
        if action is None or frame not in action.keyframes:
            raise NotFound(f"object {key!r} has no keyframe {frame} in action {name!r}")
        check_lock(obj.owner, device)
        gone = action.model_copy(update={"keyframes": {frame: action.keyframes[frame]}})
        kept = action.model_copy(
            update={"keyframes": {f: k for f, k in action.keyframes.items() if f != frame}}
        )
        new = await self._put(obj, actions={**obj.actions, name: kept})
        self.publish(MsgType.OBJ_FRAME_DEL, new, [gone])
        return new

    # -- streamed updates (UDP, WebSocket) ------------------------------------------------

    def stream_transform(self, bt: BareTransform, who: Principal, t_in: int) -> bool:
        """The hot path of ``stream`` for a bare transform update: same outcome, without
        building an ``ObjectIn``. Returns False when the object or its scene's access is not
        cached, or updates for it are waiting on a load; the caller then takes ``stream``.
        """
        obj = self.table.peek(bt.key)
        if obj is None or bt.key in self._waiting or not self._authorize_now(who, obj, bt.scene):
            return False
        check_lock(obj.owner, bt.device or who.device)
        new = obj.with_transform(bt.transform)
        self.table.put_streamed(new)
        self.publish_at(MsgType.OBJ_UPD, new, t_in=t_in)
        return True

    def apply_stream(
        self, entity: Object3D, inp: ObjectIn, msg_type: int, who: Principal, t_in: int
    ) -> None:
        check_lock(entity.owner, inp.device or who.device)
        new = applied(update_object, entity, inp)
        self.table.put_streamed(new)
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self.publish_at(MsgType(msg_type), new, touched, t_in=t_in)
