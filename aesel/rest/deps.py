"""Request-scoped dependencies: the node's services and who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aesel.services.bundle import Services
from aesel.services.catalog import Catalog
from aesel.services.viewer import OPEN, Viewer


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_viewer(request: Request) -> Viewer:
    viewer: Viewer = getattr(request.state, "viewer", OPEN)
    return viewer


Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Viewer, Depends(get_viewer)]


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


Cat = Annotated[Catalog, Depends(get_catalog)]
