"""Assets, histories and relationships (Kelona; docs/compat.md §1.7).

Uploads are parsed as they arrive with python-multipart's push parser: the bytes of the part
named ``file`` go straight to the blob store, other parts are ignored, and nothing is held in
memory beyond one network chunk and one write batch. Downloads stream the blob back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from aesel.errors import BadRequest, MissingData, PayloadTooLarge
from aesel.model.catalog import BulkIn, RelationshipIn
from aesel.rest.deps import Cat, Who
from aesel.rest.responses import JSON
from aesel.services.assets import AssetParams, check_paging
from aesel.storage.catalog import RelationshipFilter

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(tags=["assets"])

#: slack for the multipart framing around the file, when judging Content-Length up front
FRAMING = 64 << 10

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


class _Parts:
    """Collects the ``file`` part's bytes from the parser's callbacks, for the caller to drain."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.in_file = False
        self.found = False
        self.done = False
        self.ended = False

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_field).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if options.get(b"name") == b"file" and not self.found:
            self.in_file = self.found = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.done = True

    def on_end(self) -> None:
        self.ended = True


async def file_chunks(request: Request, max_size: int) -> AsyncIterator[bytes]:
    """The bytes of the multipart part named ``file``, as they arrive."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise BadRequest(
            f"expected a multipart/form-data body with a boundary, got {ctype.decode('latin-1')!r}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_size + FRAMING:
        raise PayloadTooLarge(f"asset is larger than {max_size} bytes ({declared} sent)")
    parts = _Parts()
    try:
        parser = MultipartParser(options[b"boundary"], _callbacks(parts))
    except ValueError as e:
        raise BadRequest(f"bad multipart boundary: {e}") from None
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except MultipartParseError as e:
                raise BadRequest(f"broken multipart body: {str(e).lower()}") from None
            for piece in parts.pending:
                yield piece
            parts.pending.clear()
    except ClientDisconnect:
        raise BadRequest("the client went away before the upload ended") from None
    if not parts.found:
        raise MissingData("multipart body has no part named 'file'")
    if not parts.done or not parts.ended:
        raise BadRequest("multipart body ended before its closing boundary")


def _callbacks(parts: _Parts) -> MultipartCallbacks:
    return {
        "on_part_begin": parts.on_part_begin,
        "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value,
        "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished,
        "on_part_data": parts.on_part_data,
        "on_part_end": parts.on_part_end,
        "on_end": parts.on_end,
    }


def _params(
    content_type: str,
    file_type: str,
    asset_type: str,
    name: str,
    public: bool,
    related_id: str | None = None,
    related_type: str | None = None,
) -> AssetParams:
    return AssetParams(
        content_type=content_type or "text/plain",
        file_type=file_type or "txt",
        asset_type=asset_type or "standard",
        name=name,
        public=public,
        related_id=related_id or None,
        related_type=related_type or None,
    )


ContentType = Annotated[str, Query(alias="content-type", description="MIME type served back")]
FileType = Annotated[str, Query(alias="file-type", description="file extension, e.g. obj")]
AssetType = Annotated[str, Query(alias="asset-type", description="standard, thumbnail, ...")]
IsPublic = Annotated[bool, Query(alias="isPublic", description="visible to every user")]


@router.post(
    "/v1/asset",
    summary="Upload a new asset (multipart, part 'file'); answers its id as text/plain",
    response_class=PlainTextResponse,
    openapi_extra=UPLOAD_BODY,
)
async def create_asset(
    request: Request,
    cat: Cat,
    who: Who,
    content_type: ContentType = "text/plain",
    file_type: FileType = "txt",
    asset_type: AssetType = "standard",
    name: str = "",
    is_public: IsPublic = True,
    related_id: Annotated[str | None, Query(alias="related-id")] = None,
    related_type: Annotated[str | None, Query(alias="related-type")] = None,
) -> PlainTextResponse:
    p = _params(content_type, file_type, asset_type, name, is_public, related_id, related_type)
    chunks = file_chunks(request, cat.assets.max_size)
    return PlainTextResponse(await cat.assets.create(chunks, p, who))


@router.post(
    "/v1/asset/{key}",
    summary="Upload a new version of an asset: a new id, the history extended, "
    "relationships moved to it",
    response_class=PlainTextResponse,
    openapi_extra=UPLOAD_BODY,
)
async def update_asset(
    key: str,
    request: Request,
    cat: Cat,
    who: Who,
    content_type: ContentType = "text/plain",
    file_type: FileType = "txt",
    asset_type: AssetType = "standard",
    name: str = "",
    is_public: IsPublic = True,
) -> PlainTextResponse:
    p = _params(content_type, file_type, asset_type, name, is_public)
    chunks = file_chunks(request, cat.assets.max_size)
    return PlainTextResponse(await cat.assets.update(key, chunks, p, who))


@router.get("/v1/asset/count", summary="Count assets matching the metadata filters")
async def count_assets(
    cat: Cat,
    who: Who,
    content_type: ContentType = "",
    file_type: FileType = "",
    asset_type: AssetType = "",
    name: str = "",
    key: str = "",
) -> JSON:
    f = cat.assets.filter(
        who,
        key=key,
        content_type=content_type,
        file_type=file_type,
        asset_type=asset_type,
        name=name,
    )
    return JSON({"count": await cat.assets.count(f)})


@router.get(
    "/v1/asset",
    summary="Query asset metadata: a key, else the first of content-type, file-type, "
    "asset-type, name",
)
async def query_assets(
    cat: Cat,
    who: Who,
    content_type: ContentType = "",
    file_type: FileType = "",
    asset_type: AssetType = "",
    name: str = "",
    key: str = "",
    limit: Annotated[int, Query(ge=0)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSON:
    f = cat.assets.filter(
        who,
        key=key,
        content_type=content_type,
        file_type=file_type,
        asset_type=asset_type,
        name=name,
    )
    return JSON([a.to_json() for a in await cat.assets.query(f, offset, limit)])


async def _download(key: str, cat: Cat, who: Who) -> Response:
    opened = await cat.assets.open(key, who)
    if opened is None:
        return Response(status_code=204)
    meta, chunks = opened
    return StreamingResponse(
        chunks,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{meta.key}"',
            "Content-Length": str(meta.size),
        },
    )


@router.get(
    "/v1/asset/{key}",
    summary="Download an asset; 204 when unknown or not visible",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 204: {}},
)
async def get_asset(key: str, cat: Cat, who: Who) -> Response:
    return await _download(key, cat, who)


@router.get(
    "/v1/asset/{key}/{filename}",
    summary="Download an asset (the file name is ignored; it is there for browser loaders)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 204: {}},
)
async def get_asset_named(key: str, filename: str, cat: Cat, who: Who) -> Response:
    return await _download(key, cat, who)


@router.delete(
    "/v1/asset/{key}",
    summary="Delete an asset and its relationships (its history stays)",
    response_class=PlainTextResponse,
)
async def delete_asset(key: str, cat: Cat, who: Who) -> PlainTextResponse:
    await cat.assets.delete(key, who)
    return PlainTextResponse("Success")


@router.post("/v1/bulk/asset", summary="Asset metadata for a list of ids")
async def bulk_assets(body: BulkIn, cat: Cat, who: Who) -> JSON:
    return JSON([a.to_json() for a in await cat.assets.bulk(body.ids or [], who)])


@router.get(
    "/v1/history/{key}", summary="The history whose latest version is this asset; 416 if none"
)
async def asset_history(key: str, cat: Cat, who: Who) -> JSON:
    return JSON([h.to_json() for h in await cat.assets.history(key, who)])


# -- relationships ----------------------------------------------------------------------------


@router.put(
    "/v1/relationship",
    summary="Create a relationship, or overwrite those selected by type and asset or related",
)
async def save_relationship(
    body: RelationshipIn,
    cat: Cat,
    who: Who,
    type: str | None = None,
    asset: str | None = None,
    related: str | None = None,
) -> JSON:
    saved = await cat.assets.save_relationship(body, who, type=type, asset=asset, related=related)
    return JSON([r.to_json() for r in saved])


@router.delete("/v1/relationship", summary="Delete relationships; asset, related and type required")
async def delete_relationship(
    cat: Cat,
    who: Who,
    asset: str | None = None,
    related: str | None = None,
    type: str | None = None,
) -> JSON:
    gone = await cat.assets.delete_relationship(asset, related, type, who)
    return JSON([r.to_json() for r in gone])


@router.get(
    "/v1/relationship",
    summary="Query relationships by asset, related and type; all of them, paged, with none; "
    "416 if empty",
)
async def query_relationships(
    cat: Cat,
    who: Who,
    asset: str | None = None,
    related: str | None = None,
    type: str | None = None,
    num_records: int = 10,
    page: int = 0,
) -> JSON:
    f = RelationshipFilter(asset=asset or None, related=related or None, type=type or None)
    if f.asset is None and f.related is None and f.type is None:
        offset, limit = check_paging(num_records, page)
    else:
        offset, limit = 0, 1 << 30
    return JSON([r.to_json() for r in await cat.assets.query_relationships(f, offset, limit, who)])


@router.post("/v1/bulk/relationship", summary="Relationships of a list of assetIds or relatedIds")
async def bulk_relationships(body: BulkIn, cat: Cat, who: Who) -> JSON:
    found = await cat.assets.bulk_relationships(body.assetIds, body.relatedIds, who)
    return JSON([r.to_json() for r in found])
