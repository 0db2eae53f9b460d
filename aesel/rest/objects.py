"""Objects (docs/compat.md §1.5). Keys are global: a GET or DELETE by key works whatever scene the
URL names; the body's ``scene`` wins, the URL's is used when the body has none."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aesel.errors import MissingData
from aesel.model.codes import MsgType
from aesel.model.wire import ActionBody, ObjectFrameIn, ObjectIn, ObjectList
from aesel.rest import responses
from aesel.rest.deps import Svc, Who
from aesel.rest.responses import JSON

router = APIRouter(prefix="/v1/scene/{scene}/object", tags=["objects"])

Device = Annotated[
    str | None,
    Query(description="the device making the change; refused while another holds the lock"),
]


def _one(body: ObjectList) -> ObjectIn:
    if len(body.objects) != 1:
        raise MissingData(f"objects has {len(body.objects)} entries, expected 1")
    return body.objects[0]


@router.post("/query", summary="Query objects by exact match of name, type, subtype, ...")
async def query_objects(scene: str, body: ObjectList, svc: Svc, who: Who) -> JSON:
    limit = 10 if body.num_records is None else body.num_records
    found = await svc.objects.query(body.objects, scene, limit, who)
    return responses.objects(int(MsgType.OBJ_QUERY), found)


@router.post("", summary="Create one or more objects")
async def create_objects(scene: str, body: ObjectList, svc: Svc, who: Who) -> JSON:
    created = await svc.objects.create(body.objects, scene, who)
    return responses.objects(int(MsgType.OBJ_CRT), created)


@router.get("/{key}", summary="Get an object")
async def get_object(scene: str, key: str, svc: Svc, who: Who) -> JSON:
    return responses.objects(int(MsgType.OBJ_GET), [await svc.objects.get(key, who)])


@router.post("/{key}", summary="Update the given fields of an object")
async def update_object(
    scene: str, key: str, body: ObjectList, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.update(key, _one(body), scene, device, who)
    return responses.objects(int(MsgType.OBJ_UPD), [obj])


@router.delete("/{key}", summary="Delete an object")
async def delete_object(scene: str, key: str, svc: Svc, who: Who) -> JSON:
    return responses.objects(int(MsgType.OBJ_DEL), [await svc.objects.delete(key, who)])


@router.get("/{key}/lock", summary="Lock an object for a device; 423 when another holds it")
async def lock_object(scene: str, key: str, svc: Svc, who: Who, device: Device = None) -> JSON:
    if not device:
        raise MissingData("query parameter device is required")
    return responses.objects(int(MsgType.OBJ_LOCK), [await svc.objects.lock(key, device, who)])


@router.delete("/{key}/lock", summary="Unlock an object held by a device")
async def unlock_object(scene: str, key: str, svc: Svc, who: Who, device: Device = None) -> JSON:
    if not device:
        raise MissingData("query parameter device is required")
    return responses.objects(int(MsgType.OBJ_UNLOCK), [await svc.objects.unlock(key, device, who)])


@router.put("/{key}/asset/{asset}", summary="Add an asset to an object")
async def add_object_asset(scene: str, key: str, asset: str, svc: Svc, who: Who) -> JSON:
    return responses.objects(int(MsgType.ASSET_ADD), [await svc.objects.add_asset(key, asset, who)])


@router.delete("/{key}/asset/{asset}", summary="Remove an asset from an object")
async def remove_object_asset(scene: str, key: str, asset: str, svc: Svc, who: Who) -> JSON:
    return responses.objects(
        int(MsgType.ASSET_DEL), [await svc.objects.remove_asset(key, asset, who)]
    )


@router.post("/{key}/action", summary="Create (or replace) an action")
async def create_action(
    scene: str, key: str, body: ActionBody, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.create_action(key, body, device, who)
    return responses.objects(int(MsgType.OBJ_ACTION_CRT), [obj])


@router.post("/{key}/action/{name}", summary="Update an action's description and keyframes")
async def update_action(
    scene: str, key: str, name: str, body: ActionBody, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.update_action(key, name, body, device, who)
    return responses.objects(int(MsgType.OBJ_ACTION_UPD), [obj])


@router.delete("/{key}/action/{name}", summary="Delete an action")
async def delete_action(
    scene: str, key: str, name: str, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.delete_action(key, name, device, who)
    return responses.objects(int(MsgType.OBJ_ACTION_DEL), [obj])


@router.post("/{key}/action/{name}/keyframe", summary="Create a keyframe")
async def create_keyframe(
    scene: str, key: str, name: str, body: ObjectFrameIn, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.put_keyframe(key, name, body, create=True, device=device, who=who)
    return responses.objects(int(MsgType.OBJ_FRAME_CRT), [obj])


@router.post("/{key}/action/{name}/keyframe/{frame}", summary="Update a keyframe")
async def update_keyframe(
    scene: str,
    key: str,
    name: str,
    frame: int,
    body: ObjectFrameIn,
    svc: Svc,
    who: Who,
    device: Device = None,
) -> JSON:
    body = body.model_copy(update={"frame": frame})
    obj = await svc.objects.put_keyframe(key, name, body, create=False, device=device, who=who)
    return responses.objects(int(MsgType.OBJ_FRAME_UPD), [obj])


@router.delete("/{key}/action/{name}/keyframe/{frame}", summary="Delete a keyframe")
async def delete_keyframe(
    scene: str, key: str, name: str, frame: int, svc: Svc, who: Who, device: Device = None
) -> JSON:
    obj = await svc.objects.delete_keyframe(key, name, frame, device, who)
    return responses.objects(int(MsgType.OBJ_FRAME_DEL), [obj])
