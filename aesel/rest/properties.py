"""Properties (docs/compat.md §1.6). Updates change only the fields given (fixing §2.2)."""

from __future__ import annotations

from fastapi import APIRouter

from aesel.errors import MissingData
from aesel.model.codes import MsgType
from aesel.model.wire import PropertyActionBody, PropertyFrameIn, PropertyIn, PropertyList
from aesel.rest import responses
from aesel.rest.deps import Svc, Who
from aesel.rest.responses import JSON

router = APIRouter(prefix="/v1/scene/{scene}/property", tags=["properties"])


def _one(body: PropertyList) -> PropertyIn:
    if len(body.properties) != 1:
        raise MissingData(f"properties has {len(body.properties)} entries, expected 1")
    return body.properties[0]


@router.post("/query", summary="Query properties by exact match of name, parent, ...")
async def query_properties(scene: str, body: PropertyList, svc: Svc, who: Who) -> JSON:
    limit = 10 if body.num_records is None else body.num_records
    found = await svc.properties.query(body.properties, scene, limit, who)
    return responses.properties(int(MsgType.PROP_QUERY), found)


@router.post("", summary="Create one or more properties")
async def create_properties(scene: str, body: PropertyList, svc: Svc, who: Who) -> JSON:
    created = await svc.properties.create(body.properties, scene, who)
    return responses.properties(int(MsgType.PROP_CRT), created)


@router.get("/{key}", summary="Get a property")
async def get_property(scene: str, key: str, svc: Svc, who: Who) -> JSON:
    return responses.properties(int(MsgType.PROP_GET), [await svc.properties.get(key, who)])


@router.post("/{key}", summary="Update the given fields of a property")
async def update_property(scene: str, key: str, body: PropertyList, svc: Svc, who: Who) -> JSON:
    prop = await svc.properties.update(key, _one(body), scene, who)
    return responses.properties(int(MsgType.PROP_UPD), [prop])


@router.delete("/{key}", summary="Delete a property")
async def delete_property(scene: str, key: str, svc: Svc, who: Who) -> JSON:
    return responses.properties(int(MsgType.PROP_DEL), [await svc.properties.delete(key, who)])


@router.post("/{key}/action", summary="Create (or replace) a property action")
async def create_action(scene: str, key: str, body: PropertyActionBody, svc: Svc, who: Who) -> JSON:
    prop = await svc.properties.create_action(key, body, who)
    return responses.properties(int(MsgType.PROP_ACTION_CRT), [prop])


@router.post("/{key}/action/{name}", summary="Update a property action")
async def update_action(
    scene: str, key: str, name: str, body: PropertyActionBody, svc: Svc, who: Who
) -> JSON:
    prop = await svc.properties.update_action(key, name, body, who)
    return responses.properties(int(MsgType.PROP_ACTION_UPD), [prop])


@router.delete("/{key}/action/{name}", summary="Delete a property action")
async def delete_action(scene: str, key: str, name: str, svc: Svc, who: Who) -> JSON:
    prop = await svc.properties.delete_action(key, name, who)
    return responses.properties(int(MsgType.PROP_ACTION_DEL), [prop])


@router.post("/{key}/action/{name}/keyframe", summary="Create a property keyframe")
async def create_keyframe(
    scene: str, key: str, name: str, body: PropertyFrameIn, svc: Svc, who: Who
) -> JSON:
    prop = await svc.properties.put_keyframe(key, name, body, create=True, who=who)
    return responses.properties(int(MsgType.PROP_FRAME_CRT), [prop])


@router.post("/{key}/action/{name}/keyframe/{frame}", summary="Update a property keyframe")
async def update_keyframe(
    scene: str, key: str, name: str, frame: int, body: PropertyFrameIn, svc: Svc, who: Who
) -> JSON:
    body = body.model_copy(update={"frame": frame})
    prop = await svc.properties.put_keyframe(key, name, body, create=False, who=who)
    return responses.properties(int(MsgType.PROP_FRAME_UPD), [prop])


@router.delete("/{key}/action/{name}/keyframe/{frame}", summary="Delete a property keyframe")
async def delete_keyframe(scene: str, key: str, name: str, frame: int, svc: Svc, who: Who) -> JSON:
    prop = await svc.properties.delete_keyframe(key, name, frame, who)
    return responses.properties(int(MsgType.PROP_FRAME_DEL), [prop])
