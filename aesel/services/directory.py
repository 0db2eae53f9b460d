"""``SceneDirectory``: each scene's owner and visibility, cached, for the rights of its content.

Everything inside a scene takes its rights from the scene, so every object and property
operation asks the directory for its scene's access. Streamed updates must decide without
awaiting, so the directory answers from memory (``peek``) and loads on a miss (``get``). The
scene service keeps it current on create, update and delete (in a cluster, every node's
directory follows the scene changes it consumes). Scenes that do not exist are remembered too
(:data:`MISSING`): their content, if any, is for admins only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from aesel.model.entities import Scene
from aesel.storage.base import SceneStore


@dataclass(frozen=True, slots=True)
class SceneAccess:
    owner: str
    public: bool
    exists: bool = True

    @classmethod
    def of(cls, scene: Scene) -> SceneAccess:
        return cls(scene.user, scene.public)


MISSING = SceneAccess("", public=False, exists=False)


class SceneDirectory:
    def __init__(self, store: SceneStore, *, max_cached: int = 100_000) -> None:
        self.store = store
        self.max_cached = max_cached
        self._cache: OrderedDict[str, SceneAccess] = OrderedDict()

    def peek(self, key: str) -> SceneAccess | None:
        """The cached access (``None``: not cached; :data:`MISSING`: no such scene)."""
        return self._cache.get(key)

    async def get(self, key: str) -> SceneAccess:
        access = self._cache.get(key)
        if access is None:
            scene = await self.store.get_scene(key)
            access = self._cache.get(key)  # a change while the load was in flight wins
            if access is None:
                access = SceneAccess.of(scene) if scene is not None else MISSING
                self.put(key, access)
        return access

    def put(self, key: str, access: SceneAccess) -> None:
        self._cache[key] = access
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)

    def changed(self, scene: Scene) -> None:
        self.put(scene.key, SceneAccess.of(scene))

    def clear(self) -> None:
        """Forget every scene (after missing other nodes' changes): reloaded on next use."""
        self._cache.clear()

    def removed(self, key: str) -> None:
        self.put(key, MISSING)
