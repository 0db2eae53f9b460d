"""Projects and scene groups (AeselProjects; docs/compat.md §1.8). Nothing found or nothing changed
answers 416."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from aesel.model.catalog import ProjectIn, SceneGroupIn
from aesel.rest.collections import Tags
from aesel.rest.deps import Cat, Who
from aesel.rest.responses import JSON
from aesel.services.assets import check_paging, group_filter

router = APIRouter(prefix="/v1/project", tags=["projects"])


@router.post("", summary="Create a project; answers it with its id")
async def create_project(body: ProjectIn, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.create(body, who)).to_json())


@router.get(
    "", summary="Query projects: name | category + tag | category | tag | none; 416 if empty"
)
async def query_projects(
    cat: Cat,
    who: Who,
    name: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    tags: Tags = None,
    num_records: int = 10,
    page: int = 0,
) -> JSON:
    offset, limit = check_paging(num_records, page)
    f = group_filter(who, name=name, category=category, tag=tag or (tags[0] if tags else None))
    return JSON([p.to_json() for p in await cat.projects.query(f, offset, limit)])


@router.get("/{id}", summary="Get a project; 416 if unknown")
async def get_project(id: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.get(id, who)).to_json())


@router.post(
    "/{id}",
    summary="Set the non-empty name, description, category, thumbnail; 416 if nothing changed",
    response_class=PlainTextResponse,
)
async def update_project(id: str, body: ProjectIn, cat: Cat, who: Who) -> PlainTextResponse:
    await cat.projects.update(id, body, who)
    return PlainTextResponse("")


@router.delete(
    "/{id}", summary="Delete a project; answers its id", response_class=PlainTextResponse
)
async def delete_project(id: str, cat: Cat, who: Who) -> PlainTextResponse:
    await cat.projects.delete(id, who)
    return PlainTextResponse(id)


@router.put("/{id}/tags/{tag}", summary="Add a tag")
async def add_project_tag(id: str, tag: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.tag(id, tag, True, who)).to_json())


@router.delete("/{id}/tags/{tag}", summary="Remove a tag")
async def remove_project_tag(id: str, tag: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.tag(id, tag, False, who)).to_json())


@router.put("/{id}/collections/{collection}", summary="Add an asset collection id")
async def add_project_collection(id: str, collection: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.collection(id, collection, True, who)).to_json())


@router.delete("/{id}/collections/{collection}", summary="Remove an asset collection id")
async def remove_project_collection(id: str, collection: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.collection(id, collection, False, who)).to_json())


@router.post("/{id}/groups", summary="Add a scene group")
async def add_scene_group(id: str, body: SceneGroupIn, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.add_group(id, body, who)).to_json())


@router.post("/{id}/groups/{group}", summary="Set a scene group's non-empty fields")
async def update_scene_group(id: str, group: str, body: SceneGroupIn, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.update_group(id, group, body, who)).to_json())


@router.delete("/{id}/groups/{group}", summary="Remove a scene group")
async def delete_scene_group(id: str, group: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.delete_group(id, group, who)).to_json())


@router.put("/{id}/groups/{group}/scenes/{scene}", summary="Add a scene to a scene group")
async def add_group_scene(id: str, group: str, scene: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.group_scene(id, group, scene, True, who)).to_json())


@router.delete("/{id}/groups/{group}/scenes/{scene}", summary="Remove a scene from a scene group")
async def remove_group_scene(id: str, group: str, scene: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.projects.group_scene(id, group, scene, False, who)).to_json())
