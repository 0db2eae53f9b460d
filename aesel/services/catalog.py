"""The catalog services of one node, as handed to the REST adapter."""

from __future__ import annotations

from dataclasses import dataclass

from aesel.services.assets import AssetService, CollectionService
from aesel.services.projects import ProjectService
from aesel.services.users import UserService


@dataclass
class Catalog:
    """Assets, collections, projects and users; ``auth`` says whether tokens are required."""

    assets: AssetService
    collections: CollectionService
    projects: ProjectService
    users: UserService
    auth: bool = False
