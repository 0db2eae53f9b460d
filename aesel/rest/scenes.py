"""Scenes, registration and alignment (docs/compat.md §1.3, 1.4)."""

from __future__ import annotations

from fastapi import APIRouter

from aesel.model.codes import SceneMsg
from aesel.model.wire import SceneIn, SceneList
from aesel.rest import responses
from aesel.rest.deps import Svc, Who, require_admin
from aesel.rest.responses import JSON
from aesel.services.scenes import APPEND, REMOVE

router = APIRouter(prefix="/v1/scene", tags=["scenes"])


def _first(body: SceneList) -> SceneIn:
    return body.scenes[0] if body.scenes else SceneIn()


@router.post("/query", summary="Query scenes by name, region, tags and distance (metres)")
async def query_scenes(body: SceneList, svc: Svc, who: Who) -> JSON:
    start = body.start_record or 0
    limit = 10 if body.num_records is None else body.num_records
    found = await svc.scenes.query(_first(body), start, limit, who)
    return responses.scenes(int(SceneMsg.GET), found, start_record=start)


@router.put("/cache/{key}", summary="Accepted for compatibility: every scene streams already")
async def cache_add(key: str, who: Who) -> JSON:
    require_admin(who, "the scene cache routes")
    return responses.scenes(int(SceneMsg.CACHE_DEL), [{"key": key}])


@router.delete("/cache/{key}", summary="Accepted for compatibility: every scene streams already")
async def cache_delete(key: str, who: Who) -> JSON:
    require_admin(who, "the scene cache routes")
    return responses.scenes(int(SceneMsg.CACHE_DEL), [{"key": key}])


@router.post("", summary="Create a scene (a key is generated when absent)")
async def create_scene(body: SceneList, svc: Svc, who: Who) -> JSON:
    scene = await svc.scenes.create(_first(body), None, who)
    return responses.scenes(int(SceneMsg.CRT), [scene])


@router.put("/{key}", summary="Create a scene with this key")
async def put_scene(key: str, body: SceneList, svc: Svc, who: Who) -> JSON:
    scene = await svc.scenes.create(_first(body), key, who)
    return responses.scenes(int(SceneMsg.CRT), [scene])


@router.get("/{key}", summary="Get a scene")
async def get_scene(key: str, svc: Svc, who: Who) -> JSON:
    return responses.scenes(int(SceneMsg.GET), [await svc.scenes.get(key, who)])


@router.post("/{key}", summary="Update a scene; operation 10 appends, 11 removes assets and tags")
async def update_scene(key: str, body: SceneList, svc: Svc, who: Who) -> JSON:
    scene = await svc.scenes.update(key, _first(body), body.operation, who)
    return responses.scenes(int(SceneMsg.UPD), [scene])


@router.delete("/{key}", summary="Delete a scene with its registrations")
async def delete_scene(key: str, svc: Svc, who: Who) -> JSON:
    await svc.scenes.delete(key, who)
    return responses.scenes(int(SceneMsg.DEL), [{"key": key}])


@router.put("/{key}/asset/{asset}", summary="Add an asset to a scene")
async def add_scene_asset(key: str, asset: str, svc: Svc, who: Who) -> JSON:
    scene = await svc.scenes.edit_asset(key, asset, APPEND, who)
    return responses.scenes(int(SceneMsg.UPD), [scene])


@router.delete("/{key}/asset/{asset}", summary="Remove an asset from a scene")
async def remove_scene_asset(key: str, asset: str, svc: Svc, who: Who) -> JSON:
    scene = await svc.scenes.edit_asset(key, asset, REMOVE, who)
    return responses.scenes(int(SceneMsg.UPD), [scene])


@router.post("/{key}/register", summary="Register a device to a scene")
async def register(key: str, body: SceneList, svc: Svc, who: Who) -> JSON:
    r = await svc.scenes.register(key, body.scenes, who)
    device = {
        "key": r.device.key,
        "hostname": r.device.hostname,
        "port": r.device.port,
        "connection_string": r.device.connection_string,
        "transform": r.registration.transform.to_json(),
        "format": r.device.format,
    }
    if r.device.frame:
        device["frame"] = r.device.frame
    extra: dict[str, object] = dict(svc.scenes.response_extra)
    if r.device.encryption == "gcm":
        device["encryption"] = "gcm"
        extra["gcm_key"] = r.device.gcm_key
    return responses.scenes(
        int(SceneMsg.ENTER), [{"key": r.scene.key, "devices": [device]}, {"key": r.origin}], **extra
    )


@router.post("/{key}/deregister", summary="Deregister a device from this scene only")
async def deregister(key: str, body: SceneList, svc: Svc, who: Who) -> JSON:
    await svc.scenes.deregister(key, body.scenes, who)
    return responses.scenes(int(SceneMsg.LEAVE), [{"key": key}])


@router.post("/{key}/align", summary="Correct a device's transform relative to the scene")
async def align(key: str, body: SceneList, svc: Svc, who: Who) -> JSON:
    reg = await svc.scenes.align(key, body.scenes, who)
    device = {"key": reg.device, "transform": reg.transform.to_json()}
    return responses.scenes(int(SceneMsg.DEVICE_ALIGN), [{"key": key, "devices": [device]}])
