"""The FastAPI application: routers, error handlers, the body limit and trailing slashes."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from aesel import __version__
from aesel.rest import errors, health, metrics, objects, properties, recordings, scenes, static
from aesel.rest.cluster import router as cluster_router
from aesel.rest.limits import BodyLimit
from aesel.services.bundle import Services


def _routed(scope: Scope, routes: list[BaseRoute]) -> bool:
    """Whether some route takes ``scope``'s path (for any method: a wrong one answers 405)."""
    return any(route.matches(scope)[0] is not Match.NONE for route in routes)


class TrailingSlash:
    """Answers ``/v1/scene/query/`` as ``/v1/scene/query``: directly, never with a redirect.

    Aesel's gateway answered both forms. Starlette answers the first with a 307, which a client
    that does not follow redirects on a POST never gets past. One trailing slash is dropped
    before routing when the path as written is no route and the path without it is one, so
    ``/`` and the paths under a mount (``/docs/``-style directories) stay as they are.
    Installed outside every other middleware, so the auth gate and the body limit see the path
    that is routed.
    """

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the router's own list: routes added later are seen too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] in ("http", "websocket")
            and len(path) > 1
            and path.endswith("/")
            and not _routed(scope, self.routes)
        ):
            stripped = {**scope, "path": path[:-1]}
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.endswith(b"/"):
                stripped["raw_path"] = raw[:-1]
            if _routed(stripped, self.routes):
                scope = stripped
        await self.app(scope, receive, send)


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        return TrailingSlash(super().build_middleware_stack(), self.router.routes)


def create_app(services: Services, *, max_body: int) -> FastAPI:
    app = _App(
        title="aesel",
        version=__version__,
        description="The Aesel HTTP API: scenes, registrations, objects and properties.",
        redirect_slashes=False,
        docs_url=None,  # static.install serves /docs from packaged Swagger UI assets
    )
    app.state.services = services
    errors.install(app)
    for module in (health, metrics, scenes, objects, properties, recordings):
        app.include_router(module.router)
    app.include_router(cluster_router)
    static.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body, exempt=("/v1/asset",))
    return app
