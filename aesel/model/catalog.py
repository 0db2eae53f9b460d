"""The catalog: assets, relationships, histories, collections, projects and users.

Stored entities are frozen models with a ``to_json`` giving the Kelona/AeselProjects/Adrestia
output shape (docs/compat.md §2.5 to §2.7). Inbound shapes (``*In``) are what those Spring services
accepted: every field optional and ``null`` allowed, unknown keys ignored (Jackson's default in
Spring Boot, and PyAesel sends extra keys such as ``key``), types strict. Both ``isPublic`` and
``public`` are accepted, and both are output, as Lombok made Jackson do.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from aesel.model.entities import Entity

_PROCESS = secrets.token_hex(5)
_COUNTER = itertools.count(secrets.randbelow(1 << 24))


def new_id() -> str:
    """A 24-hex-digit id built like a Mongo ObjectId: creation second, a random per-process
    value, a counter. Ids made by one process sort by creation, as Kelona's ``_id`` did."""
    return f"{int(time.time()):08x}{_PROCESS}{next(_COUNTER) & 0xFFFFFF:06x}"


def timestamp() -> str:
    """Kelona's ``created-dttm`` format, ``yyyy.MM.dd.HH.mm.ss``, in UTC."""
    return time.strftime("%Y.%m.%d.%H.%M.%S", time.gmtime())


# -- stored entities ----------------------------------------------------------------------


class AssetMeta(Entity):
    """An asset's metadata; its bytes live in the blob store under the same ``key``."""

    key: str
    name: str = ""
    description: str = ""
    content_type: str = "text/plain"
    file_type: str = "txt"
    asset_type: str = "standard"
    created: str = ""
    user: str = ""
    public: bool = True
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "contentType": self.content_type,
            "fileType": self.file_type,
            "assetType": self.asset_type,
            "createdTimestamp": self.created,
            "user": self.user,
            "isPublic": self.public,
            "public": self.public,
        }


class AssetRelationship(Entity):
    id: str
    asset_id: str
    asset_sub_id: str = ""
    type: str = ""
    subtype: str = ""
    related_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "assetId": self.asset_id,
            "assetSubId": self.asset_sub_id,
            "relationshipType": self.type,
            "relationshipSubtype": self.subtype,
            "relatedId": self.related_id,
        }


class AssetHistory(Entity):
    """The versions of an asset: ``asset`` is the latest id, ``asset_ids`` newest first."""

    id: str
    asset: str
    asset_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "asset": self.asset, "assetIds": list(self.asset_ids)}


class Group(Entity):
    """What asset collections and projects share: a named, tagged item owned by a user."""

    id: str
    name: str = ""
    description: str = ""
    category: str = ""
    thumbnail: str = ""
    user: str = ""
    public: bool = True
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "thumbnail": self.thumbnail,
            "user": self.user,
            "isPublic": self.public,
            "public": self.public,
            "tags": list(self.tags),
        }


class AssetCollection(Group):
    """A collection of assets (Kelona)."""


class SceneGroup(Entity):
    """Scenes grouped in a project; ``name`` identifies the group within its project."""

    name: str
    description: str = ""
    category: str = ""
    scenes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "scenes": list(self.scenes),
        }


class Project(Group):
    scene_groups: tuple[SceneGroup, ...] = ()
    asset_collection_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "sceneGroups": [g.to_json() for g in self.scene_groups],
            "assetCollectionIds": list(self.asset_collection_ids),
        }


class User(Entity):
    """An account. ``password_hash`` never leaves the server: ``to_json`` sends ``""``."""

    id: str
    username: str
    password_hash: str
    email: str = ""
    admin: bool = False
    active: bool = True
    favorite_projects: tuple[str, ...] = ()
    favorite_scenes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "password": "",
            "email": self.email,
            "isAdmin": self.admin,
            "isActive": self.active,
            "favoriteProjects": list(self.favorite_projects),
            "favoriteScenes": list(self.favorite_scenes),
        }


# -- inbound shapes -----------------------------------------------------------------------


class SpringModel(BaseModel):
    """A request body as a Spring service read it: unknown keys ignored, types strict."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class PublicFlag(SpringModel):
    isPublic: bool | None = None
    public: bool | None = None

    @property
    def visibility(self) -> bool | None:
        """``isPublic`` when given, else ``public``; ``None`` when neither is."""
        return self.isPublic if self.isPublic is not None else self.public


class CollectionIn(PublicFlag):
    name: str | None = None
    description: str | None = None
    category: str | None = None
    thumbnail: str | None = None
    tags: list[str] | None = None


class SceneGroupIn(SpringModel):
    name: str | None = None
    description: str | None = None
    category: str | None = None
    scenes: list[str] | None = None


class ProjectIn(CollectionIn):
    sceneGroups: list[SceneGroupIn] | None = None
    assetCollectionIds: list[str] | None = None


class RelationshipIn(SpringModel):
    assetId: str | None = None
    assetSubId: str | None = None
    relationshipType: str | None = None
    relationshipSubtype: str | None = None
    relatedId: str | None = None


class BulkIn(SpringModel):
    """Kelona's BulkRequest: ``ids`` for assets and collections, the others for relationships."""

    ids: list[str] | None = None
    assetIds: list[str] | None = None
    relatedIds: list[str] | None = None


class UserIn(SpringModel):
    username: str | None = None
    password: str | None = None
    email: str | None = None
    isAdmin: bool | None = None
    isActive: bool | None = None
    favoriteProjects: list[str] | None = None
    favoriteScenes: list[str] | None = None


class LoginIn(SpringModel):
    username: str
    password: str
