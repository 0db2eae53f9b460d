"""Snapshots for subscribers: a scene's state at a seq, so that live events continue from it.

The promise to a WebSocket subscriber: the snapshot holds the effect of every event of the
scene with ``seq <= snapshot.seq``, and every later event arrives live. The adapter keeps it
with a fence (see ``aesel.realtime.ws``): it subscribes *before* loading, with the
subscription holding back (coalescing) whatever arrives while the queries run; then, without
awaiting, :meth:`Snapshots.assemble` overlays the current state of every key those events
touched onto the loaded state, takes the seq, and the held-back events are dropped (they are
in the snapshot). An object created while the queries ran is therefore in the snapshot, and
nothing published after the seq is missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aesel.model.codes import MsgType
from aesel.model.entities import Object3D, Property
from aesel.model.stream import Interest
from aesel.services.objects import ObjectService
from aesel.services.policy import Principal
from aesel.services.properties import PropertyService
from aesel.services.scenes import SceneService

PROPERTY_EVENTS = frozenset(
    {
        MsgType.PROP_CRT,
        MsgType.PROP_UPD,
        MsgType.PROP_DEL,
        MsgType.PROP_FRAME_CRT,
        MsgType.PROP_FRAME_UPD,
        MsgType.PROP_FRAME_DEL,
        MsgType.PROP_ACTION_CRT,
        MsgType.PROP_ACTION_UPD,
        MsgType.PROP_ACTION_DEL,
    }
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    scene: str
    seq: int
    objects: list[Object3D]
    properties: list[Property]


@dataclass(frozen=True, slots=True)
class Loaded:
    objects: list[Object3D]
    properties: list[Property]


class Snapshots:
    def __init__(
        self,
        scenes: SceneService,
        objects: ObjectService,
        properties: PropertyService,
        last_seq: Callable[[str], int],
        *,
        limit: int = 100_000,
    ) -> None:
        self.scenes = scenes
        self.objects = objects
        self.properties = properties
        self.last_seq = last_seq
        self.limit = limit

    async def load(self, scene: str, who: Principal) -> Loaded:
        """The scene's content, when ``who`` may read the scene (``NotFound`` otherwise).

        Whoever sees everything (auth off, admins) may subscribe to a scene that was never
        created: objects posted to it stream all the same.
        """
        if not who.sees_all:
            await self.scenes.get(scene, who)
        objects = await self.objects.query([], scene, self.limit, who)
        properties = await self.properties.query([], scene, self.limit, who)
        return Loaded(objects, properties)

    def assemble(
        self,
        scene: str,
        loaded: Loaded,
        touched: Iterable[tuple[str, int]],
        interest: Interest | None,
    ) -> Snapshot:
        """The snapshot as of now (synchronous: nothing may be published meanwhile).

        ``touched`` are ``(key, msg_type)`` of the events held back during the load.
        """
        otable, ptable = self.objects.table, self.properties.table
        objs = {o.key: o for o in loaded.objects}
        props = {p.key: p for p in loaded.properties}
        for key, msg_type in touched:
            # the current value where this node has it; a key another node changed and this
            # one does not cache keeps its loaded value (see docs/realtime.md, section 9)
            if msg_type in PROPERTY_EVENTS:
                p = ptable.peek(key)
                if p is not None or ptable.is_deleted(key):
                    props.pop(key, None)
                if p is not None and p.scene == scene:
                    props[key] = p
            else:
                o = otable.peek(key)
                if o is not None or otable.is_deleted(key):
                    objs.pop(key, None)
                if o is not None and o.scene == scene:
                    objs[key] = o
        objects = [
            o
            for o in (otable.peek(k) or o for k, o in objs.items())
            if not otable.is_deleted(o.key)
        ]
        properties = [
            p
            for p in (ptable.peek(k) or p for k, p in props.items())
            if not ptable.is_deleted(p.key)
        ]
        if interest is not None:
            objects = [
                o
                for o in objects
                if interest.contains((o.transform[3], o.transform[7], o.transform[11]))
            ]
        objects.sort(key=lambda o: o.key)
        properties.sort(key=lambda p: p.key)
        return Snapshot(scene, self.last_seq(scene), objects, properties)
