from __future__ import annotations

from fastapi import APIRouter

from aesel.rest.responses import JSON

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness check, as CLyman and Crazy Ivan answered it")
async def health() -> JSON:
    return JSON({"status": "up"})
