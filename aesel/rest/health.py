"""``GET /health``: ``{"status": "up"}`` as CLyman and Crazy Ivan answered it, or a 503 with
the reason when the store cannot serve (closed, or its last call failed)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from aesel.rest.responses import JSON

router = APIRouter(tags=["health"])

HealthCheck = Callable[[], str | None]
"""Why the node cannot serve, or ``None``; set as ``app.state.health`` by the node."""


@router.get("/health", summary="Liveness check: 200 up, or 503 down with the reason")
async def health(request: Request) -> JSON:
    check: HealthCheck | None = getattr(request.app.state, "health", None)
    problem = check() if check is not None else None
    if problem is not None:
        return JSON({"status": "down", "reason": problem}, status_code=503)
    return JSON({"status": "up"})
