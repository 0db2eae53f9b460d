"""Request-scoped dependencies: the node's services and who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aesel.errors import Forbidden
from aesel.services.bundle import Services
from aesel.services.catalog import Catalog
from aesel.services.policy import OPEN, Principal


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_viewer(request: Request) -> Principal:
    """Who is asking: set by the auth gate with ``--auth``, :data:`OPEN` without."""
    viewer: Principal = getattr(request.state, "viewer", OPEN)
    return viewer


def require_admin(who: Principal, what: str) -> None:
    if not who.sees_all:
        raise Forbidden(f"{what} are for admins only")


Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(get_viewer)]


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


Cat = Annotated[Catalog, Depends(get_catalog)]
