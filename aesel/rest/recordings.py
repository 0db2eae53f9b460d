"""Recordings of a scene's event stream, and replays into a scene (``docs/realtime.md`` §8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from aesel.rest.deps import Who
from aesel.rest.responses import JSON
from aesel.services.recordings import MAX_SPEED, MIN_SPEED, Recordings
from aesel.storage.base import RecordingInfo

router = APIRouter(prefix="/v1/scene", tags=["recordings"])


def get_recordings(request: Request) -> Recordings:
    recordings: Recordings = request.app.state.recordings
    return recordings


Rec = Annotated[Recordings, Depends(get_recordings)]


def _info(info: RecordingInfo, events: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": info.id,
        "scene": info.scene,
        "started": info.started,
        "size": info.size,
        "recording": info.active,
    }
    if events is not None:
        doc["events"] = events
    return doc


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recording: str
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED)
    loop: bool = False


@router.post("/{key}/recordings", summary="Start recording the scene's events")
async def start_recording(key: str, rec: Rec, who: Who) -> JSON:
    return JSON(_info(await rec.recorder.start(key, who), 0))


@router.get("/{key}/recordings", summary="List the scene's recordings")
async def list_recordings(key: str, rec: Rec, who: Who) -> JSON:
    found = await rec.recorder.listing(key, who)
    return JSON({"recordings": [_info(i, rec.recorder.events(i.id)) for i in found]})


@router.post("/{key}/recordings/{id}/stop", summary="Stop a recording")
async def stop_recording(key: str, id: str, rec: Rec, who: Who) -> JSON:
    return JSON(_info(await rec.recorder.stop(key, id, who)))


@router.get(
    "/{key}/recordings/{id}",
    summary="Download a recording (the record file)",
    response_class=Response,
)
async def download_recording(key: str, id: str, rec: Rec, who: Who) -> Response:
    data = await rec.recorder.download(key, id, who)
    return Response(data, media_type="application/octet-stream")


@router.delete("/{key}/recordings/{id}", summary="Delete a recording (stopping it if running)")
async def delete_recording(key: str, id: str, rec: Rec, who: Who) -> JSON:
    await rec.recorder.delete(key, id, who)
    return JSON({"id": id, "deleted": True})


@router.post("/{key}/replays", summary="Replay a recording into this scene")
async def start_replay(key: str, body: ReplayIn, rec: Rec, who: Who) -> JSON:
    r = await rec.replays.start(key, body.recording, body.speed, body.loop, who)
    return JSON(r.to_json())


@router.get("/{key}/replays", summary="List the replays into this scene")
async def list_replays(key: str, rec: Rec, who: Who) -> JSON:
    return JSON({"replays": [r.to_json() for r in await rec.replays.listing(key, who)]})


@router.post("/{key}/replays/{id}/pause", summary="Pause a replay")
async def pause_replay(key: str, id: str, rec: Rec, who: Who) -> JSON:
    return JSON((await rec.replays.pause(key, id, who)).to_json())


@router.post("/{key}/replays/{id}/resume", summary="Resume a paused replay")
async def resume_replay(key: str, id: str, rec: Rec, who: Who) -> JSON:
    return JSON((await rec.replays.resume(key, id, who)).to_json())


@router.delete("/{key}/replays/{id}", summary="Stop a replay")
async def stop_replay(key: str, id: str, rec: Rec, who: Who) -> JSON:
    return JSON((await rec.replays.stop(key, id, who)).to_json())
