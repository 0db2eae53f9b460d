"""What objects and properties share: rights from their scene, events, and streamed updates.

Theory of operation (streamed updates, UDP and WebSocket)
----------------------------------------------------------
``stream`` applies an update synchronously when the entity and its scene's access are cached
(the common case: a device streams the same few objects many times a second). Otherwise the
update waits while one task loads both, and every update for that key that arrives meanwhile
queues behind it, so updates apply in arrival order. Loading is bounded, because a flood of
datagrams naming random keys must not become a flood of store reads queued ahead of REST
writes: at most ``max_loading`` keys wait at once and ``concurrency`` loads run at once; beyond
that an update is dropped as ``overload``. A key found absent is remembered for
``negative_ttl`` seconds, so repeating it costs nothing.

Every change, REST or streamed, asks :mod:`aesel.services.policy` first: reading needs READ on
the entity's scene, changing it WRITE. A streamed update never moves an entity to another
scene (``scene_mismatch``); REST may, with WRITE on both scenes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from aesel.errors import AeselError, BadRequest, NotFound
from aesel.model.event import TOUCH, Event
from aesel.model.updates import InvalidUpdate
from aesel.services import policy
from aesel.services.directory import SceneDirectory
from aesel.services.live import LiveTable
from aesel.services.policy import Action, Principal
from aesel.services.ports import Publisher

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class Overloaded(AeselError):
    status = 503
    reason = "overload"


class SceneMismatch(BadRequest):
    reason = "scene_mismatch"


def applied(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Calls a pure update function, turning ``InvalidUpdate`` into ``BadRequest``."""
    try:
        return fn(*args, **kwargs)
    except InvalidUpdate as e:
        raise BadRequest(str(e)) from None


class SceneEntity(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def scene(self) -> str: ...

    def to_json(self, *, actions: bool = True) -> dict[str, Any]: ...


class HasKey(Protocol):
    @property
    def key(self) -> str | None: ...

    @property
    def scene(self) -> str | None: ...


E = TypeVar("E", bound=SceneEntity)
In = TypeVar("In", bound=HasKey)


class SceneContent(Generic[E, In]):
    """Objects or properties of scenes; see the module docstring."""

    noun = "entity"

    def __init__(
        self,
        table: LiveTable[E],
        directory: SceneDirectory,
        bus: Publisher,
        drops: Counter[str],
        *,
        max_loading: int = 1024,
        concurrency: int = 8,
        negative_ttl: float = 5.0,
    ) -> None:
        self.table = table
        self.directory = directory
        self.bus = bus
        self.drops = drops
        self.max_loading = max_loading
        self.negative_ttl = negative_ttl
        self._loads = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._absent: OrderedDict[str, float] = OrderedDict()  # key -> time found absent
        # streamed updates waiting for their entity to load, in arrival order, by key
        self._waiting: dict[str, list[tuple[In, int, Principal, int]]] = {}

    # -- rights ---------------------------------------------------------------------------

    async def require(self, who: Principal, action: Action, scene: str) -> None:
        if who.sees_all:
            return
        access = await self.directory.get(scene)
        policy.require(who, action, access.owner, access.public, f"scene {scene!r}")

    async def get(self, key: str, who: Principal, action: Action = Action.READ) -> E:
        """The entity, when ``who`` may ``action`` it (hidden entities are not found)."""
        entity = await self.table.get(key)
        if entity is None:
            raise NotFound(f"no {self.noun} with key {key!r}")
        try:
            await self.require(who, action, entity.scene)
        except NotFound:
            raise NotFound(f"no {self.noun} with key {key!r}") from None
        return entity

    async def readable(self, found: Sequence[E], who: Principal) -> list[E]:
        """``found`` without the entities of scenes ``who`` may not read."""
        if who.sees_all:
            return list(found)
        ok: dict[str, bool] = {}
        for scene in {e.scene for e in found}:
            access = await self.directory.get(scene)
            ok[scene] = policy.allows(who, Action.READ, access.owner, access.public)
        return [e for e in found if ok[e.scene]]

    def _authorize_now(self, who: Principal, entity: E, scene: str | None) -> bool:
        """Check a streamed update synchronously; ``False`` when the scene is not cached."""
        if scene and scene != entity.scene:
            raise SceneMismatch(
                f"event names scene {scene!r} but {self.noun} {entity.key!r} is in scene "
                f"{entity.scene!r}; streamed updates never move it"
            )
        if who.sees_all:
            return True
        access = self.directory.peek(entity.scene)
        if access is None:
            return False
        policy.require(who, Action.WRITE, access.owner, access.public, f"scene {entity.scene!r}")
        return True

    # -- events ---------------------------------------------------------------------------

    def publish(
        self, msg_type: int, entity: E, actions: Sequence[Any] = (), *, all_actions: bool = False
    ) -> None:
        self.publish_at(msg_type, entity, actions, all_actions=all_actions, t_in=0)

    def publish_at(
        self,
        msg_type: int,
        entity: E,
        actions: Sequence[Any] = (),
        *,
        all_actions: bool = False,
        t_in: int,
    ) -> None:
        payload: dict[str, Any] = {"msg_type": int(msg_type), **entity.to_json(actions=False)}
        if actions:
            payload["actions"] = [a.to_json() for a in actions]
        elif all_actions:
            payload["actions"] = entity.to_json(actions=True).get("actions", [])
        self.bus.publish(
            Event(
                entity.scene,
                int(msg_type),
                entity.key,
                payload,
                t_in=t_in or time.perf_counter_ns(),
            )
        )

    # -- other nodes' changes (a cluster) -------------------------------------------------

    kinds: frozenset[int] = frozenset()  # the msg_types of this kind of entity
    deletes: int = -1  # the msg_type of a delete
    updates: int = -1  # the msg_type of an update (REST or streamed)

    def follow(self, event: Event) -> None:
        """Keep the cache current with a change another node accepted (a bus follower).

        A delete is served as deleted. An update without actions may have been streamed, so
        the store may not have it yet: its fields replace the cached value's (actions kept).
        Every other change was durable before it was published: the key is evicted, and the
        next read loads it. ``TOUCH`` (a change that publishes no event, like a lock) evicts.
        """
        if event.msg_type == TOUCH:
            self.table.evict(event.key)
            return
        if event.msg_type not in self.kinds:
            return
        if event.msg_type == self.deletes:
            self.table.forget(event.key)
            return
        cached = self.table.peek(event.key)
        if cached is None:
            self.table.evict(event.key)  # a dirty value may be older
            return
        payload = event.payload
        if event.msg_type != self.updates or payload.get("actions"):
            self.table.evict(event.key)
            return
        fields = {k: v for k, v in payload.items() if k not in ("msg_type", "actions")}
        try:
            value = type(cached).model_validate({**fields, "actions": cached.actions})  # type: ignore[attr-defined]
        except ValueError:
            self.table.evict(event.key)
            return
        self.table.replace(value)

    def touched(self, entity: E) -> None:
        """``entity`` changed durably without an event (a lock, its assets): tell the bus,
        so that other nodes' caches drop it."""
        self.bus.touch(entity.scene, entity.key)

    # -- streamed updates -----------------------------------------------------------------

    def apply_stream(self, entity: E, inp: In, msg_type: int, who: Principal, t_in: int) -> None:
        """Apply one authorized streamed update to ``entity`` and publish it."""
        raise NotImplementedError

    def _is_absent(self, key: str) -> bool:
        seen = self._absent.get(key)
        if seen is None:
            return False
        if time.monotonic() - seen < self.negative_ttl:
            return True
        del self._absent[key]
        return False

    def _remember_absent(self, key: str) -> None:
        self._absent[key] = time.monotonic()
        self._absent.move_to_end(key)
        while len(self._absent) > self.max_loading * 16:
            self._absent.popitem(last=False)

    def forget_absent(self, key: str) -> None:
        """A key was created: it is no longer absent."""
        self._absent.pop(key, None)

    def stream(self, inp: In, msg_type: int, who: Principal, t_in: int) -> None:
        """Apply a streamed update and publish it (see the module docstring).

        Raises ``AeselError`` when it can tell at once; errors found after a load are
        counted in ``drops``.
        """
        key = inp.key
        if not key:
            raise BadRequest("event has no key")
        waiting = self._waiting.get(key)
        if waiting is not None:  # keep arrival order behind a load in flight
            waiting.append((inp, msg_type, who, t_in))
            return
        entity = self.table.peek(key)
        if entity is not None and self._authorize_now(who, entity, inp.scene):
            self.apply_stream(entity, inp, msg_type, who, t_in)
            return
        if entity is None and (self.table.is_deleted(key) or self._is_absent(key)):
            raise NotFound(f"no {self.noun} with key {key!r}")
        if len(self._waiting) >= self.max_loading:
            raise Overloaded(f"{len(self._waiting)} {self.noun} loads waiting, dropping update")
        self._waiting[key] = [(inp, msg_type, who, t_in)]
        task = asyncio.get_running_loop().create_task(self._after_load(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_load(self, key: str) -> None:
        """Load the entity and its scene's access, then apply every update queued meanwhile."""
        try:
            async with self._loads:
                loaded: E | AeselError | None = await self.table.get(key)
                if loaded is not None and not isinstance(loaded, AeselError):
                    await self.directory.get(loaded.scene)
        except AeselError as e:  # the store is down: every waiting update is dropped for it
            loaded = e
        if loaded is None:
            self._remember_absent(key)
        for inp, msg_type, who, t_in in self._waiting.pop(key, []):
            try:
                if isinstance(loaded, AeselError):
                    raise loaded
                entity = self.table.peek(key) or loaded
                if entity is None:
                    raise NotFound(f"no {self.noun} with key {key!r}")
                if not self._authorize_now(who, entity, inp.scene):
                    policy.require(who, Action.WRITE, "", False, f"scene {entity.scene!r}")
                self.apply_stream(entity, inp, msg_type, who, t_in)
            except AeselError as e:
                self.drops[e.reason] += 1
                log.debug("dropped streamed %s update: %s", self.noun, e.message)

    async def close(self) -> None:
        """Wait for the loads in flight (their updates are applied or dropped)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
