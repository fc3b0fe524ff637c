"""Wire models of the multipart upload endpoints (reference B.6; these objects use `upload_id`, not `_id`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas.common import PageInfo, WireModel
from framedex.ids import rfc3339
from framedex.services.uploads import ChunkUrl, UploadStatus, wire_status
from framedex.storage.tables import MultipartUploadRow


class CreateUploadRequest(WireModel):
    # Optional here so that a missing field gets the service's `parameter_not_provided` message.
    filename: str | None = None
    type: str | None = None
    total_size: int | None = None
    enable_hls: bool | None = None
    enable_thumbnail: bool | None = None
    user_metadata: dict[str, Any] | None = None


class PresignedUrlsRequest(WireModel):
    start: int | None = None
    count: int | None = None


class ReportChunksRequest(WireModel):
    # Validated entry by entry in the service, for precise messages.
    completed_chunks: Any = None


class PresignedUrlChunk(WireModel):
    chunk_index: int
    url: str
    expires_at: str

    @classmethod
    def of(cls, chunk: ChunkUrl) -> PresignedUrlChunk:
        return cls(chunk_index=chunk.chunk_index, url=chunk.url, expires_at=rfc3339(chunk.expires_at) or "")


class CreateUploadResponse(WireModel):
    upload_id: str
    asset_id: str
    upload_urls: list[PresignedUrlChunk]
    upload_headers: dict[str, str] = Field(default_factory=dict)
    chunk_size: int
    total_chunks: int
    expires_at: str


class PresignedUrlsResponse(WireModel):
    upload_id: str
    start_index: int
    count: int
    upload_urls: list[PresignedUrlChunk]
    generated_at: str
    expires_at: str


class ReportChunksResponse(WireModel):
    url: str
    asset_id: str
    processed_chunks: int
    duplicate_chunks: int
    total_completed: int


class IncompleteUploadSummary(WireModel):
    upload_id: str
    status: str
    total_size: int
    chunk_size: int
    total_chunks: int
    created_at: str
    expires_at: str

    @classmethod
    def of(cls, row: MultipartUploadRow) -> IncompleteUploadSummary:
        return cls(
            upload_id=row.id, status=wire_status(row), total_size=row.total_size, chunk_size=row.chunk_size,
            total_chunks=row.total_chunks, created_at=rfc3339(row.created_at) or "",
            expires_at=rfc3339(row.expires_at) or "",
        )


class ListIncompleteUploadsResponse(WireModel):
    data: list[IncompleteUploadSummary]
    page_info: PageInfo


class ChunkInfo(WireModel):
    index: int
    status: str
    uploaded_at: str | None = None
    updated_at: str | None = None


class UploadStatusResponse(WireModel):
    upload_id: str
    asset_id: str
    status: str
    uploaded_chunks: list[ChunkInfo]
    chunks_completed: int
    chunks_failed: int
    chunks_pending: int
    page_info: PageInfo
    total_size: int
    uploaded_size: int
    created_at: str
    updated_at: str
    expires_at: str

    @classmethod
    def of(cls, st: UploadStatus) -> UploadStatusResponse:
        row = st.upload
        return cls(
            upload_id=row.id, asset_id=row.asset_id, status=st.status,
            uploaded_chunks=[
                ChunkInfo(index=c.index, status=c.status, uploaded_at=rfc3339(c.uploaded_at),
                          updated_at=rfc3339(c.uploaded_at))
                for c in st.chunks.items
            ],
            chunks_completed=st.chunks_completed, chunks_failed=0, chunks_pending=st.chunks_pending,
            page_info=PageInfo(**st.chunks.page_info), total_size=row.total_size,
            uploaded_size=st.uploaded_size, created_at=rfc3339(row.created_at) or "",
            updated_at=rfc3339(row.updated_at) or "", expires_at=rfc3339(row.expires_at) or "",
        )
