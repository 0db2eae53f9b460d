"""``GET /metrics``: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aesel.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    registry = getattr(request.app.state, "metrics", None)
    if registry is None:
        return Response(b"", media_type=CONTENT_TYPE)
    return Response(render(registry), media_type=CONTENT_TYPE)
