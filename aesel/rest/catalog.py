"""Installs the catalog API (assets, collections, projects, users) and the auth gate."""

from __future__ import annotations

from fastapi import FastAPI

from aesel.rest import assets, collections, projects, users
from aesel.rest.auth import AuthGate
from aesel.services.catalog import Catalog


def install(app: FastAPI, catalog: Catalog) -> None:
    """Add the catalog routes to ``app``; with ``catalog.auth``, require tokens."""
    app.state.catalog = catalog
    app.description += (
        " Assets (streamed uploads and downloads), asset histories and relationships, asset"
        " collections, projects and scene groups, users and JWT login (`POST /login`)."
    )
    for module in (assets, collections, projects, users):
        app.include_router(module.router)
    app.add_middleware(AuthGate, users=catalog.users, enabled=catalog.auth)
