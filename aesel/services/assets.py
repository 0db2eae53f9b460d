"""Assets, relationships, histories and asset collections (Kelona; docs/compat.md §1.7, 2.5).

Uploads arrive as an async stream of bytes (the REST adapter parses the multipart body) and go
straight to the blob store: memory stays flat whatever the size. Metadata is written only after
the blob is durable, so a failed upload leaves neither bytes nor metadata.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aesel.errors import BadRequest, MissingData, NotFound, NothingMatched, PayloadTooLarge
from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    CollectionIn,
    ProjectIn,
    RelationshipIn,
    new_id,
    timestamp,
)
from aesel.services import policy
from aesel.services.policy import Action, Kind, Principal
from aesel.storage.catalog import (
    AssetFilter,
    BlobStore,
    CatalogStore,
    GroupFilter,
    RelationshipFilter,
    Visibility,
)


def visibility(viewer: Principal) -> Visibility:
    return Visibility(principal=viewer.user, see_all=viewer.sees_all)


@dataclass(frozen=True, slots=True)
class AssetParams:
    """The query parameters of an upload (Kelona's defaults)."""

    content_type: str = "text/plain"
    file_type: str = "txt"
    asset_type: str = "standard"
    name: str = ""
    public: bool = True
    related_id: str | None = None
    related_type: str | None = None


class AssetService:
    """Asset bytes and metadata, relationships and histories."""

    def __init__(self, store: CatalogStore, blobs: BlobStore, *, max_size: int) -> None:
        self.store = store
        self.blobs = blobs
        self.max_size = max_size

    async def _store_blob(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        upload = self.blobs.begin()
        key = new_id()
        try:
            async for chunk in chunks:
                if upload.size + len(chunk) > self.max_size:
                    raise PayloadTooLarge(f"asset is larger than {self.max_size} bytes")
                await upload.write(chunk)
            await upload.commit(key)
        except BaseException:
            await upload.abort()
            raise
        return key, upload.size

    def _meta(self, key: str, size: int, p: AssetParams, viewer: Principal) -> AssetMeta:
        return AssetMeta(
            key=key,
            name=p.name,
            content_type=p.content_type,
            file_type=p.file_type,
            asset_type=p.asset_type,
            created=timestamp(),
            user=viewer.user or "",
            public=p.public,
            size=size,
        )

    async def create(self, chunks: AsyncIterator[bytes], p: AssetParams, viewer: Principal) -> str:
        """Store a new asset; with ``related_id`` and ``related_type``, relate it too."""
        if (p.related_id is None) != (p.related_type is None):
            raise MissingData("related-id and related-type go together: got only one of them")
        key, size = await self._store_blob(chunks)
        rel = None
        if p.related_id is not None and p.related_type is not None:
            rel = AssetRelationship(
                id=new_id(), asset_id=key, related_id=p.related_id, type=p.related_type
            )
        try:
            await self.store.put_asset(self._meta(key, size, p, viewer), rel)
        except BaseException:
            await self.blobs.delete(key)
            raise
        return key

    async def update(
        self, old: str, chunks: AsyncIterator[bytes], p: AssetParams, viewer: Principal
    ) -> str:
        """Store a new version of ``old`` under a new key (Kelona's update semantics).

        As in Kelona, ``old`` need not exist; but another user's asset is not theirs to
        version when auth is on."""
        previous = await self.store.get_asset(old)
        if previous is not None and not can_admin(viewer, previous.user):
            raise NotFound(f"no asset {old!r} of yours")
        key, size = await self._store_blob(chunks)
        try:
            await self.store.add_version(old, self._meta(key, size, p, viewer))
        except BaseException:
            await self.blobs.delete(key)
            raise
        return key

    async def open(
        self, key: str, viewer: Principal
    ) -> tuple[AssetMeta, AsyncIterator[bytes]] | None:
        """The metadata and a byte stream, or ``None`` when unknown or not visible (a 204)."""
        meta = await self.store.get_asset(key)
        if meta is None or not can_read(viewer, meta.user, meta.public):
            return None
        if await self.blobs.size(key) is None:
            return None
        return meta, self.blobs.read(key)

    async def delete(self, key: str, viewer: Principal) -> None:
        meta = await self.store.get_asset(key)
        if meta is not None and not can_admin(viewer, meta.user):
            raise NotFound(f"no asset {key!r} of yours")
        await self.store.delete_asset(key)
        await self.blobs.delete(key)

    def filter(
        self,
        viewer: Principal,
        *,
        key: str | None = None,
        content_type: str | None = None,
        file_type: str | None = None,
        asset_type: str | None = None,
        name: str | None = None,
    ) -> AssetFilter:
        """Kelona's rule: a key overrides everything; otherwise only the first non-empty of
        content-type, file-type, asset-type and name applies."""
        vis = visibility(viewer)
        if key:
            return AssetFilter(key=key, visibility=vis)
        for field, value in (
            ("content_type", content_type),
            ("file_type", file_type),
            ("asset_type", asset_type),
            ("name", name),
        ):
            if value:
                return AssetFilter(**{field: value}, visibility=vis)
        return AssetFilter(visibility=vis)

    async def query(self, f: AssetFilter, offset: int, limit: int) -> list[AssetMeta]:
        return await self.store.query_assets(f, offset, limit)

    async def count(self, f: AssetFilter) -> int:
        return await self.store.count_assets(f)

    async def bulk(self, ids: Sequence[str], viewer: Principal) -> list[AssetMeta]:
        """Metadata of the visible assets among ``ids`` (Kelona ignored the principal here;
        aesel keeps private assets private)."""
        found = await self.store.assets_by_ids(ids)
        return [a for a in found if can_read(viewer, a.user, a.public)]

    async def history(self, key: str, viewer: Principal) -> list[AssetHistory]:
        found = await self.store.histories(key) if await self._may(key, viewer, Action.READ) else []
        if not found:
            raise NothingMatched(f"no history with latest asset {key!r}")
        return found

    # -- relationships --------------------------------------------------------------------

    async def _may(self, asset: str, viewer: Principal, action: Action) -> bool:
        """Relationships and histories take their rights from their asset (an asset that
        does not exist protects nothing)."""
        if viewer.sees_all:
            return True
        meta = await self.store.get_asset(asset)
        if meta is None:
            return True
        return policy.allows(viewer, action, meta.user, meta.public, Kind.CATALOG)

    async def _readable(
        self, found: Sequence[AssetRelationship], viewer: Principal
    ) -> list[AssetRelationship]:
        ok = {a: await self._may(a, viewer, Action.READ) for a in {r.asset_id for r in found}}
        return [r for r in found if ok[r.asset_id]]

    async def _require_admin(self, assets: set[str], viewer: Principal) -> None:
        for a in sorted(assets):
            if not await self._may(a, viewer, Action.ADMIN):
                raise NotFound(f"no asset {a!r} of yours")

    async def save_relationship(
        self,
        body: RelationshipIn,
        viewer: Principal,
        *,
        type: str | None,
        asset: str | None,
        related: str | None,
    ) -> list[AssetRelationship]:
        """With ``type`` and ``asset`` or ``related``, overwrite the matching relationships
        with the body's fields; otherwise create one from the body. Either needs the right
        to change every asset involved."""
        if type is not None and (asset is not None or related is not None):
            found = await self.store.query_relationships(
                RelationshipFilter(asset=asset, related=related, type=type), 0, 1 << 30
            )
            changed = [_apply(r, body) for r in found]
            await self._require_admin(
                {r.asset_id for r in found} | {r.asset_id for r in changed}, viewer
            )
            await self.store.put_relationships(changed)
            if changed:
                return changed
        if not body.assetId or not body.relatedId:
            raise MissingData(
                f"a relationship needs assetId and relatedId: got assetId={body.assetId!r}, "
                f"relatedId={body.relatedId!r}"
            )
        rel = _apply(AssetRelationship(id=new_id(), asset_id=body.assetId), body)
        await self._require_admin({rel.asset_id}, viewer)
        await self.store.put_relationships([rel])
        return [rel]

    async def delete_relationship(
        self, asset: str | None, related: str | None, type: str | None, viewer: Principal
    ) -> list[AssetRelationship]:
        if not asset or not related or not type:
            raise MissingData(
                f"asset, related and type are all required: got asset={asset!r}, "
                f"related={related!r}, type={type!r}"
            )
        await self._require_admin({asset}, viewer)
        return await self.store.delete_relationships(
            RelationshipFilter(asset=asset, related=related, type=type)
        )

    async def query_relationships(
        self, f: RelationshipFilter, offset: int, limit: int, viewer: Principal
    ) -> list[AssetRelationship]:
        found = await self._readable(await self.store.query_relationships(f, offset, limit), viewer)
        if not found:
            raise NothingMatched("no relationship matched")
        return found

    async def bulk_relationships(
        self,
        asset_ids: Sequence[str] | None,
        related_ids: Sequence[str] | None,
        viewer: Principal,
    ) -> list[AssetRelationship]:
        if asset_ids is None and related_ids is None:
            raise MissingData("expected assetIds or relatedIds, got neither")
        f = RelationshipFilter(
            asset_ids=tuple(asset_ids) if asset_ids is not None else None,
            related_ids=tuple(related_ids) if related_ids is not None else None,
        )
        return await self._readable(await self.store.query_relationships(f, 0, 1 << 30), viewer)


def can_admin(viewer: Principal, owner: str) -> bool:
    """Whether ``viewer`` may change or delete a catalog item owned by ``owner``."""
    return policy.allows(viewer, Action.ADMIN, owner, True, Kind.CATALOG)


def can_read(viewer: Principal, owner: str, public: bool) -> bool:
    return policy.allows(viewer, Action.READ, owner, public, Kind.CATALOG)


def _apply(r: AssetRelationship, body: RelationshipIn) -> AssetRelationship:
    fields = {
        "asset_id": body.assetId,
        "asset_sub_id": body.assetSubId,
        "type": body.relationshipType,
        "subtype": body.relationshipSubtype,
        "related_id": body.relatedId,
    }
    return r.model_copy(update={k: v for k, v in fields.items() if v is not None})


# -- collections ------------------------------------------------------------------------------


def group_filter(
    viewer: Principal, *, name: str | None, category: str | None, tag: str | None
) -> GroupFilter:
    """AeselProjects/Kelona query rule: ``name`` | ``category`` + ``tag`` | ``category`` |
    ``tag`` | none, in that order of priority."""
    vis = visibility(viewer)
    if name:
        return GroupFilter(name=name, visibility=vis)
    return GroupFilter(category=category or None, tag=tag or None, visibility=vis)


def header_changes(body: CollectionIn | ProjectIn) -> dict[str, object]:
    """The header fields an update sets: the non-empty ones given, and visibility if given
    (Kelona and AeselProjects ``$set`` only non-empty fields)."""
    change: dict[str, object] = {
        k: v
        for k, v in (
            ("name", body.name),
            ("description", body.description),
            ("category", body.category),
            ("thumbnail", body.thumbnail),
        )
        if v
    }
    if body.visibility is not None:
        change["public"] = body.visibility
    return change


def check_paging(num_records: int, page: int) -> tuple[int, int]:
    """``(offset, limit)`` from ``num_records`` and ``page``."""
    if num_records < 0 or page < 0:
        raise BadRequest(
            f"num_records and page must be 0 or more, got num_records={num_records}, page={page}"
        )
    return page * num_records, num_records


class CollectionService:
    """Asset collections: named, tagged groups of assets owned by a user."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    async def create(self, body: CollectionIn, viewer: Principal) -> AssetCollection:
        c = AssetCollection(
            id=new_id(),
            name=body.name or "",
            description=body.description or "",
            category=body.category or "",
            thumbnail=body.thumbnail or "",
            user=viewer.user or "",
            public=True if body.visibility is None else body.visibility,
            tags=tuple(body.tags or ()),
        )
        await self.store.put_collection(c)
        return c

    async def get(self, id: str, viewer: Principal) -> AssetCollection:
        c = await self.store.get_collection(id)
        if c is None or not can_read(viewer, c.user, c.public):
            raise NothingMatched(f"no collection {id!r}")
        return c

    async def _owned(self, id: str, viewer: Principal) -> AssetCollection:
        c = await self.get(id, viewer)
        if not can_admin(viewer, c.user):
            raise NothingMatched(f"no collection {id!r} of yours")
        return c

    async def update(self, id: str, body: CollectionIn, viewer: Principal) -> None:
        """Set the non-empty fields given; 416 when nothing changed (as Kelona)."""
        c = await self._owned(id, viewer)
        new = c.model_copy(update=header_changes(body))
        if new == c:
            raise NothingMatched(f"collection {id!r} unchanged")
        await self.store.put_collection(new)

    async def delete(self, id: str, viewer: Principal) -> None:
        c = await self.store.get_collection(id)
        if c is not None and not can_admin(viewer, c.user):
            raise NothingMatched(f"no collection {id!r} of yours")
        await self.store.delete_collection(id)

    async def query(self, f: GroupFilter, offset: int, limit: int) -> list[AssetCollection]:
        found = await self.store.query_collections(f, offset, limit)
        if not found:
            raise NothingMatched("no collection matched")
        return found

    async def bulk(self, ids: Sequence[str], viewer: Principal) -> list[AssetCollection]:
        found = await self.store.collections_by_ids(ids)
        return [c for c in found if can_read(viewer, c.user, c.public)]

    async def tag(self, id: str, tag: str, add: bool, viewer: Principal) -> AssetCollection:
        c = await self._owned(id, viewer)
        tags = (*c.tags, tag) if add else tuple(t for t in c.tags if t != tag)
        if tags == c.tags:
            raise NothingMatched(f"collection {id!r} unchanged")
        new = c.model_copy(update={"tags": tags})
        await self.store.put_collection(new)
        return new
