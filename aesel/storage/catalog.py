"""Catalog store contracts: asset metadata and blobs, relationships, histories, collections,
projects and users (docs/compat.md §1.7 to 1.9).

The embedded backend (:class:`aesel.storage.embedded.catalog.SqliteCatalog` with
:class:`aesel.storage.embedded.catalog.FileBlobs`) implements them now; MongoDB (GridFS for the
blobs) will for scale-out. Semantics every implementation keeps, as in :mod:`aesel.storage.base`:

- **Durability.** When an ``async`` write returns, it survives a crash of the process. A write
  that raises did not happen.
- **Atomicity.** Each method is one transaction: ``add_version`` writes the new metadata, moves
  the relationships and extends the history together, or not at all; ``delete_asset`` removes
  the metadata and the asset's relationships together.
- **Ordering.** Results are ordered by id (ids sort by creation time); paging is by
  ``offset``/``limit`` and returns exactly ``limit`` records when enough match.
- **Uniqueness.** ``create_user`` refuses a username or email already taken, atomically, by
  raising :class:`aesel.errors.Conflict`.
- **Errors.** Driver errors are translated to :class:`aesel.errors.BackendUnavailable`.

Filters are plain values; a field left ``None`` does not filter. Visibility (public items, or
items owned by ``principal``, or everything with ``see_all``) is part of the filter, so a
backend can push it into its query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    Project,
    User,
)
from aesel.storage.base import visible


@dataclass(frozen=True, slots=True)
class Visibility:
    """Who asks: public items, the ``principal``'s own, or everything with ``see_all``."""

    principal: str | None = None
    see_all: bool = True

    def allows(self, owner: str, public: bool) -> bool:
        return visible(owner, public, self.principal, self.see_all)


EVERYONE = Visibility()


@dataclass(frozen=True, slots=True)
class AssetFilter:
    """Exact-match AND over the given metadata fields."""

    key: str | None = None
    content_type: str | None = None
    file_type: str | None = None
    asset_type: str | None = None
    name: str | None = None
    visibility: Visibility = EVERYONE

    def matches(self, a: AssetMeta) -> bool:
        for field in ("key", "content_type", "file_type", "asset_type", "name"):
            want = getattr(self, field)
            if want is not None and getattr(a, field) != want:
                return False
        return self.visibility.allows(a.user, a.public)


@dataclass(frozen=True, slots=True)
class RelationshipFilter:
    """Exact-match AND; ``asset_ids``/``related_ids`` match any of the ids listed."""

    asset: str | None = None
    related: str | None = None
    type: str | None = None
    asset_ids: tuple[str, ...] | None = None
    related_ids: tuple[str, ...] | None = None

    def matches(self, r: AssetRelationship) -> bool:
        return (
            (self.asset is None or r.asset_id == self.asset)
            and (self.related is None or r.related_id == self.related)
            and (self.type is None or r.type == self.type)
            and (self.asset_ids is None or r.asset_id in self.asset_ids)
            and (self.related_ids is None or r.related_id in self.related_ids)
        )


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """Collections and projects: exact ``name``, ``category``; ``tag`` contained in ``tags``."""

    name: str | None = None
    category: str | None = None
    tag: str | None = None
    visibility: Visibility = EVERYONE

    def matches(self, c: AssetCollection | Project) -> bool:
        return (
            (self.name is None or c.name == self.name)
            and (self.category is None or c.category == self.category)
            and (self.tag is None or self.tag in c.tags)
            and self.visibility.allows(c.user, c.public)
        )


class BlobUpload(Protocol):
    """One upload in progress. Nothing is visible until :meth:`commit`; :meth:`abort` (or a
    failed commit) leaves nothing behind."""

    size: int

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, key: str) -> None:
        """Make the bytes durable under ``key``."""

    async def abort(self) -> None: ...


class BlobStore(Protocol):
    """Asset bytes by key. Reads and writes stream: memory use does not grow with size."""

    def begin(self) -> BlobUpload: ...

    async def size(self, key: str) -> int | None:
        """The blob's size, or ``None`` when there is no blob under ``key``."""

    def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks of at most ``chunk_size``; ``key`` names a blob that
        :meth:`size` found (a missing one may raise or yield nothing)."""

    async def delete(self, key: str) -> None:
        """Remove the blob; no error when there is none."""


class AssetStore(Protocol):
    async def put_asset(self, meta: AssetMeta, relationship: AssetRelationship | None) -> None:
        """Insert the metadata of a new asset, with an optional relationship, atomically."""

    async def add_version(self, old_key: str, meta: AssetMeta) -> AssetHistory:
        """Insert ``meta`` as the next version of ``old_key``: its relationships move to the
        new key and the history gains the new key at its head (created when absent)."""

    async def get_asset(self, key: str) -> AssetMeta | None: ...

    async def delete_asset(self, key: str) -> bool:
        """Delete the metadata and the asset's relationships; histories stay."""

    async def query_assets(self, f: AssetFilter, offset: int, limit: int) -> list[AssetMeta]: ...

    async def count_assets(self, f: AssetFilter) -> int: ...

    async def assets_by_ids(self, ids: Sequence[str]) -> list[AssetMeta]: ...

    async def histories(self, asset: str) -> list[AssetHistory]:
        """The histories whose latest version is ``asset``."""

    async def put_history(self, h: AssetHistory) -> None:
        """Upsert by id (copying a deployment; versions are made by :meth:`add_version`)."""

    async def put_relationships(self, rels: Sequence[AssetRelationship]) -> None:
        """Upsert by id, atomically."""

    async def query_relationships(
        self, f: RelationshipFilter, offset: int, limit: int
    ) -> list[AssetRelationship]: ...

    async def delete_relationships(self, f: RelationshipFilter) -> list[AssetRelationship]:
        """Delete every match; returns what was deleted."""


class CollectionStore(Protocol):
    async def put_collection(self, c: AssetCollection) -> None: ...

    async def get_collection(self, id: str) -> AssetCollection | None: ...

    async def delete_collection(self, id: str) -> bool: ...

    async def query_collections(
        self, f: GroupFilter, offset: int, limit: int
    ) -> list[AssetCollection]: ...

    async def collections_by_ids(self, ids: Sequence[str]) -> list[AssetCollection]: ...


class ProjectStore(Protocol):
    async def put_project(self, p: Project) -> None: ...

    async def get_project(self, id: str) -> Project | None: ...

    async def delete_project(self, id: str) -> bool: ...

    async def query_projects(self, f: GroupFilter, offset: int, limit: int) -> list[Project]: ...


class UserStore(Protocol):
    async def create_user(self, u: User) -> None:
        """Insert; :class:`aesel.errors.Conflict` when the username or email is taken."""

    async def put_user(self, u: User) -> None:
        """Replace by id; :class:`aesel.errors.Conflict` on a taken username or email."""

    async def get_user(self, id: str) -> User | None: ...

    async def user_by_name(self, username: str) -> User | None: ...

    async def query_users(
        self, username: str | None, email: str | None, offset: int, limit: int
    ) -> list[User]: ...

    async def delete_user(self, id: str) -> bool: ...

    async def count_users(self) -> int: ...


class CatalogStore(AssetStore, CollectionStore, ProjectStore, UserStore, Protocol):
    """Everything the catalog services need from a backend, besides blobs."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...
