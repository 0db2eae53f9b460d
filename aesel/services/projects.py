"""Projects and their scene groups (AeselProjects; docs/compat.md §1.8, 2.6).

"Nothing found" and "nothing modified" answer 416, as AeselProjects did. A private project is
visible to its owner only (and to admins, and to everyone with auth off).
"""

from __future__ import annotations

from aesel.errors import MissingData, NothingMatched
from aesel.model.catalog import Project, ProjectIn, SceneGroup, SceneGroupIn, new_id
from aesel.services.assets import can_admin, can_read, header_changes
from aesel.services.policy import Principal
from aesel.storage.catalog import CatalogStore, GroupFilter


def _group(g: SceneGroupIn) -> SceneGroup:
    if not g.name:
        raise MissingData("a scene group needs a name, got none")
    return SceneGroup(
        name=g.name,
        description=g.description or "",
        category=g.category or "",
        scenes=tuple(g.scenes or ()),
    )


class ProjectService:
    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    async def create(self, body: ProjectIn, viewer: Principal) -> Project:
        p = Project(
            id=new_id(),
            name=body.name or "",
            description=body.description or "",
            category=body.category or "",
            thumbnail=body.thumbnail or "",
            user=viewer.user or "",
            public=True if body.visibility is None else body.visibility,
            tags=tuple(body.tags or ()),
            scene_groups=tuple(_group(g) for g in body.sceneGroups or ()),
            asset_collection_ids=tuple(body.assetCollectionIds or ()),
        )
        await self.store.put_project(p)
        return p

    async def get(self, id: str, viewer: Principal) -> Project:
        p = await self.store.get_project(id)
        if p is None or not can_read(viewer, p.user, p.public):
            raise NothingMatched(f"no project {id!r}")
        return p

    async def _change(self, id: str, viewer: Principal, **change: object) -> Project:
        p = await self.get(id, viewer)
        if not can_admin(viewer, p.user):
            raise NothingMatched(f"no project {id!r} of yours")
        new = p.model_copy(update=change)
        if new == p:
            raise NothingMatched(f"project {id!r} unchanged")
        await self.store.put_project(new)
        return new

    async def update(self, id: str, body: ProjectIn, viewer: Principal) -> Project:
        return await self._change(id, viewer, **header_changes(body))

    async def delete(self, id: str, viewer: Principal) -> None:
        p = await self.store.get_project(id)
        if p is not None and not can_admin(viewer, p.user):
            raise NothingMatched(f"no project {id!r} of yours")
        await self.store.delete_project(id)

    async def query(self, f: GroupFilter, offset: int, limit: int) -> list[Project]:
        found = await self.store.query_projects(f, offset, limit)
        if not found:
            raise NothingMatched("no project matched")
        return found

    async def tag(self, id: str, tag: str, add: bool, viewer: Principal) -> Project:
        p = await self.get(id, viewer)
        tags = (*p.tags, tag) if add else tuple(t for t in p.tags if t != tag)
        return await self._change(id, viewer, tags=tags)

    async def collection(self, id: str, collection: str, add: bool, viewer: Principal) -> Project:
        p = await self.get(id, viewer)
        ids = p.asset_collection_ids
        ids = (*ids, collection) if add else tuple(c for c in ids if c != collection)
        return await self._change(id, viewer, asset_collection_ids=ids)

    async def add_group(self, id: str, body: SceneGroupIn, viewer: Principal) -> Project:
        p = await self.get(id, viewer)
        return await self._change(id, viewer, scene_groups=(*p.scene_groups, _group(body)))

    def _find(self, p: Project, name: str) -> int:
        for i, g in enumerate(p.scene_groups):
            if g.name == name:
                return i
        raise NothingMatched(f"project {p.id!r} has no scene group {name!r}")

    async def update_group(
        self, id: str, name: str, body: SceneGroupIn, viewer: Principal
    ) -> Project:
        p = await self.get(id, viewer)
        i = self._find(p, name)
        old = p.scene_groups[i]
        change = {
            k: v
            for k, v in (
                ("name", body.name),
                ("description", body.description),
                ("category", body.category),
            )
            if v
        }
        groups = list(p.scene_groups)
        groups[i] = old.model_copy(update=change)
        return await self._change(id, viewer, scene_groups=tuple(groups))

    async def delete_group(self, id: str, name: str, viewer: Principal) -> Project:
        p = await self.get(id, viewer)
        self._find(p, name)
        groups = tuple(g for g in p.scene_groups if g.name != name)
        return await self._change(id, viewer, scene_groups=groups)

    async def group_scene(
        self, id: str, name: str, scene: str, add: bool, viewer: Principal
    ) -> Project:
        p = await self.get(id, viewer)
        i = self._find(p, name)
        g = p.scene_groups[i]
        scenes = (*g.scenes, scene) if add else tuple(s for s in g.scenes if s != scene)
        groups = list(p.scene_groups)
        groups[i] = g.model_copy(update={"scenes": scenes})
        return await self._change(id, viewer, scene_groups=tuple(groups))
