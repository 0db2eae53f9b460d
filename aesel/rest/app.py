"""The FastAPI application: routers, error handlers and the body limit."""

from __future__ import annotations

from fastapi import FastAPI

from aesel import __version__
from aesel.rest import errors, health, metrics, objects, properties, recordings, scenes
from aesel.rest.limits import BodyLimit
from aesel.services.bundle import Services


def create_app(services: Services, *, max_body: int) -> FastAPI:
    app = FastAPI(
        title="aesel",
        version=__version__,
        description="The Aesel HTTP API: scenes, registrations, objects and properties.",
    )
    app.state.services = services
    errors.install(app)
    for module in (health, metrics, scenes, objects, properties, recordings):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=max_body, exempt=("/v1/asset",))
    return app
