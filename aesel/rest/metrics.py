"""``GET /metrics``: Prometheus text format."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from starlette.responses import Response

from aesel.metrics import CONTENT_TYPE, render
from aesel.rest.responses import error

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    token = getattr(request.app.state, "metrics_token", None)  # None: open (see aesel.app)
    if token is not None:
        given = request.headers.get("authorization", "").encode()
        if not token or not hmac.compare_digest(given, f"Bearer {token}".encode()):
            refused = error(401, 101, "expected Authorization: Bearer and the --metrics-token")
            refused.headers["WWW-Authenticate"] = "Bearer"
            return refused
    registry = getattr(request.app.state, "metrics", None)
    if registry is None:
        return Response(b"", media_type=CONTENT_TYPE)
    return Response(render(registry), media_type=CONTENT_TYPE)
