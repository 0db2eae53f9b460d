"""Asset collections (Kelona; docs/compat.md §1.7). Nothing found or nothing changed answers 416."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse

from aesel.model.catalog import BulkIn, CollectionIn
from aesel.rest.deps import Cat, Who
from aesel.rest.responses import JSON
from aesel.services.assets import check_paging, group_filter

router = APIRouter(tags=["collections"])

Tags = Annotated[list[str] | None, Query(description="PyAesel's name for tag; the first is used")]


@router.post("/v1/collection", summary="Create an asset collection; answers it with its id")
async def create_collection(body: CollectionIn, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.collections.create(body, who)).to_json())


@router.get(
    "/v1/collection",
    summary="Query collections: name | category + tag | category | tag | none; 416 if empty",
)
async def query_collections(
    cat: Cat,
    who: Who,
    name: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    tags: Tags = None,
    num_records: int = 10,
    page: int = 0,
) -> JSON:
    offset, limit = check_paging(num_records, page)
    f = group_filter(who, name=name, category=category, tag=tag or (tags[0] if tags else None))
    return JSON([c.to_json() for c in await cat.collections.query(f, offset, limit)])


@router.post("/v1/bulk/collection", summary="Collections for a list of ids")
async def bulk_collections(body: BulkIn, cat: Cat, who: Who) -> JSON:
    return JSON([c.to_json() for c in await cat.collections.bulk(body.ids or [], who)])


@router.get("/v1/collection/{id}", summary="Get a collection; 416 if unknown")
async def get_collection(id: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.collections.get(id, who)).to_json())


@router.post(
    "/v1/collection/{id}",
    summary="Set the non-empty name, description, category, thumbnail; 416 if nothing changed",
    response_class=PlainTextResponse,
)
async def update_collection(id: str, body: CollectionIn, cat: Cat, who: Who) -> PlainTextResponse:
    await cat.collections.update(id, body, who)
    return PlainTextResponse("")


@router.delete(
    "/v1/collection/{id}",
    summary="Delete a collection; answers its id",
    response_class=PlainTextResponse,
)
async def delete_collection(id: str, cat: Cat, who: Who) -> PlainTextResponse:
    await cat.collections.delete(id, who)
    return PlainTextResponse(id)


@router.put("/v1/collection/{id}/tags/{tag}", summary="Add a tag to a collection")
async def add_collection_tag(id: str, tag: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.collections.tag(id, tag, True, who)).to_json())


@router.delete("/v1/collection/{id}/tags/{tag}", summary="Remove a tag from a collection")
async def remove_collection_tag(id: str, tag: str, cat: Cat, who: Who) -> JSON:
    return JSON((await cat.collections.tag(id, tag, False, who)).to_json())
