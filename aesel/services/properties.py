"""Properties: the same life cycle as objects, without locks or transforms.

Every event carries its real msg_type (fixing reference 7.12, where all were 9).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from aesel.errors import AeselError, MissingData, NotFound
from aesel.model.codes import MsgType
from aesel.model.entities import Property, PropertyAction
from aesel.model.ids import new_object_id
from aesel.model.updates import new_property, update_property
from aesel.model.wire import PropertyActionIn, PropertyFrameIn, PropertyIn
from aesel.realtime.bus import Bus
from aesel.realtime.event import Event
from aesel.services.live import LiveTable
from aesel.services.objects import _applied
from aesel.storage.base import PropertyFilter, PropertyStore

log = logging.getLogger(__name__)


class PropertyService:
    def __init__(
        self, store: PropertyStore, bus: Bus, drops: Counter[str], *, flush_interval: float
    ) -> None:
        self.store = store
        self.bus = bus
        self.drops = drops
        self.table: LiveTable[Property] = LiveTable(
            "properties",
            store.get_property,
            store.put_properties,
            store.delete_property,
            flush_interval=flush_interval,
        )
        # streamed updates waiting for their property to load, in arrival order, by key
        self._waiting: dict[str, list[tuple[PropertyIn, int, int]]] = {}

    def _publish(
        self,
        msg_type: MsgType,
        prop: Property,
        *,
        actions: Sequence[PropertyAction] = (),
        t_in: int = 0,
    ) -> None:
        payload: dict[str, Any] = {"msg_type": int(msg_type), **prop.to_json(actions=False)}
        if actions:
            payload["actions"] = [a.to_json() for a in actions]
        elif msg_type == MsgType.PROP_CRT:
            payload["actions"] = [a.to_json() for a in prop.actions.values()]
        self.bus.publish(
            Event(prop.scene, int(msg_type), prop.key, payload, t_in=t_in or time.perf_counter_ns())
        )

    async def get(self, key: str) -> Property:
        prop = await self.table.get(key)
        if prop is None:
            raise NotFound(f"no property with key {key!r}")
        return prop

    async def create(self, items: Sequence[PropertyIn], url_scene: str) -> list[Property]:
        if not items:
            raise MissingData("properties is empty, expected at least one property")
        props = [
            _applied(new_property, inp, new_object_id(), inp.scene or url_scene) for inp in items
        ]
        await self.table.put(props)
        for p in props:
            self._publish(MsgType.PROP_CRT, p)
        return props

    async def update(self, key: str, inp: PropertyIn, url_scene: str) -> Property:
        prop = await self.get(key)
        new = _applied(update_property, prop, inp)
        if not new.scene and url_scene:
            new = new.model_copy(update={"scene": url_scene})
        await self.table.put([new])
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self._publish(MsgType.PROP_UPD, new, actions=touched)
        return new

    async def delete(self, key: str) -> Property:
        prop = await self.get(key)
        await self.table.delete(key)
        self._publish(MsgType.PROP_DEL, prop)
        return prop

    async def query(
        self, items: Sequence[PropertyIn], url_scene: str, limit: int
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
        return [self.table.peek(p.key) or p for p in found]

    # -- actions and keyframes ------------------------------------------------------------

    async def _change_actions(
        self, key: str, action: PropertyActionIn, msg_type: MsgType
    ) -> Property:
        prop = await self.get(key)
        new = _applied(update_property, prop, PropertyIn(actions=[action]))
        await self.table.put([new])
        assert action.name is not None
        self._publish(msg_type, new, actions=[new.actions[action.name]])
        return new

    async def create_action(self, key: str, action: PropertyActionIn) -> Property:
        if not action.name:
            raise MissingData("action has no name")
        return await self._change_actions(key, action, MsgType.PROP_ACTION_CRT)

    async def update_action(self, key: str, name: str, action: PropertyActionIn) -> Property:
        prop = await self.get(key)
        if name not in prop.actions:
            raise NotFound(f"property {key!r} has no action {name!r}")
        return await self._change_actions(
            key, action.model_copy(update={"name": name}), MsgType.PROP_ACTION_UPD
        )

    async def delete_action(self, key: str, name: str) -> Property:
        prop = await self.get(key)
        action = prop.actions.get(name)
        if action is None:
            raise NotFound(f"property {key!r} has no action {name!r}")
        new = prop.model_copy(
            update={"actions": {n: a for n, a in prop.actions.items() if n != name}}
        )
        await self.table.put([new])
        self._publish(MsgType.PROP_ACTION_DEL, new, actions=[action])
        return new

    async def put_keyframe(
        self, key: str, name: str, frame: PropertyFrameIn, *, create: bool
    ) -> Property:
        prop = await self.get(key)
        action = prop.actions.get(name)
        if action is None:
            raise NotFound(f"property {key!r} has no action {name!r}")
        if frame.frame is None:
            raise MissingData("keyframe has no frame")
        if not create and frame.frame not in action.keyframes:
            raise NotFound(f"action {name!r} has no keyframe {frame.frame}")
        new = _applied(
            update_property,
            prop,
            PropertyIn(actions=[PropertyActionIn(name=name, keyframes=[frame])]),
        )
        await self.table.put([new])
        one = new.actions[name].model_copy(
            update={"keyframes": {frame.frame: new.actions[name].keyframes[frame.frame]}}
        )
        self._publish(
            MsgType.PROP_FRAME_CRT if create else MsgType.PROP_FRAME_UPD, new, actions=[one]
        )
        return new

    async def delete_keyframe(self, key: str, name: str, frame: int) -> Property:
        prop = await self.get(key)
        action = prop.actions.get(name)
        if action is None or frame not in action.keyframes:
            raise NotFound(f"property {key!r} has no keyframe {frame} in action {name!r}")
        gone = action.model_copy(update={"keyframes": {frame: action.keyframes[frame]}})
        kept = action.model_copy(
            update={"keyframes": {f: k for f, k in action.keyframes.items() if f != frame}}
        )
        new = prop.model_copy(update={"actions": {**prop.actions, name: kept}})
        await self.table.put([new])
        self._publish(MsgType.PROP_FRAME_DEL, new, actions=[gone])
        return new

    # -- streamed updates -----------------------------------------------------------------

    def stream(self, inp: PropertyIn, msg_type: int, t_in: int) -> None:
        """Apply a streamed update (msg_type 9, 24 or 28); see ``ObjectService.stream``."""
        if not inp.key:
            raise MissingData("event has no key")
        waiting = self._waiting.get(inp.key)
        if waiting is not None:  # keep arrival order behind a load in flight
            waiting.append((inp, msg_type, t_in))
            return
        prop = self.table.peek(inp.key)
        if prop is not None:
            self._apply_stream(prop, inp, msg_type, t_in)
        elif self.table.is_deleted(inp.key):
            raise NotFound(f"no property with key {inp.key!r}")
        else:
            self._waiting[inp.key] = [(inp, msg_type, t_in)]
            asyncio.get_running_loop().create_task(self._stream_after_load(inp.key))

    async def _stream_after_load(self, key: str) -> None:
        """Load the property, then apply every update queued for it meanwhile, in order."""
        try:
            loaded: Property | AeselError | None = await self.table.get(key)
        except AeselError as e:  # the store is down: every waiting update is dropped for it
            loaded = e
        for inp, msg_type, t_in in self._waiting.pop(key, []):
            try:
                if isinstance(loaded, AeselError):
                    raise loaded
                prop = self.table.peek(key) or loaded
                if prop is None:
                    raise NotFound(f"no property with key {key!r}")
                self._apply_stream(prop, inp, msg_type, t_in)
            except AeselError as e:
                self.drops[e.reason] += 1
                log.debug("dropped streamed property update: %s", e.message)

    def _apply_stream(self, prop: Property, inp: PropertyIn, msg_type: int, t_in: int) -> None:
        new = _applied(update_property, prop, inp)
        self.table.put_streamed(new)
        touched = [new.actions[a.name] for a in inp.actions or () if a.name]
        self._publish(MsgType(msg_type), new, actions=touched, t_in=t_in)
