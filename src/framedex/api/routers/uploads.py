"""Multipart uploads (`/assets/multipart-uploads`) and framedex's own signed chunk-PUT endpoint.

The SDK PUTs chunks straight to the URLs we hand out, with no API key, and needs an `ETag` back;
`PUT /uploads/{upload_id}/chunks/{chunk_index}?expires=…&sig=…` is that endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO, cast

import anyio.from_thread
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.schemas.common import PageInfo
from framedex.api.schemas.uploads import (
    CreateUploadRequest,
    CreateUploadResponse,
    IncompleteUploadSummary,
    ListIncompleteUploadsResponse,
    PresignedUrlChunk,
    PresignedUrlsRequest,
    PresignedUrlsResponse,
    ReportChunksRequest,
    ReportChunksResponse,
    UploadStatusResponse,
)
from framedex.domain_errors import InvalidParameter, PayloadTooLarge
from framedex.ids import rfc3339, utcnow
from framedex.services import streaming, uploads
from framedex.services.platform import Platform

router = APIRouter(tags=["multipart uploads"])


def public_base_url(platform: Platform, request: Request) -> str:
    """Where clients reach this server: `settings.public_url`, else the URL this request came in on."""
    return (platform.settings.public_url or str(request.base_url)).rstrip("/")


@router.post("/assets/multipart-uploads", status_code=201, response_model=CreateUploadResponse)
def create_upload(body: CreateUploadRequest, request: Request, platform: PlatformDep,
                  tenant: TenantDep) -> CreateUploadResponse:
    json_limits.check_user_metadata(body.user_metadata)
    upload = uploads.create_upload(platform, tenant, filename=body.filename, file_type=body.type,
                                   total_size=body.total_size, user_metadata=body.user_metadata)
    # Default false for multipart uploads (reference); queued once the completed asset is probed.
    streaming.request_for_asset(platform, tenant, upload.asset_id, hls=bool(body.enable_hls),
                                thumbnail=bool(body.enable_thumbnail))
    urls = uploads.chunk_urls(platform, upload, public_base_url(platform, request), 1,
                              uploads.MAX_URLS_PER_CALL)
    return CreateUploadResponse(
        upload_id=upload.id, asset_id=upload.asset_id, upload_urls=[PresignedUrlChunk.of(u) for u in urls],
        chunk_size=upload.chunk_size, total_chunks=upload.total_chunks,
        expires_at=rfc3339(upload.expires_at) or "",
    )


@router.get("/assets/multipart-uploads", response_model=ListIncompleteUploadsResponse)
def list_incomplete_uploads(platform: PlatformDep, tenant: TenantDep,
                            page: PageDep) -> ListIncompleteUploadsResponse:
    result = uploads.list_incomplete(platform, tenant, page)
    return ListIncompleteUploadsResponse(
        data=[IncompleteUploadSummary.of(r) for r in result.items], page_info=PageInfo(**result.page_info)
    )


@router.get("/assets/multipart-uploads/{upload_id}", response_model=UploadStatusResponse)
def get_upload_status(upload_id: str, platform: PlatformDep, tenant: TenantDep,
                      page: PageDep) -> UploadStatusResponse:
    return UploadStatusResponse.of(uploads.get_status(platform, tenant, upload_id, page))


@router.post("/assets/multipart-uploads/{upload_id}", response_model=ReportChunksResponse)
def report_chunk_batch(upload_id: str, body: ReportChunksRequest, request: Request, platform: PlatformDep,
                       tenant: TenantDep) -> ReportChunksResponse:
    result = uploads.report_chunks(platform, tenant, upload_id, body.completed_chunks,
                                   base_url=public_base_url(platform, request))
    return ReportChunksResponse(
        url=result.url, asset_id=result.asset_id, processed_chunks=result.processed_chunks,
        duplicate_chunks=result.duplicate_chunks, total_completed=result.total_completed,
    )


@router.post("/assets/multipart-uploads/{upload_id}/presigned-urls", response_model=PresignedUrlsResponse)
def get_additional_presigned_urls(upload_id: str, body: PresignedUrlsRequest, request: Request,
                                  platform: PlatformDep, tenant: TenantDep) -> PresignedUrlsResponse:
    upload, urls = uploads.presigned_urls(platform, tenant, upload_id, start=body.start, count=body.count,
                                          base_url=public_base_url(platform, request))
    now = utcnow()
    return PresignedUrlsResponse(
        upload_id=upload.id, start_index=urls[0].chunk_index if urls else body.start or 1, count=len(urls),
        upload_urls=[PresignedUrlChunk.of(u) for u in urls], generated_at=rfc3339(now) or "",
        expires_at=rfc3339(urls[0].expires_at if urls else now) or "",
    )


class _BodyReader:
    """A blocking `read()` over the request's async body stream, for use from a worker thread, so
    that chunk bytes flow to the blob store without being held in memory."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            data = anyio.from_thread.run(self._next)
            if data is None:
                self._done = True
            else:
                self._buffer += data
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


@router.put("/uploads/{upload_id}/chunks/{chunk_index}", include_in_schema=False)
async def put_chunk(upload_id: str, chunk_index: int, request: Request, platform: PlatformDep,
                    expires: str | None = None, sig: str | None = None) -> Response:
    expected = await run_in_threadpool(uploads.authorize_chunk, platform, upload_id, chunk_index,
                                       expires, sig)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > expected:
        raise PayloadTooLarge(
            f"Chunk {chunk_index} is larger than its expected size of {expected} bytes.",
            code="chunk_too_large",
        )
    reader = _BodyReader(request.stream())
    try:
        etag = await run_in_threadpool(uploads.store_chunk, platform, upload_id, chunk_index,
                                       cast(BinaryIO, reader), expected)
    except ClientDisconnect as exc:
        raise InvalidParameter("chunk", "The client disconnected before the chunk was complete.",
                               code="chunk_incomplete") from exc
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})
