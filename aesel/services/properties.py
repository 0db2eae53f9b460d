"""Properties: the same life cycle as objects, without locks or transforms.

Every event carries its real msg_type (the original published every one as 9). Rights come
from the property's scene (:mod:`.content`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aesel.errors import MissingData, NotFound
from aesel.model.codes import MsgType
from aesel.model.entities import Property
from aesel.model.ids import new_object_id
from aesel.model.updates import new_property, update_property
from aesel.model.wire import PropertyActionIn, PropertyFrameIn, PropertyIn
from aesel.services.content import SceneContent, applied
from aesel.services.directory import SceneDirectory
from aesel.services.live import LiveTable
from aesel.services.policy import Action, Principal
from aesel.services.ports import Publisher
from aesel.storage.base import PropertyFilter, PropertyStore


class PropertyService(SceneContent[Property, PropertyIn]):
    noun = "property"
    kinds = frozenset(
        {MsgType.PROP_CRT, MsgType.PROP_UPD, MsgType.PROP_DEL}
        | set(range(MsgType.PROP_FRAME_CRT, MsgType.PROP_ACTION_DEL + 1))
    )
    deletes = MsgType.PROP_DEL
    updates = MsgType.PROP_UPD

    def __init__(
        self,
        store: PropertyStore,
        directory: SceneDirectory,
        bus: Publisher,
        drops: Counter[str],
        *,
        flush_interval: float,
    ) -> None:
        table: LiveTable[Property] = LiveTable(
            "properties",
            store.get_property,
            store.put_properties,
            store.delete_property,
            flush_interval=flush_interval,
        )
        super().__init__(table, directory, bus, drops)
        self.store = store

    async def create(
        self, items: Sequence[PropertyIn], url_scene: str, who: Principal
    ) -> list[Property]:
        if not items:
            raise MissingData("properties is empty, expected at least one property")
        props = [
            applied(new_property, inp, new_object_id(), inp.scene or url_scene) for inp in items
        ]
        for scene in {p.scene for p in props}:
            await self.require(who, Action.WRITE, scene)
        await self.table.put(props)
        for p in props:
            self.forget_absent(p.key)
            self.publish(MsgType.PROP_CRT, p, all_actions=True)
        return props

    async def update(self, key: str, inp: PropertyIn, url_scene: str, who: Principal) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        new = applied(update_property, prop, inp)
        if not new.scene and url_scene:
            new = new.model_copy(update={"scene": url_scene})
        if new.scene != prop.scene:  # a move needs the right to write both scenes
            await self.require(who, Action.WRITE, new.scene)
        await self.table.put([new])
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self.publish(MsgType.PROP_UPD, new, touched)
        return new

    async def delete(self, key: str, who: Principal) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        await self.table.delete(key)
        self.publish(MsgType.PROP_DEL, prop)
        return prop

    async def query(
        self, items: Sequence[PropertyIn], url_scene: str, limit: int, who: Principal
    ) -> list[Property]:
        await self.table.flush()
        filters = [
            PropertyFilter(
                scene=inp.scene or url_scene or None,
                name=inp.name or None,
                parent=inp.parent or None,
                asset_sub_id=inp.asset_sub_id or None,
            )
            for inp in items or [PropertyIn()]
        ]
        found = await self.store.query_properties(filters, limit)
        return await self.readable([self.table.peek(p.key) or p for p in found], who)

    # -- actions and keyframes ------------------------------------------------------------

    async def _change_actions(
        self, key: str, action: PropertyActionIn, msg_type: MsgType, who: Principal
    ) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        new = applied(update_property, prop, PropertyIn(actions=[action]))
        await self.table.put([new])
        assert action.name is not None
        self.publish(msg_type, new, [new.actions[action.name]])
        return new

    async def create_action(self, key: str, action: PropertyActionIn, who: Principal) -> Property:
        if not action.name:
            raise MissingData("action has no name")
        return await self._change_actions(key, action, MsgType.PROP_ACTION_CRT, who)

    async def update_action(
        self, key: str, name: str, action: PropertyActionIn, who: Principal
    ) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        if name not in prop.actions:
            raise NotFound(f"property {key!r} has no action {name!r}")
        return await self._change_actions(
            key, action.model_copy(update={"name": name}), MsgType.PROP_ACTION_UPD, who
        )

    async def delete_action(self, key: str, name: str, who: Principal) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        action = prop.actions.get(name)
        if action is None:
            raise NotFound(f"property {key!r} has no action {name!r}")
        new = prop.model_copy(
            update={"actions": {n: a for n, a in prop.actions.items() if n != name}}
        )
        await self.table.put([new])
        self.publish(MsgType.PROP_ACTION_DEL, new, [action])
        return new

    async def put_keyframe(
        self, key: str, name: str, frame: PropertyFrameIn, *, create: bool, who: Principal
    ) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        action = prop.actions.get(name)
        if action is None:
            raise NotFound(f"property {key!r} has no action {name!r}")
        if frame.frame is None:
            raise MissingData("keyframe has no frame")
        if not create and frame.frame not in action.keyframes:
            raise NotFound(f"action {name!r} has no keyframe {frame.frame}")
        new = applied(
            update_property,
            prop,
            PropertyIn(actions=[PropertyActionIn(name=name, keyframes=[frame])]),
        )
        await self.table.put([new])
        one = new.actions[name].model_copy(
            update={"keyframes": {frame.frame: new.actions[name].keyframes[frame.frame]}}
        )
        self.publish(MsgType.PROP_FRAME_CRT if create else MsgType.PROP_FRAME_UPD, new, [one])
        return new

    async def delete_keyframe(self, key: str, name: str, frame: int, who: Principal) -> Property:
        prop = await self.get(key, who, Action.WRITE)
        action = prop.actions.get(name)
        if action is None or frame not in action.keyframes:
            raise NotFound(f"property {key!r} has no keyframe {frame} in action {name!r}")
        gone = action.model_copy(update={"keyframes": {frame: action.keyframes[frame]}})
        kept = action.model_copy(
            update={"keyframes": {f: k for f, k in action.keyframes.items() if f != frame}}
        )
        new = prop.model_copy(update={"actions": {**prop.actions, name: kept}})
        await self.table.put([new])
        self.publish(MsgType.PROP_FRAME_DEL, new, [gone])
        return new

    # -- streamed updates -----------------------------------------------------------------

    def apply_stream(
        self, entity: Property, inp: PropertyIn, msg_type: int, who: Principal, t_in: int
    ) -> None:
        new = applied(update_property, entity, inp)
        self.table.put_streamed(new)
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self.publish_at(MsgType(msg_type), new, touched, t_in=t_in)
